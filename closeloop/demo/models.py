"""The demo workspace of an organization, what it is made of, and the Try it page's steps.

A DemoWorkspace exists once per organization. Every row the demo made is listed as a DemoItem
(kind and id), so that removing the demo deletes exactly those and nothing of the
organization's own. A TryStep is one message the Try it page sent as Salesforce or Segment
would: the request, the answer, and the key of the run it started.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from closeloop.ids import new_id


def new_step_id() -> str:
    return new_id("DS_")


class DemoWorkspace(models.Model):
    organization = models.OneToOneField(
        "accounts.Organization", on_delete=models.CASCADE, related_name="demo_workspace"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    action_id = models.CharField(max_length=18, help_text="the outbound message's ActionId")

    def __str__(self) -> str:
        return f"Demo workspace of {self.organization_id}"


class ItemKind(models.TextChoices):
    DIRECTORY = "directory", "Directory"
    MAILING_LIST = "mailing_list", "Mailing list"
    CONTACT = "contact", "Contact"
    SURVEY = "survey", "Survey"
    WORKFLOW = "workflow", "Workflow"
    SALESFORCE_ACCOUNT = "salesforce_account", "Salesforce account"


class DemoItem(models.Model):
    """One row the demo created: its kind, primary key and public id, and its part in the demo
    (`role`: "case_workflow", "survey" …)."""

    workspace = models.ForeignKey(DemoWorkspace, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=24, choices=ItemKind.choices)
    role = models.CharField(max_length=32)
    object_id = models.BigIntegerField()
    public_id = models.CharField(max_length=64, blank=True)
    label = models.CharField(max_length=200)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "kind", "object_id"], name="demo_item_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.public_id or self.object_id}"


class StepKind(models.TextChoices):
    SALESFORCE = "salesforce", "Close a case in Salesforce"
    SEGMENT = "segment", "Send a Segment event"


class TryStep(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    workspace = models.ForeignKey(DemoWorkspace, on_delete=models.CASCADE, related_name="steps")
    public_id = models.CharField(max_length=32, unique=True, default=new_step_id, editable=False)
    kind = models.CharField(max_length=16, choices=StepKind.choices)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    summary = models.CharField(max_length=300, help_text="what happened, in words")
    person = models.CharField(max_length=320, blank=True, help_text="the email of the person")
    url = models.CharField(max_length=500)
    request_headers = models.JSONField(default=dict, blank=True)
    request_body = models.TextField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.TextField(blank=True)
    error = models.TextField(blank=True, help_text="why no answer came")
    dedup_key = models.CharField(max_length=255, help_text="the key of the run it starts")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["organization", "-id"], name="demo_step_recent")]

    def __str__(self) -> str:
        return self.public_id

    @property
    def accepted(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300
