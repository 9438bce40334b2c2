"""Linked Salesforce accounts: a user's OAuth grant to one Salesforce org (Qualtrics' extension
user accounts). Tokens are encrypted at rest with CLOSELOOP_ENCRYPTION_KEYS."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from closeloop.accounts.models import Organization
from closeloop.integrations.salesforce.demo_models import DemoRecord, DemoWrite  # noqa: F401

MAX_ACCOUNTS_PER_USER = 5


def new_account_id() -> str:
    return "SFA_" + secrets.token_hex(8)


class Environment(models.TextChoices):
    PRODUCTION = "production", "Salesforce Production (OAuth)"
    SANDBOX = "sandbox", "Salesforce Sandbox (OAuth)"
    MY_DOMAIN = "my_domain", "My Domain URL (OAuth)"
    # The demo org (demo_backend.py): nothing is sent to Salesforce.
    DEMO = "demo", "Demo — writes are recorded here, not sent to Salesforce"


class AccountStatus(models.TextChoices):
    CONNECTED = "connected", "Connected"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"


class ConnectedAccount(models.Model):
    public_id = models.CharField(max_length=32, unique=True, default=new_account_id)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="salesforce_accounts"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="salesforce_accounts"
    )
    name = models.CharField(max_length=100)
    environment = models.CharField(max_length=16, choices=Environment.choices)
    login_url = models.URLField(max_length=300)
    instance_url = models.URLField(max_length=300)
    salesforce_organization_id = models.CharField(max_length=18)
    salesforce_user_id = models.CharField(max_length=18, blank=True)
    username = models.CharField(max_length=255, blank=True)
    access_token_encrypted = models.TextField()
    refresh_token_encrypted = models.TextField()
    shared_with_organization = models.BooleanField(default=False)
    status = models.CharField(
        max_length=16, choices=AccountStatus.choices, default=AccountStatus.CONNECTED
    )
    status_message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    authorized_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "name"], name="salesforce_account_name_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_environment_display()})"

    @property
    def is_sandbox(self) -> bool:
        return self.environment == Environment.SANDBOX
