"""Organization-scoped reads of Segment sources, their workflows and their recent events.

Every function takes the organization (or something of it) first; another organization's ids
answer None, as unknown ids do. What a page lists of a source's workflows is what the user may
manage (closeloop.workflows.permissions, in SQL); one workflow read by id goes through
permissions.require_workflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from cryptography.fernet import InvalidToken

from closeloop.distributions.secrets import decrypt
from closeloop.integrations.segment.models import Endpoint, Source, SourceWorkflow
from closeloop.workflows import permissions as workflow_permissions
from closeloop.workflows import queries as workflow_queries
from closeloop.workflows.models import RunStatus, Workflow, WorkflowRun

EVENT_KEY = "segment"
RECENT_EVENTS = 50


class UnreadableSecret:
    """A secret stored with an encryption key this process no longer has."""


UNREADABLE = UnreadableSecret()


def sources_of(organization):
    return Source.objects.filter(organization=organization).select_related("directory")


def source_of(organization, public_id: str) -> Source | None:
    return sources_of(organization).filter(public_id=public_id).first()


def _links(source: Source):
    return (
        SourceWorkflow.objects.filter(source=source, workflow__organization=source.organization)
        .select_related("workflow", "workflow__survey")
        .order_by("id")
    )


def links_of(source: Source, user) -> list[SourceWorkflow]:
    """The source's use cases whose workflow `user` may manage, each with its workflow (in
    the order they were made)."""
    manageable = workflow_permissions.manageable_filter(
        source.organization_id, user, prefix="workflow__"
    )
    return list(_links(source).filter(manageable))


def unmanageable_links(source: Source, user) -> int:
    """How many of the source's workflows `user` may not manage (a change to the whole
    source, its shared secret or deleting it, needs none)."""
    manageable = workflow_permissions.manageable_filter(
        source.organization_id, user, prefix="workflow__"
    )
    return _links(source).count() - _links(source).filter(manageable).count()


def link_of(workflow: Workflow) -> SourceWorkflow | None:
    return (
        SourceWorkflow.objects.filter(
            workflow=workflow, source__organization_id=workflow.organization_id
        )
        .select_related("source")
        .first()
    )


def endpoint_of(workflow: Workflow) -> Endpoint | None:
    return Endpoint.objects.filter(
        workflow=workflow, organization_id=workflow.organization_id
    ).first()


def endpoints_of(workflows: list[Workflow]) -> dict[int, Endpoint]:
    found = Endpoint.objects.filter(workflow__in=workflows)
    return {endpoint.workflow_id: endpoint for endpoint in found}


def segment_workflow(organization, public_id: str) -> Workflow | None:
    """The organization's Segment-event workflow with this id: pass it to
    permissions.require_workflow."""
    found = workflow_queries.workflow(organization, public_id)
    return found if found is not None and found.event_type == EVENT_KEY else None


def workflow_at_url(token: str) -> Workflow | None:
    """The Segment-event workflow, of any organization, whose URL carries this token."""
    return workflow_queries.workflow_at_url(token, EVENT_KEY)


def secret_of(workflow: Workflow) -> str | UnreadableSecret | None:
    """The workflow's shared secret in clear; None when none is set; UNREADABLE when it was
    encrypted with a key that is no longer configured."""
    endpoint = endpoint_of(workflow)
    if endpoint is None or not endpoint.secret_encrypted:
        return None
    try:
        return decrypt(endpoint.secret_encrypted)
    except InvalidToken:
        return UNREADABLE


# Recent events -------------------------------------------------------------------------------


@dataclass
class SourceEvent:
    """One Segment event as it reached the source's workflows: a run per workflow it was sent
    to (matched by its messageId), keyed by the workflow's id."""

    key: str
    received_at: datetime
    type: str = ""
    name: str = ""
    person: str = ""
    runs: dict[int, WorkflowRun] = field(default_factory=dict)
    cells: list[WorkflowRun | None] = field(default_factory=list)  # one per link, in order


def _describe(event: SourceEvent, run: WorkflowRun) -> None:
    fields = run.fields or {}
    event.type = event.type or str(fields.get("type") or "")
    event.name = event.name or str(fields.get("event") or "")
    for name in ("traits.email", "context.traits.email", "userId", "anonymousId"):
        if not event.person and fields.get(name):
            event.person = str(fields[name])


def recent_events(source: Source, links: list[SourceWorkflow], limit: int = RECENT_EVENTS):
    """The latest events the source's workflows received, newest first, each with the run it
    started in every workflow (queued, skipped with the reason, succeeded or failed)."""
    workflow_ids = [link.workflow_id for link in links]
    if not workflow_ids:
        return []
    runs = (
        WorkflowRun.objects.filter(
            organization_id=source.organization_id, workflow_id__in=workflow_ids
        )
        .defer("payload", "definition")
        .order_by("-id")[: limit * len(workflow_ids)]
    )
    events: dict[str, SourceEvent] = {}
    for run in runs:
        key = run.dedup_key or run.public_id
        event = events.get(key)
        if event is None:
            if len(events) >= limit:
                continue
            event = events[key] = SourceEvent(key, run.created_at)
        event.runs.setdefault(run.workflow_id, run)
        event.received_at = min(event.received_at, run.created_at)
        _describe(event, run)
    for event in events.values():
        event.cells = [event.runs.get(workflow_id) for workflow_id in workflow_ids]
    return list(events.values())


def failed_runs(source: Source, links: list[SourceWorkflow], limit: int = 20):
    workflow_ids = [link.workflow_id for link in links]
    return list(
        WorkflowRun.objects.filter(
            organization_id=source.organization_id,
            workflow_id__in=workflow_ids,
            status=RunStatus.FAILED,
        )
        .select_related("workflow")
        .defer("payload", "definition")
        .order_by("-id")[:limit]
    )
