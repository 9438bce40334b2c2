"""Messages caught by the outbox: the delivery backend for email and SMS when none is configured."""

from django.db import models
from django.utils import timezone


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class Direction(models.TextChoices):
    OUTBOUND = "outbound", "Sent by Closeloop"
    INBOUND = "inbound", "Received (simulated reply)"


class OutboxMessage(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    direction = models.CharField(
        max_length=8, choices=Direction.choices, default=Direction.OUTBOUND
    )
    sender = models.CharField(max_length=320)
    recipients = models.TextField(help_text="comma-separated addresses or E.164 numbers")
    subject = models.CharField(max_length=998, blank=True)
    text_body = models.TextField(blank=True)
    html_body = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    message_id = models.CharField(max_length=998, blank=True)
    segments = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"], name="outbox_org_recent")]

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipients}"
