"""The durable job ledger: every unit of background work is a row, and the table is the queue."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    DEAD = "dead", "Dead"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.DEAD, JobStatus.CANCELLED)
RETRYABLE_STATUSES = (JobStatus.FAILED, JobStatus.DEAD)


class Job(models.Model):
    kind = models.CharField(max_length=100)
    payload = models.JSONField(default=dict, blank=True)
    # NULL rather than "" for "no key", so that the unique constraint leaves those rows alone.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    run_after = models.DateTimeField(default=timezone.now)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    locked_by = models.CharField(max_length=255, blank=True, help_text="worker id: host:pid:uuid")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Start of the retry horizon: creation, or the last time an operator pressed "Retry now".
    retries_from = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    organization = models.ForeignKey(
        "accounts.Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        help_text="the tenant the job works for; empty for system jobs",
    )

    class Meta:
        # Most jobs have neither a key nor an organization. Partial indexes leave those rows
        # out, so each of a job's status changes writes two index entries instead of five.
        indexes = [
            models.Index(fields=["status", "run_after"], name="jobs_job_claim_idx"),
            models.Index(
                fields=["organization"],
                condition=models.Q(organization__isnull=False),
                name="jobs_job_organization_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="jobs_job_unique_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    @property
    def is_retryable(self) -> bool:
        return self.status in RETRYABLE_STATUSES
