"""Workflow reporting retention, per organization (closeloop.accounts.retention).

Finished runs older than the organization's run period are deleted with their task runs;
before that, once older than its payload period, a finished run's payload, mapped fields and
task input and output are erased (its status, timings and errors stay, and it can no longer
be retried or replayed). Runs still queued, running or retrying are left alone. Every period
is at most the server's ceiling, CLOSELOOP_WORKFLOW_RUN_RETENTION_DAYS.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from closeloop.accounts.models import Organization
from closeloop.accounts.retention import retention_of, run_ceiling_days
from closeloop.workflows import actions
from closeloop.workflows.models import FINISHED_RUN_STATUSES, TaskRun, WorkflowRun

log = logging.getLogger("closeloop.workflows")

BATCH = 1000


@dataclass(frozen=True)
class Cleaned:
    runs_deleted: int = 0
    payloads_erased: int = 0


def apply(now: datetime | None = None, batch: int = BATCH) -> Cleaned:
    """The hourly clean-up: every organization's periods in force."""
    now = now or timezone.now()
    ceiling = run_ceiling_days()
    # Older than the ceiling is too old everywhere: one pass for every organization.
    deleted = actions.delete_old_runs(now - timedelta(days=ceiling), batch)
    erased = 0
    chosen = Organization.objects.filter(
        Q(workflow_run_retention_days__lt=ceiling)
        | Q(workflow_payload_retention_days__isnull=False)
    ).order_by("pk")
    for organization in chosen:
        kept = retention_of(organization)
        if kept.runs < ceiling:
            before = now - timedelta(days=kept.runs)
            deleted += actions.delete_old_runs(before, batch, organization=organization)
        if kept.payloads_shorter:
            erased += erase_old_payloads(organization, now - timedelta(days=kept.payloads), batch)
    return Cleaned(deleted, erased)


def erase_old_payloads(organization, before: datetime, batch: int = BATCH) -> int:
    """Erase the payload, fields and task input/output of the organization's finished runs
    received before `before`; how many runs."""
    erased_total = 0
    old = WorkflowRun.objects.filter(
        organization=organization,
        created_at__lt=before,
        status__in=FINISHED_RUN_STATUSES,
        payload_erased_at__isnull=True,
    )
    while True:
        ids = list(old.values_list("id", flat=True)[:batch])
        if not ids:
            return erased_total
        with transaction.atomic():
            TaskRun.objects.filter(run_id__in=ids).update(input={}, output={})
            erased_total += WorkflowRun.objects.filter(id__in=ids).update(
                payload="", fields={}, payload_erased_at=timezone.now()
            )
