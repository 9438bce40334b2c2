"""Segment sources and the receiving side of Segment-event workflows.

A **Source** stands for one Segment source (a website, an app) sending to Closeloop: it groups
the workflows made for its use cases (contacts from identify calls, transactions, a workflow
started by a track event), each linked by a SourceWorkflow. An **Endpoint** holds what a
Segment-event workflow's URL needs beside the workflow itself: the shared secret the requests
are signed with (encrypted with CLOSELOOP_ENCRYPTION_KEYS) and the last delivery it refused,
for troubleshooting.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from closeloop.ids import new_id


def new_source_id() -> str:
    return new_id("SGS_")


class UseCase(models.TextChoices):
    CONTACTS = "contacts", "Create and update contacts"
    TRANSACTIONS = "transactions", "Upsert contact transactions"
    WORKFLOW = "workflow", "Start a workflow"


class Source(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    public_id = models.CharField(max_length=32, unique=True, default=new_source_id)
    name = models.CharField(max_length=100)
    directory = models.ForeignKey(
        "directory.Directory",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="where its contacts go; empty: the organization's default directory",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"


class SourceWorkflow(models.Model):
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="links")
    workflow = models.OneToOneField(
        "workflows.Workflow", on_delete=models.CASCADE, related_name="+"
    )
    use_case = models.CharField(max_length=16, choices=UseCase.choices)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.source_id}: {self.use_case}"


class Endpoint(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    workflow = models.OneToOneField(
        "workflows.Workflow", on_delete=models.CASCADE, related_name="+"
    )
    secret_encrypted = models.TextField(blank=True)
    secret_set_at = models.DateTimeField(null=True, blank=True)
    last_refusal = models.TextField(blank=True)
    last_refusal_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_refusal_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Segment endpoint of {self.workflow_id}"

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)
