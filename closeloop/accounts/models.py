"""Organizations (Qualtrics brands), users, memberships, invitations and API tokens."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone

from closeloop.ids import new_user_id


class Organization(models.Model):
    name = models.CharField(max_length=200)
    brand_id = models.SlugField(max_length=64, unique=True, help_text="Qualtrics brandId")
    created_at = models.DateTimeField(default=timezone.now)
    # Retention (closeloop.accounts.retention): empty is the server's ceiling; a number is
    # used only up to that ceiling.
    workflow_run_retention_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="finished workflow runs are deleted after this many days"
    )
    workflow_payload_retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="runs' payloads, fields and task input/output are erased after this many days",
    )
    delivery_retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="deliveries (distribution history) are deleted after this many days",
    )
    audit_retention_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="audit log events are deleted after this many days"
    )
    response_retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="recorded survey responses are deleted after this many days (empty: kept)",
    )
    # The default sender of new distributions (Settings → Sending, in distributions: the from
    # address must be at a verified domain). Empty: the server's DEFAULT_FROM_EMAIL.
    default_from_name = models.CharField(max_length=200, blank=True)
    default_from_email = models.CharField(max_length=320, blank=True)
    default_reply_to = models.CharField(max_length=320, blank=True)
    # API token policy (Settings → Organization).
    api_token_max_age_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="tokens older than this many days stop working (empty: no expiry)",
    )
    api_tokens_admins_only = models.BooleanField(
        default=False, help_text="only owners and admins may create API tokens"
    )

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        return self.create_user(email, password, is_staff=True, is_superuser=True, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    public_id = models.CharField(max_length=32, unique=True, default=new_user_id, editable=False)
    email = models.EmailField(unique=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email

    def get_short_name(self) -> str:
        return self.first_name or self.email


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


class Membership(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="one_membership_per_org")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"

    @property
    def can_administer(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)


def hash_secret(secret: str) -> str:
    """Tokens are random and long, so a fast hash is enough and keeps lookups indexable."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_tokens"
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=8, help_text="last characters, to tell tokens apart")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} (…{self.hint})"

    @property
    def expires_at(self) -> datetime | None:
        """When the organization's maximum token age ends this token (None: never)."""
        days = self.organization.api_token_max_age_days
        return self.created_at + timedelta(days=days) if days else None

    @property
    def is_expired(self) -> bool:
        expires_at = self.expires_at
        return expires_at is not None and expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired


class Invitation(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.organization}"

    @property
    def is_open(self) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )


class FailedSignIn(models.Model):
    """One wrong password, kept for a day so that repeated guessing can be slowed down.

    Kept in the database (not a per-process cache) so the limit holds across every web
    process. The client address is stored only as a salted hash.
    """

    email = models.CharField(max_length=254)
    client = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["email", "created_at"]),
            models.Index(fields=["client", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"failed sign-in for {self.email} at {self.created_at:%Y-%m-%d %H:%M}"


class AuditEvent(models.Model):
    """Who did what and when in an organization (closeloop.accounts.audit)."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="audit_events"
    )
    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"], name="audit_org_created")]

    def __str__(self) -> str:
        return (
            f"{self.action} {self.target_type}:{self.target_id} at {self.created_at:%Y-%m-%d %H:%M}"
        )


class MemberGroup(models.Model):
    """A named set of members (Qualtrics' groups), to share surveys with at once."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="member_groups"
    )
    name = models.CharField(max_length=100)
    members = models.ManyToManyField(User, related_name="member_groups", blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="one_group_name_per_org")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
