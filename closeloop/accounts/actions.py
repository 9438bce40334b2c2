"""Every write to organizations, users, memberships, invitations and API tokens."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
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
    MemberGroup,
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
GROUP_NAME_MAX_LENGTH = MemberGroup._meta.get_field("name").max_length
# The longest maximum token age an organization may choose (ten years).
TOKEN_MAX_AGE_DAYS = 3650
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


@transaction.atomic
def rename_organization(organization: Organization, name: str, renamed_by: User) -> Organization:
    _require_administrator(organization, renamed_by)
    name = name.strip()
    if not name:
        raise AccountsError("Give the organization a name.")
    # from the database: a ModelForm has already put the new name on the instance
    before = Organization.objects.filter(pk=organization.pk).values_list("name", flat=True).get()
    organization.name = name
    organization.save(update_fields=["name"])
    if before != name:
        audit.record(
            organization,
            renamed_by,
            "organization.changed",
            target=("organization", organization.brand_id),
            summary=f"Renamed from {before} to {name}",
        )
    return organization


def _record_settings(organization: Organization, user: User, what: str, changes: dict) -> None:
    """One organization.changed event naming the settings that changed, old → new."""
    if not changes:
        return
    shown = ", ".join(
        f"{name}: {_shown(old)} → {_shown(new)}" for name, (old, new) in changes.items()
    )
    audit.record(
        organization,
        user,
        "organization.changed",
        target=("organization", organization.brand_id),
        summary=f"{what}: {shown}",
        changes={name: [old, new] for name, (old, new) in changes.items()},
    )


def _shown(value) -> str:
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _changes(organization: Organization, values: dict) -> dict:
    """What differs from the stored row (not the instance, which a form may have changed)."""
    stored = Organization.objects.filter(pk=organization.pk).values(*values).get()
    return {name: (stored[name], value) for name, value in values.items() if stored[name] != value}


def _save_settings(organization: Organization, user: User, what: str, values: dict) -> None:
    changes = _changes(organization, values)
    for name, value in values.items():
        setattr(organization, name, value)
    organization.save(update_fields=list(values))
    _record_settings(organization, user, what, changes)


@transaction.atomic
def set_retention(
    organization: Organization,
    user: User,
    *,
    runs: int | None,
    payloads: int | None,
    deliveries: int | None,
    audit: int | None = None,
    responses: int | None = None,
) -> Organization:
    """How long the organization keeps workflow runs, their payloads, deliveries, the audit log
    and recorded survey responses, in days (None: as long as the server allows; responses:
    kept). Each is at most the server's ceiling, and payloads are not kept longer than their
    runs (closeloop.accounts.retention)."""
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
        *_period_problems("Survey responses", responses, retention.UNBOUNDED_MAX_DAYS),
    ]
    if problems:
        raise AccountsError(" ".join(problems))
    values = {
        "workflow_run_retention_days": runs,
        "workflow_payload_retention_days": payloads,
        "delivery_retention_days": deliveries,
        "audit_retention_days": audit,
        "response_retention_days": responses,
    }
    _save_settings(organization, user, "Retention (days)", values)
    return organization


# Organization settings: API token policy, default sender -------------------------------------


@transaction.atomic
def set_token_policy(
    organization: Organization, user: User, *, max_age_days: int | None, admins_only: bool
) -> Organization:
    """Tokens older than `max_age_days` stop working (None: no expiry); with `admins_only`,
    only owners and admins may create tokens (existing tokens keep working until revoked or
    expired)."""
    _require_administrator(organization, user)
    problems = _period_problems("The maximum token age", max_age_days, TOKEN_MAX_AGE_DAYS)
    if problems:
        raise AccountsError(" ".join(problems))
    values = {"api_token_max_age_days": max_age_days, "api_tokens_admins_only": bool(admins_only)}
    _save_settings(organization, user, "API token policy", values)
    return organization


def _header_text(value: str, what: str, most: int) -> str:
    value = (value or "").strip()
    if any(character in value for character in "\r\n\x00"):
        raise AccountsError(f"{what} must be on one line.")
    if len(value) > most:
        raise AccountsError(f"{what} is at most {most} characters.")
    return value


def _address(value: str, what: str) -> str:
    value = _header_text(value, what, 320)
    if value:
        try:
            validate_email(value)
        except ValidationError:
            raise AccountsError(f"{what} {value!r} is not a valid email address.") from None
    return value


@transaction.atomic
def set_default_sender(
    organization: Organization, user: User, *, from_name: str, from_email: str, reply_to: str = ""
) -> Organization:
    """The sender new distributions start with. Empty: the server's default sender. Whether
    the organization may send from `from_email` (a verified domain) is the distributions app's
    rule, checked by its Sending page before calling this."""
    _require_administrator(organization, user)
    values = {
        "default_from_name": _header_text(from_name, "The from name", 200),
        "default_from_email": _address(from_email, "The from address"),
        "default_reply_to": _address(reply_to, "The reply-to address"),
    }
    _save_settings(organization, user, "Default sender", values)
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
    before = membership.role
    if before == role:
        return membership
    membership.role = role
    membership.save(update_fields=["role"])
    audit.record(
        membership.organization,
        changed_by,
        "member.role_changed",
        target=membership.user,
        summary=f"{membership.user.email}: {Role(before).label} → {Role(role).label}",
        before=before,
        after=role,
    )
    return membership


@transaction.atomic
def remove_member(membership: Membership, removed_by: User) -> None:
    actor = _require_administrator(membership.organization, removed_by)
    _require_owner_for(actor, membership.role)
    _lock_memberships(membership.organization)
    membership.refresh_from_db()
    if membership.role == Role.OWNER and _owner_count(membership.organization) <= 1:
        raise LastOwner("The last owner cannot be removed; make someone else owner first.")
    organization, user = membership.organization, membership.user
    ApiToken.objects.filter(organization=organization, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    # Groups hold members of their organization only.
    for group in MemberGroup.objects.filter(organization=organization, members=user):
        group.members.remove(user)
    membership.delete()
    audit.record(
        organization,
        removed_by,
        "member.removed",
        target=user,
        summary=f"{user.email} ({Role(membership.role).label}) removed",
    )


# Member groups -------------------------------------------------------------------------------


def _group_name(organization: Organization, name: str, group: MemberGroup | None = None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise AccountsError("Give the group a name.")
    if len(name) > GROUP_NAME_MAX_LENGTH:
        raise AccountsError(f"A group name is at most {GROUP_NAME_MAX_LENGTH} characters.")
    taken = MemberGroup.objects.filter(organization=organization, name__iexact=name)
    if group is not None:
        taken = taken.exclude(pk=group.pk)
    if taken.exists():
        raise AccountsError(f"There is already a group called {name}.")
    return name


def _record_group(group: MemberGroup, user: User, summary: str, **extra) -> None:
    audit.record(
        group.organization,
        user,
        "group.changed",
        target=("group", group.pk),
        summary=f"{group.name}: {summary}",
        **extra,
    )


def _saved(create):
    """Two admins creating the same name at once: the constraint answers, in plain words."""
    try:
        with transaction.atomic():
            return create()
    except IntegrityError:
        raise AccountsError("There is already a group with that name.") from None


def create_group(organization: Organization, name: str, created_by: User) -> MemberGroup:
    _require_administrator(organization, created_by)
    name = _group_name(organization, name)

    def create() -> MemberGroup:
        group = MemberGroup.objects.create(organization=organization, name=name)
        _record_group(group, created_by, "created")
        return group

    return _saved(create)


def rename_group(group: MemberGroup, name: str, renamed_by: User) -> MemberGroup:
    _require_administrator(group.organization, renamed_by)
    name = _group_name(group.organization, name, group)
    before = group.name
    if before == name:
        return group

    def rename() -> MemberGroup:
        group.name = name
        group.save(update_fields=["name"])
        _record_group(group, renamed_by, f"renamed from {before}", before=before)
        return group

    return _saved(rename)


@transaction.atomic
def delete_group(group: MemberGroup, deleted_by: User) -> None:
    """The group and the survey shares made with it go; its members keep their own access."""
    _require_administrator(group.organization, deleted_by)
    _record_group(group, deleted_by, "deleted", members=group.members.count())
    group.delete()


@transaction.atomic
def add_group_member(group: MemberGroup, user: User, added_by: User) -> MemberGroup:
    _require_administrator(group.organization, added_by)
    if _membership_of(group.organization, user) is None:
        raise AccountsError(f"{user.email} is not a member of {group.organization.name}.")
    if not group.members.filter(pk=user.pk).exists():
        group.members.add(user)
        _record_group(group, added_by, f"{user.email} added", member=user.public_id)
    return group


@transaction.atomic
def remove_group_member(group: MemberGroup, user: User, removed_by: User) -> MemberGroup:
    _require_administrator(group.organization, removed_by)
    if group.members.filter(pk=user.pk).exists():
        group.members.remove(user)
        _record_group(group, removed_by, f"{user.email} removed", member=user.public_id)
    return group


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
    # Recorded once the invitation is really out (a failed send withdraws it).
    audit.record(
        organization,
        invited_by,
        "member.invited",
        target=("invitation", invitation.pk),
        summary=f"{invitation.email} invited as {Role(invitation.role).label}",
    )
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
        with transaction.atomic():
            invitation.revoked_at = timezone.now()
            invitation.save(update_fields=["revoked_at"])
            audit.record(
                invitation.organization,
                revoked_by,
                "invitation.revoked",
                target=("invitation", invitation.pk),
                summary=f"Invitation of {invitation.email} withdrawn",
            )
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
    membership, created = Membership.objects.get_or_create(
        organization=invitation.organization, user=user, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    if created:
        audit.record(
            invitation.organization,
            user,
            "member.joined",
            target=user,
            summary=f"{user.email} joined as {Role(membership.role).label}",
        )
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

TOKENS_ADMINS_ONLY = (
    "In this organization only owners and admins can create API tokens; ask one of them."
)


def may_create_tokens(membership: Membership) -> bool:
    """The organization's token policy (api_tokens_admins_only), read fresh from the database."""
    admins_only = (
        Organization.objects.filter(pk=membership.organization_id)
        .values_list("api_tokens_admins_only", flat=True)
        .first()
    )
    return not admins_only or membership.can_administer


def create_api_token(organization: Organization, user: User, name: str) -> tuple[ApiToken, str]:
    """Returns the row and the secret; the secret is never stored and cannot be shown again."""
    membership = _membership_of(organization, user)
    if membership is None:
        raise NotAllowed(f"{user.email} is not a member of {organization.name}.")
    if not may_create_tokens(membership):
        raise NotAllowed(TOKENS_ADMINS_ONLY)
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
