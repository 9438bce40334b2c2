"""Every write to organizations, users, memberships, invitations and API tokens."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from closeloop.accounts import audit, retention
from closeloop.accounts.models import (
    ApiToken,
    FailedSignIn,
    Invitation,
    Membership,
    Organization,
    Role,
    User,
    hash_secret,
)
from closeloop.ids import new_token

INVITATION_LIFETIME = timedelta(days=7)
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
BRAND_ID_MAX_LENGTH = 50
_SETUP_LOCK_ID = 4_242_001


class AccountsError(Exception):
    """A request that cannot be carried out; the message is written for the person asking."""


class SetupAlreadyDone(AccountsError):
    pass


class NotAllowed(AccountsError):
    pass


class InvitationNotUsable(AccountsError):
    pass


class LastOwner(AccountsError):
    pass


def normalize_email(email: str) -> str:
    return email.strip().lower()


# Setup -----------------------------------------------------------------------------------


def _lock_setup() -> None:
    """Serialize concurrent first-run setups (SQLite already serializes writes)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SETUP_LOCK_ID])


def unique_brand_id(name: str) -> str:
    base = slugify(name)[:BRAND_ID_MAX_LENGTH].strip("-") or "organization"
    candidate, suffix = base, 2
    while Organization.objects.filter(brand_id=candidate).exists():
        tail = f"-{suffix}"
        candidate = base[: BRAND_ID_MAX_LENGTH - len(tail)] + tail
        suffix += 1
    return candidate


def create_organization(name: str, owner: User) -> Organization:
    organization = Organization.objects.create(name=name.strip(), brand_id=unique_brand_id(name))
    Membership.objects.create(organization=organization, user=owner, role=Role.OWNER)
    return organization


def _new_user(email: str, password: str, first_name: str, last_name: str) -> User:
    """Raises django.core.exceptions.ValidationError when the password is too weak."""
    email = normalize_email(email)
    if User.objects.filter(email=email).exists():
        raise AccountsError(f"An account for {email} already exists.")
    user = User(email=email, first_name=first_name.strip(), last_name=last_name.strip())
    validate_password(password, user)
    user.set_password(password)
    user.save()
    return user


@transaction.atomic
def setup_first_organization(
    name: str, email: str, password: str, first_name: str = "", last_name: str = ""
) -> tuple[Organization, User]:
    """First run: the first organization and its owner. Refused once any organization exists."""
    _lock_setup()
    if Organization.objects.exists():
        raise SetupAlreadyDone("Closeloop is already set up; log in instead.")
    user = _new_user(email, password, first_name, last_name)
    organization = create_organization(name, user)
    return organization, user


# Profile -----------------------------------------------------------------------------------


def update_profile(user: User, first_name: str, last_name: str) -> User:
    user.first_name = first_name.strip()
    user.last_name = last_name.strip()
    user.save(update_fields=["first_name", "last_name"])
    return user


def rename_organization(organization: Organization, name: str, renamed_by: User) -> Organization:
    _require_administrator(organization, renamed_by)
    organization.name = name.strip()
    organization.save(update_fields=["name"])
    return organization


def set_retention(
    organization: Organization,
    user: User,
    *,
    runs: int | None,
    payloads: int | None,
    deliveries: int | None,
    audit: int | None = None,
) -> Organization:
    """How long the organization keeps workflow runs, their payloads and deliveries, in days
    (None: as long as the server allows). Each is at most the server's ceiling, and payloads
    are not kept longer than their runs (closeloop.accounts.retention)."""
    _require_administrator(organization, user)
    run_ceiling = retention.run_ceiling_days()
    delivery_ceiling = retention.delivery_ceiling_days()
    problems = [
        *_period_problems("Workflow runs", runs, run_ceiling),
        *_period_problems("Payloads", payloads, runs or run_ceiling),
        *_period_problems(
            "Deliveries", deliveries, delivery_ceiling or retention.UNBOUNDED_MAX_DAYS
        ),
        *_period_problems("The audit log", audit, retention.audit_ceiling_days()),
    ]
    if problems:
        raise AccountsError(" ".join(problems))
    organization.workflow_run_retention_days = runs
    organization.workflow_payload_retention_days = payloads
    organization.delivery_retention_days = deliveries
    organization.audit_retention_days = audit
    organization.save(
        update_fields=[
            "workflow_run_retention_days",
            "workflow_payload_retention_days",
            "delivery_retention_days",
            "audit_retention_days",
        ]
    )
    return organization


def _period_problems(what: str, days: int | None, most: int) -> list[str]:
    if days is None:
        return []
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        return [f"{what}: a number of days, at least 1."]
    if days > most:
        return [f"{what} can be kept for at most {most} days."]
    return []


# Members -----------------------------------------------------------------------------------


def _membership_of(organization: Organization, user: User) -> Membership | None:
    return Membership.objects.filter(organization=organization, user=user).first()


def _require_administrator(organization: Organization, user: User) -> Membership:
    membership = _membership_of(organization, user)
    if membership is None or not membership.can_administer:
        raise NotAllowed("Only owners and admins can manage this organization.")
    return membership


def _require_owner_for(actor: Membership, *roles: str) -> None:
    if Role.OWNER in roles and actor.role != Role.OWNER:
        raise NotAllowed("Only an owner can grant, change or remove the owner role.")


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise AccountsError(f"Unknown role {role!r}.")


def _owner_count(organization: Organization) -> int:
    return Membership.objects.filter(organization=organization, role=Role.OWNER).count()


def _lock_memberships(organization: Organization) -> None:
    """Hold the organization's membership rows while checking the last-owner rule."""
    list(Membership.objects.select_for_update().filter(organization=organization).values("id"))


@transaction.atomic
def change_role(membership: Membership, role: str, changed_by: User) -> Membership:
    _check_role(role)
    actor = _require_administrator(membership.organization, changed_by)
    _require_owner_for(actor, role, membership.role)
    _lock_memberships(membership.organization)
    membership.refresh_from_db()
    demoting_owner = membership.role == Role.OWNER and role != Role.OWNER
    if demoting_owner and _owner_count(membership.organization) <= 1:
        raise LastOwner("The organization needs at least one owner; make someone else owner first.")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def remove_member(membership: Membership, removed_by: User) -> None:
    actor = _require_administrator(membership.organization, removed_by)
    _require_owner_for(actor, membership.role)
    _lock_memberships(membership.organization)
    membership.refresh_from_db()
    if membership.role == Role.OWNER and _owner_count(membership.organization) <= 1:
        raise LastOwner("The last owner cannot be removed; make someone else owner first.")
    ApiToken.objects.filter(organization=membership.organization, user=membership.user).update(
        revoked_at=timezone.now()
    )
    membership.delete()


# Invitations ---------------------------------------------------------------------------------


def invitation_url(secret: str) -> str:
    path = reverse("accounts:accept_invitation", kwargs={"secret": secret})
    return settings.CLOSELOOP_BASE_URL + path


def _send_invitation_email(invitation: Invitation, secret: str) -> None:
    context = {
        "invitation": invitation,
        "organization": invitation.organization,
        "invited_by": invitation.invited_by,
        "url": invitation_url(secret),
    }
    subject = f"You are invited to {invitation.organization.name} on Closeloop"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("accounts/email/invitation.txt", context),
        to=[invitation.email],
    )
    message.attach_alternative(
        render_to_string("accounts/email/invitation.html", context), "text/html"
    )
    message.send()


def invite_member(
    organization: Organization, email: str, role: str, invited_by: User
) -> Invitation:
    """Invite someone by email. The secret only travels in the emailed link.

    The email is sent after the invitation is committed (no lock is held while a mail server
    answers); if sending fails the invitation is withdrawn and the error explained.
    """
    invitation, secret = _create_invitation(organization, email, role, invited_by)
    try:
        _send_invitation_email(invitation, secret)
    except Exception as error:  # any transport error: SMTP, provider API, outbox
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        raise AccountsError(
            f"The invitation email could not be sent ({error.__class__.__name__}); "
            "check the email settings and try again."
        ) from error
    return invitation


@transaction.atomic
def _create_invitation(
    organization: Organization, email: str, role: str, invited_by: User
) -> tuple[Invitation, str]:
    _check_role(role)
    actor = _require_administrator(organization, invited_by)
    _require_owner_for(actor, role)
    email = normalize_email(email)
    if Membership.objects.filter(organization=organization, user__email=email).exists():
        raise AccountsError(f"{email} is already a member of {organization.name}.")
    now = timezone.now()
    Invitation.objects.filter(
        organization=organization, email=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    secret = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organization=organization,
        email=email,
        role=role,
        token_hash=hash_secret(secret),
        invited_by=invited_by,
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    return invitation, secret


def revoke_invitation(invitation: Invitation, revoked_by: User) -> Invitation:
    _require_administrator(invitation.organization, revoked_by)
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
    return invitation


def invitation_problem(invitation: Invitation | None) -> str | None:
    """Why an invitation link cannot be used, in plain words; None when it can."""
    if invitation is None:
        return "This invitation link is not valid."
    if invitation.accepted_at is not None:
        return "This invitation has already been used."
    if invitation.revoked_at is not None:
        return "This invitation was withdrawn."
    if invitation.expires_at <= timezone.now():
        return "This invitation has expired; ask for a new one."
    return None


def _open_invitation_for_update(secret: str) -> Invitation:
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("organization")
        .filter(token_hash=hash_secret(secret or ""))
        .first()
    )
    problem = invitation_problem(invitation)
    if problem:
        raise InvitationNotUsable(problem)
    return invitation


def _join(invitation: Invitation, user: User) -> Membership:
    membership, _ = Membership.objects.get_or_create(
        organization=invitation.organization, user=user, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    return membership


@transaction.atomic
def accept_invitation(secret: str, password: str, first_name: str, last_name: str) -> Membership:
    """A new person accepts: their account is created with the invited email address."""
    invitation = _open_invitation_for_update(secret)
    if User.objects.filter(email=invitation.email).exists():
        raise InvitationNotUsable(
            f"An account for {invitation.email} already exists; log in to accept the invitation."
        )
    user = _new_user(invitation.email, password, first_name, last_name)
    return _join(invitation, user)


@transaction.atomic
def accept_invitation_as(secret: str, user: User) -> Membership:
    """Someone who already has an account (logged in with the invited email) joins."""
    invitation = _open_invitation_for_update(secret)
    if normalize_email(user.email) != invitation.email:
        raise InvitationNotUsable(f"This invitation is for {invitation.email}, not {user.email}.")
    return _join(invitation, user)


# API tokens ----------------------------------------------------------------------------------


def create_api_token(organization: Organization, user: User, name: str) -> tuple[ApiToken, str]:
    """Returns the row and the secret; the secret is never stored and cannot be shown again."""
    if _membership_of(organization, user) is None:
        raise NotAllowed(f"{user.email} is not a member of {organization.name}.")
    name = name.strip()
    if not name:
        raise AccountsError("Give the token a name, such as the script or system that will use it.")
    secret = new_token()
    with transaction.atomic():
        token = ApiToken.objects.create(
            organization=organization,
            user=user,
            name=name,
            token_hash=hash_secret(secret),
            hint=secret[-4:],
        )
        audit.record(
            organization, user, "token.created", target=token, summary=f"{name} (…{token.hint})"
        )
    return token, secret


def revoke_api_token(token: ApiToken, revoked_by: User | None = None) -> ApiToken:
    if token.revoked_at is None:
        with transaction.atomic():
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit.record(
                token.organization,
                revoked_by,
                "token.revoked",
                target=token,
                summary=f"{token.name} (…{token.hint})",
            )
    return token


def touch_token(token: ApiToken) -> None:
    """Record use, at most once per interval, so that a busy script does not write per request."""
    now = timezone.now()
    stale_before = now - TOKEN_TOUCH_INTERVAL
    if token.last_used_at is not None and token.last_used_at > stale_before:
        return
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale_before)
    ).update(last_used_at=now)
    token.last_used_at = now


# Organization switching ----------------------------------------------------------------------


def switch_organization(session, user: User, organization_id: int) -> Organization:
    chosen = Membership.objects.filter(user=user, organization_id=organization_id).first()
    if chosen is None:
        raise NotAllowed("You are not a member of that organization.")
    session["organization_id"] = chosen.organization_id
    return chosen.organization


# Sign-in throttling -------------------------------------------------------------------------


def client_fingerprint(address: str) -> str:
    """A salted hash of the client address: enough to count attempts, useless if leaked."""
    return hash_secret(f"{settings.SECRET_KEY}|{address or 'unknown'}")[:64]


def record_failed_sign_in(email: str, client: str) -> None:
    """`client` is the address's `client_fingerprint`, never the address itself."""
    FailedSignIn.objects.create(email=normalize_email(email), client=client)


def forget_failed_sign_ins(email: str) -> None:
    """A successful sign-in clears the account's count (the client's count stays)."""
    FailedSignIn.objects.filter(email=normalize_email(email)).delete()


def delete_old_failed_sign_ins(now=None) -> int:
    cutoff = (now or timezone.now()) - timedelta(days=1)
    deleted, _ = FailedSignIn.objects.filter(created_at__lt=cutoff).delete()
    return deleted
