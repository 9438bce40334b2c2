"""Organization-scoped reads for accounts. Every tenant-owned read goes through a function here."""

from __future__ import annotations

from django.core.cache import cache

from closeloop.accounts.models import ApiToken, Invitation, Membership, Organization, User, hash_secret

_SETUP_DONE_KEY = "closeloop:setup-done"


def needs_setup() -> bool:
    """True on a fresh install; cached once false, since setup never un-happens."""
    if cache.get(_SETUP_DONE_KEY):
        return False
    done = Organization.objects.exists()
    if done:
        cache.set(_SETUP_DONE_KEY, True, None)
    return not done


def current_membership(user: User, organization_id: int | None) -> Membership | None:
    memberships = Membership.objects.select_related("organization").filter(user=user)
    if organization_id is not None:
        chosen = memberships.filter(organization_id=organization_id).first()
        if chosen is not None:
            return chosen
    return memberships.order_by("created_at", "id").first()


def memberships_of(organization: Organization):
    return Membership.objects.select_related("user").filter(organization=organization).order_by("created_at")


def membership(organization: Organization, membership_id: int) -> Membership:
    return Membership.objects.select_related("user").get(organization=organization, pk=membership_id)


def tokens_of(organization: Organization, user: User):
    return ApiToken.objects.filter(organization=organization, user=user).order_by("-created_at")


def active_token(secret: str) -> ApiToken | None:
    if not secret:
        return None
    return (
        ApiToken.objects.select_related("user", "organization")
        .filter(token_hash=hash_secret(secret), revoked_at__isnull=True, user__is_active=True)
        .first()
    )


def open_invitations(organization: Organization):
    return Invitation.objects.filter(organization=organization, accepted_at__isnull=True, revoked_at__isnull=True)


def invitation_by_secret(secret: str) -> Invitation | None:
    return Invitation.objects.select_related("organization").filter(token_hash=hash_secret(secret)).first()
