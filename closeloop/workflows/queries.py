"""Organization-scoped reads for workflows and workflow reporting.

Every function takes the organization first; ids of another organization answer None, as
unknown ids do, so that callers cannot tell the two apart. Lists and reporting also take the
user and hold only what they may manage (closeloop.workflows.permissions, filtered in SQL);
a read of one workflow or run by id is not filtered: the caller passes it to
`permissions.require_workflow`, which tells a 404 from a 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import Count, Max, QuerySet
from django.urls import reverse
from django.utils import timezone

from closeloop.workflows import permissions, registry
from closeloop.workflows.models import (
    BulkReplay,
    RunStatus,
    TaskRun,
    Workflow,
    WorkflowRevision,
    WorkflowRun,
)

RUNS_PAGE = 50
MAX_SEARCH = 200


# Workflows -----------------------------------------------------------------------------------


def _all_workflows(organization) -> QuerySet[Workflow]:
    return Workflow.objects.filter(organization=organization).select_related("owner", "survey")


def workflows_of(organization, user, *, survey=None) -> QuerySet[Workflow]:
    """The workflows `user` may manage, the latest changed first."""
    workflows = _all_workflows(organization).filter(
        permissions.manageable_filter(organization.pk, user)
    )
    if survey is not None:
        workflows = workflows.filter(survey=survey)
    return workflows.order_by("-modified_at", "-id")


def workflow_choices(organization, user) -> list[tuple[str, str]]:
    """(public id, name) of every workflow `user` may manage, by name: the reporting
    filter's options."""
    return list(
        Workflow.objects.filter(organization=organization)
        .filter(permissions.manageable_filter(organization.pk, user))
        .order_by("name", "id")
        .values_list("public_id", "name")
    )


def workflows_with_activity(organization, user, *, survey=None) -> list[Workflow]:
    """The workflows `user` may manage, with their last event time and run count (the list
    page)."""
    return list(
        workflows_of(organization, user, survey=survey).annotate(
            last_event_at=Max("runs__created_at"), run_count=Count("runs")
        )
    )


def workflow(organization, public_id: str) -> Workflow | None:
    """The organization's workflow with this id, whoever may manage it: pass it to
    permissions.require_workflow."""
    return _all_workflows(organization).filter(public_id=public_id).first()


def workflow_for_trigger(organization, token: str, event_type: str) -> Workflow | None:
    """The workflow a trigger URL names, if it belongs to this organization."""
    if not token:
        return None
    return (
        Workflow.objects.select_related("survey__owner")
        .filter(organization=organization, trigger_token=token, event_type=event_type)
        .first()
    )


def trigger_url(workflow: Workflow) -> str:
    """The URL its event's sender posts to, on the server's public address
    (CLOSELOOP_BASE_URL: what Salesforce or Segment must reach, whatever host the editor was
    opened on); empty for events without one."""
    event_kind = registry.event_type(workflow.event_type)
    if event_kind is None or not event_kind.trigger_url_name:
        return ""
    path = reverse(event_kind.trigger_url_name, args=[workflow.trigger_token])
    return settings.CLOSELOOP_BASE_URL.rstrip("/") + path


def workflow_at_url(token: str, event_type: str) -> Workflow | None:
    """The workflow of any organization whose trigger URL carries this token: for events
    whose sender cannot authenticate otherwise (a Salesforce outbound message), the token
    is the secret, and the workflow's organization is the tenant."""
    if not token:
        return None
    return (
        Workflow.objects.select_related("organization", "owner")
        .filter(trigger_token=token, event_type=event_type)
        .first()
    )


def revisions_of(workflow: Workflow) -> QuerySet[WorkflowRevision]:
    return workflow.revisions.select_related("author").order_by("-number")


def revision(workflow: Workflow, number: int) -> WorkflowRevision | None:
    return revisions_of(workflow).filter(number=number).first()


def previous_revision(revision: WorkflowRevision) -> WorkflowRevision | None:
    return (
        WorkflowRevision.objects.filter(
            workflow_id=revision.workflow_id, number__lt=revision.number
        )
        .order_by("-number")
        .first()
    )


# Runs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFilter:
    workflow: Workflow | None = None
    status: str = ""
    since: date | None = None
    until: date | None = None
    text: str = ""


def parse_day(value: str | None) -> date | None:
    """A YYYY-MM-DD date from a filter, None when empty or not a date."""
    try:
        return date.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def runs(organization, user, filters: RunFilter | None = None) -> QuerySet[WorkflowRun]:
    """The runs of the workflows `user` may manage that the filter shows, newest first."""
    filters = filters or RunFilter()
    found = (
        WorkflowRun.objects.filter(organization=organization)
        .filter(permissions.manageable_filter(organization.pk, user, prefix="workflow__"))
        .select_related("workflow")
    )
    if filters.workflow is not None:
        found = found.filter(workflow=filters.workflow)
    if filters.status in RunStatus.values:
        found = found.filter(status=filters.status)
    if filters.since is not None:
        found = found.filter(created_at__gte=_day_start(filters.since))
    if filters.until is not None:
        found = found.filter(created_at__lt=_day_start(filters.until + timedelta(days=1)))
    text = filters.text.strip()[:MAX_SEARCH]
    if text:
        found = found.filter(payload__icontains=text)
    return found.order_by("-created_at", "-id")


def runs_page(
    organization, user, filters: RunFilter, *, before_id: int | None = None, limit=RUNS_PAGE
):
    """One page of runs, newest first (keyset on id), and the cursor of the next page."""
    found = runs(organization, user, filters).defer("payload", "definition").order_by("-id")
    if before_id is not None:
        found = found.filter(id__lt=before_id)
    rows = list(found[: limit + 1])
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].pk
    return rows, None


def run(organization, public_id: str) -> WorkflowRun | None:
    """The organization's run with this id: pass its workflow to
    permissions.require_workflow."""
    return (
        WorkflowRun.objects.select_related("workflow", "retried_by", "replay_of", "replayed_by")
        .filter(organization=organization, public_id=public_id)
        .first()
    )


def replays_of(run: WorkflowRun, limit: int = 20) -> list[WorkflowRun]:
    """The newest replays of a run."""
    return list(
        WorkflowRun.objects.filter(organization_id=run.organization_id, replay_of=run)
        .defer("payload", "definition", "fields")
        .order_by("-id")[:limit]
    )


def bulk_replay(organization, public_id: str) -> BulkReplay | None:
    """The organization's bulk replay with this id: pass it to
    permissions.require_bulk_replay."""
    return (
        BulkReplay.objects.select_related("created_by", "cancelled_by")
        .filter(organization=organization, public_id=public_id)
        .first()
    )


def recent_bulk_replays(organization, user, limit: int = 5) -> list[BulkReplay]:
    """The latest bulk replays `user` may see (an admin: all; anyone else: their own)."""
    return list(
        BulkReplay.objects.filter(organization=organization)
        .filter(permissions.bulk_replay_filter(organization.pk, user))
        .order_by("-id")[:limit]
    )


def run_of_workflow(workflow: Workflow, public_id: str) -> WorkflowRun | None:
    return (
        WorkflowRun.objects.select_related("workflow")
        .filter(organization_id=workflow.organization_id, workflow=workflow, public_id=public_id)
        .first()
    )


def task_runs_of(run: WorkflowRun) -> list[TaskRun]:
    """Every task attempt of the run, latest attempt (generation) first, in task order."""
    return list(
        TaskRun.objects.filter(organization_id=run.organization_id, run=run).order_by(
            "-generation", "position"
        )
    )


def status_counts(organization, user, workflow: Workflow | None = None) -> dict[str, int]:
    """How many runs of the workflows `user` may manage are in each status."""
    found = WorkflowRun.objects.filter(organization=organization).filter(
        permissions.manageable_filter(organization.pk, user, prefix="workflow__")
    )
    if workflow is not None:
        found = found.filter(workflow=workflow)
    counts = dict(found.values_list("status").annotate(count=Count("id")).order_by())
    return {status: counts.get(status, 0) for status in RunStatus.values}
