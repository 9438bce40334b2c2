"""Workflows, their revisions, and the run ledger workflow reporting shows.

A workflow's definition (event, conditions, ordered tasks, settings) lives in its columns;
every saved change adds a WorkflowRevision with the whole definition, who and when. A
WorkflowRun is one event's journey (stored before the event is acknowledged); each task of
the run has a TaskRun per run attempt ("generation": 1, then one more per retry), holding
the rendered input, the output later tasks pipe from, the attempts and the last error.
"""

from __future__ import annotations

import secrets
from functools import cached_property

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from closeloop.ids import new_id
from closeloop.workflows import mapping


def new_workflow_id() -> str:
    return new_id("WF_")


def new_event_id() -> str:
    return new_id("EV_")


def new_run_id() -> str:
    return new_id("WR_")


def new_task_id() -> str:
    return new_id("TA_")


def new_trigger_token() -> str:
    """48 URL-safe random characters (288 bits): the trigger URL's secret part."""
    return secrets.token_urlsafe(36)


def empty_conditions() -> dict:
    return {"match": "all", "groups": []}


class Workflow(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    public_id = models.CharField(
        max_length=32, unique=True, default=new_workflow_id, editable=False
    )
    survey = models.ForeignKey(
        "surveys.Survey",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="workflows",
        help_text="the survey whose Workflows tab shows it; empty for organization workflows",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        help_text="the creator: the account the workflow runs as; edits never change it",
    )
    name = models.CharField(max_length=200)
    enabled = models.BooleanField(default=True)
    event_id = models.CharField(
        max_length=32, default=new_event_id, help_text="the event's id in piped text"
    )
    event_type = models.CharField(max_length=64)
    event_config = models.JSONField(default=dict, blank=True)
    conditions = models.JSONField(default=empty_conditions, blank=True)
    tasks = models.JSONField(default=list, blank=True, help_text='[{"id", "type", "config"}]')
    continue_on_failure = models.BooleanField(
        default=True, help_text="when a task fails, the remaining tasks still run"
    )
    trigger_token = models.CharField(max_length=64, unique=True, default=new_trigger_token)
    sample_payload = models.TextField(blank=True, help_text="for mapping and dry runs")
    capture_until = models.DateTimeField(
        null=True, blank=True, help_text="listening for a test event until then"
    )
    captured_payload = models.TextField(blank=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    modified_at = models.DateTimeField(default=timezone.now)
    modified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-modified_at"], name="workflow_org_modified"),
            models.Index(fields=["survey", "event_type"], name="workflow_survey_event"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"


class WorkflowRevision(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    summary = models.CharField(max_length=200, blank=True)
    definition = models.JSONField()

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "number"], name="one_revision_number")
        ]

    def __str__(self) -> str:
        return f"{self.workflow_id} r{self.number}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    RETRYING = "retrying", "Retrying"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


FINISHED_RUN_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.SKIPPED)


class WorkflowRun(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="runs", db_index=False
    )
    public_id = models.CharField(max_length=32, unique=True, default=new_run_id, editable=False)
    event_type = models.CharField(max_length=64)
    source = models.CharField(max_length=32, blank=True, help_text="http, survey, api …")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    payload = models.TextField(blank=True, help_text="the event as received")
    fields = models.JSONField(default=dict, blank=True, help_text="the event's mapped fields")
    dedup_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001 (NULL: no key)
    skip_reason = models.TextField(blank=True)
    error = models.TextField(blank=True)
    definition = models.JSONField(default=dict, help_text="the definition this run follows")
    revision = models.PositiveIntegerField(default=1)
    generation = models.PositiveIntegerField(default=1, help_text="1, then +1 per retry")
    retried_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    replay_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="replays",
        db_index=False,
        help_text="the run this one replays (a new run of the same event)",
    )
    replayed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    payload_erased_at = models.DateTimeField(
        null=True, blank=True, help_text="payload, fields and task input/output erased (retention)"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="run_org_created"),
            models.Index(fields=["workflow", "-created_at"], name="run_workflow_created"),
            models.Index(fields=["organization", "status", "-created_at"], name="run_org_status"),
            models.Index(fields=["created_at"], name="run_created"),
            models.Index(
                fields=["replay_of"], condition=Q(replay_of__isnull=False), name="run_replay_of"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "dedup_key"],
                condition=Q(dedup_key__isnull=False),
                name="one_run_per_dedup_key",
            )
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_RUN_STATUSES

    @property
    def can_retry(self) -> bool:
        return self.status == RunStatus.FAILED and self.payload_erased_at is None

    @property
    def can_replay(self) -> bool:
        return self.is_finished and self.payload_erased_at is None

    @cached_property
    def payload_document(self) -> object:
        """The stored payload as parsed JSON, parsed once per loaded run (a retry's fields
        mapped again and every task's piped text share it); PayloadError when not JSON."""
        return mapping.parse_json(self.payload)


def new_bulk_replay_id() -> str:
    return new_id("RB_")


class ReplayDefinition(models.TextChoices):
    CURRENT = "current", "the workflow's current revision"
    ORIGINAL = "original", "the revision each run ran with"


class BulkReplayStatus(models.TextChoices):
    QUEUED = "queued", "Waiting for a worker"
    RUNNING = "running", "Replaying"
    FINISHED = "finished", "Finished"
    CANCELLED = "cancelled", "Cancelled"


class BulkReplay(models.Model):
    """Replaying the runs a reporting filter showed, as one ledger job that works in batches:
    the originals are taken in id order up to max_run_id (the newest the filter showed, so
    that the replays themselves are never replayed), and each batch commits its replays with
    the cursor (last_run_id) and the counts, so a retried job goes on where it stopped."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    public_id = models.CharField(
        max_length=32, unique=True, default=new_bulk_replay_id, editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    filters = models.JSONField(default=dict, blank=True, help_text="the reporting filter")
    definition = models.CharField(
        max_length=16, choices=ReplayDefinition.choices, default=ReplayDefinition.CURRENT
    )
    status = models.CharField(
        max_length=16, choices=BulkReplayStatus.choices, default=BulkReplayStatus.QUEUED
    )
    total = models.PositiveIntegerField(default=0, help_text="runs the filter showed")
    max_run_id = models.BigIntegerField(default=0)
    last_run_id = models.BigIntegerField(default=0, help_text="originals up to here are done")
    done = models.PositiveIntegerField(default=0, help_text="originals looked at")
    replayed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    skip_reasons = models.JSONField(default=dict, blank=True, help_text="{reason: count}")
    job_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.public_id

    @property
    def is_done(self) -> bool:
        return self.status in (BulkReplayStatus.FINISHED, BulkReplayStatus.CANCELLED)

    @property
    def percent(self) -> int:
        if self.status == BulkReplayStatus.FINISHED:
            return 100
        if not self.total:
            return 0
        return min(100, round(100 * self.done / self.total))


class TaskStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    RETRYING = "retrying", "Retrying"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Not run"


FINISHED_TASK_STATUSES = (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.SKIPPED)


class TaskRun(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="task_runs")
    generation = models.PositiveIntegerField(default=1)
    task_id = models.CharField(max_length=32)
    task_type = models.CharField(max_length=64)
    name = models.CharField(max_length=200, blank=True)
    position = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    input = models.JSONField(default=dict, blank=True, help_text="the config as rendered")
    output = models.JSONField(default=dict, blank=True)
    reused = models.BooleanField(
        default=False, help_text="output kept from an earlier attempt (retry from failed task)"
    )
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["generation", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "generation", "task_id"], name="one_task_run_per_generation"
            )
        ]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.task_id}#{self.generation}"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_TASK_STATUSES
