"""Organization-scoped reads for accounts. Every tenant-owned read goes through a function here."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from closeloop.accounts.models import (
    ApiToken,
    FailedSignIn,
    Invitation,
    MemberGroup,
    Membership,
    Organization,
    User,
    hash_secret,
)

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
    return (
        Membership.objects.select_related("user")
        .filter(organization=organization)
        .order_by("created_at", "id")
    )


def membership_of(organization: Organization, user: User) -> Membership | None:
    return Membership.objects.filter(organization=organization, user=user).first()


def membership(organization: Organization, membership_id: int) -> Membership:
    return Membership.objects.select_related("user").get(
        organization=organization, pk=membership_id
    )


def user_exists(email: str) -> bool:
    return User.objects.filter(email=email.strip().lower()).exists()


def memberships_of_user(user: User):
    return (
        Membership.objects.select_related("organization")
        .filter(user=user)
        .order_by("organization__name")
    )


def membership_by_user_id(organization: Organization, public_id: str) -> Membership | None:
    """A member by User.public_id; None for unknown ids and for other organizations' users."""
    return (
        Membership.objects.select_related("user")
        .filter(organization=organization, user__public_id=public_id)
        .first()
    )


def members_after(organization: Organization, after_membership_id: int, limit: int):
    """A page of memberships in a stable order, for keyset pagination (skipToken)."""
    return list(
        Membership.objects.select_related("user")
        .filter(organization=organization, id__gt=after_membership_id)
        .order_by("id")[:limit]
    )


def tokens_of(organization: Organization, user: User):
    return (
        ApiToken.objects.select_related("organization")
        .filter(organization=organization, user=user)
        .order_by("-created_at")
    )


def token_of(organization: Organization, user: User, token_id: int) -> ApiToken:
    return tokens_of(organization, user).get(pk=token_id)


def organization_by_brand_id(brand_id: str) -> Organization | None:
    return Organization.objects.filter(brand_id=brand_id).first()


def active_token(secret: str) -> ApiToken | None:
    """The token with this secret, if it may be used: not revoked, its user active and still a
    member, and not older than the organization's maximum token age."""
    if not secret:
        return None
    token = (
        ApiToken.objects.select_related("user", "organization")
        .filter(token_hash=hash_secret(secret), revoked_at__isnull=True, user__is_active=True)
        # a token stops working when its user leaves the organization
        .filter(user__memberships__organization_id=F("organization_id"))
        .first()
    )
    if token is None or token.is_expired:
        return None
    return token


# Member groups --------------------------------------------------------------------------------


def groups_of(organization: Organization):
    """The organization's groups by name, each with its members."""
    return (
        MemberGroup.objects.filter(organization=organization)
        .prefetch_related("members")
        .order_by("name", "id")
    )


def group_of(organization: Organization, group_id: int) -> MemberGroup | None:
    return groups_of(organization).filter(pk=group_id).first()


def open_invitations(organization: Organization):
    return (
        Invitation.objects.select_related("invited_by")
        .filter(
            organization=organization,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .order_by("-created_at")
    )


def open_invitation(organization: Organization, invitation_id: int) -> Invitation:
    return open_invitations(organization).get(pk=invitation_id)


def invitation_by_secret(secret: str) -> Invitation | None:
    return (
        Invitation.objects.select_related("organization", "invited_by")
        .filter(token_hash=hash_secret(secret))
        .first()
    )


# Sign-in throttling -------------------------------------------------------------------------

SIGN_IN_WINDOW = timedelta(minutes=15)


def sign_in_blocked(email: str, client: str, now=None) -> bool:
    """Too many wrong passwords lately, for this account or from this client."""
    since = (now or timezone.now()) - SIGN_IN_WINDOW
    recent = FailedSignIn.objects.filter(created_at__gte=since)
    per_account = settings.CLOSELOOP_SIGN_IN_FAILURES_PER_ACCOUNT
    per_client = settings.CLOSELOOP_SIGN_IN_FAILURES_PER_CLIENT
    return (
        recent.filter(email=email.strip().lower())[:per_account].count() >= per_account
        or recent.filter(client=client)[:per_client].count() >= per_client
    )
