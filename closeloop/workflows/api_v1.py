"""/api/v1/workflows: keep workflows in version control, read runs, retry failed ones.

Register on the v1 API with `api.add_router("/workflows", router)`. The body of a create or
an update is the workflow definition (see closeloop.workflows.definition):

    {"name": "…", "enabled": true, "survey": null, "continueOnFailure": true,
     "event": {"type": "json", "config": {"fields": [{"name", "path", "type"}]}},
     "conditions": {"match": "all", "groups": […]},
     "tasks": [{"id": "TA_…" (optional on create), "type": "xm_directory", "name": "", "config": {…}}]}

A definition with problems answers 422 (code WF_04) listing each one in `errors`; warnings
(piped fields that will render empty) come back in the workflow's `warnings`.

The token's user is held to the workflow permissions (closeloop.workflows.permissions): the
list holds the workflows they may manage; a workflow they may not see is a 404, one they see
but may not manage a 403 (code AUTH_04) saying whom to ask; putting a workflow on a survey
needs Manage workflows on it (a survey they may not see is "no survey", a 422).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from closeloop.api import problems
from closeloop.api.auth import token_of
from closeloop.api.errors import ApiError, InvalidRequest, NotFound
from closeloop.surveys import queries as survey_queries
from closeloop.workflows import actions, mapping, permissions, queries, replays
from closeloop.workflows import definition as definitions
from closeloop.workflows.models import RunStatus

router = Router(tags=["Workflows"])

RUNS_PAGE_MAX = 100


class InvalidDefinition(ApiError):
    status, code = 422, "WF_04"
    default_message = "The workflow definition has problems."


class Conflict(ApiError):
    status, code = 409, "WF_05"
    default_message = "The run cannot be retried in its current state."


class CannotReplay(ApiError):
    status, code = 409, "WF_06"
    default_message = "The run cannot be replayed in its current state."


# Schemas -------------------------------------------------------------------------------------


class EventIn(Schema):
    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    type: str
    config: dict[str, Any] | None = None


class TaskIn(Schema):
    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    type: str
    name: str = ""
    config: dict[str, Any] | None = None


class WorkflowIn(Schema):
    model_config = ConfigDict(extra="forbid")
    name: str
    enabled: bool = True
    survey: str | None = None
    continueOnFailure: bool = True
    event: EventIn
    conditions: dict[str, Any] | None = None
    tasks: list[TaskIn] = []


class WorkflowPatch(Schema):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    enabled: bool | None = None
    survey: str | None = None
    continueOnFailure: bool | None = None
    event: EventIn | None = None
    conditions: dict[str, Any] | None = None
    tasks: list[TaskIn] | None = None


class Owner(Schema):
    id: str
    email: str


class EventOut(Schema):
    id: str
    type: str
    config: dict[str, Any]


class WorkflowOut(Schema):
    id: str
    name: str
    enabled: bool
    survey: str | None
    continueOnFailure: bool
    event: EventOut
    conditions: dict[str, Any]
    tasks: list[dict[str, Any]]
    owner: Owner | None
    revision: int
    triggerUrl: str | None
    createdAt: str
    modifiedAt: str
    warnings: list[str] = []


class WorkflowList(Schema):
    elements: list[WorkflowOut]


class TaskRunOut(Schema):
    taskId: str
    name: str
    type: str
    position: int
    attempt: int
    status: str
    attempts: int
    input: dict[str, Any]
    output: dict[str, Any]
    error: str
    reused: bool
    startedAt: str | None
    finishedAt: str | None
    nextRetryAt: str | None


class RunSummary(Schema):
    id: str
    workflowId: str
    status: str
    eventType: str
    source: str
    attempt: int
    receivedAt: str
    startedAt: str | None
    finishedAt: str | None
    skipReason: str
    error: str


class RunOut(RunSummary):
    idempotencyKey: str | None
    revision: int
    replayOf: str | None = Field(None, description="the run this one replays")
    fields: dict[str, Any]
    payload: Any
    tasks: list[TaskRunOut]


class RunPage(Schema):
    elements: list[RunSummary]
    nextPage: str | None


class RetryIn(Schema):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: Literal["start", "failedTask"] = Field("start", alias="from")


class ReplayIn(Schema):
    model_config = ConfigDict(extra="forbid")
    revision: Literal["current", "original"] = Field(
        "current", description="the workflow's current revision, or the one the run ran with"
    )


# Shapes --------------------------------------------------------------------------------------


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def workflow_out(request: HttpRequest, workflow, warnings: list[str] | None = None) -> dict:
    snapshot = definitions.snapshot(workflow)
    owner = workflow.owner
    return {
        "id": workflow.public_id,
        **{key: snapshot[key] for key in ("name", "enabled", "survey", "continueOnFailure")},
        "event": snapshot["event"],
        "conditions": snapshot["conditions"],
        "tasks": snapshot["tasks"],
        "owner": {"id": owner.public_id, "email": owner.email} if owner else None,
        "revision": workflow.revision,
        "triggerUrl": queries.trigger_url(workflow) or None,
        "createdAt": workflow.created_at.isoformat(),
        "modifiedAt": workflow.modified_at.isoformat(),
        "warnings": warnings or [],
    }


def run_summary(run) -> dict:
    return {
        "id": run.public_id,
        "workflowId": run.workflow.public_id,
        "status": run.status,
        "eventType": run.event_type,
        "source": run.source,
        "attempt": run.generation,
        "receivedAt": run.created_at.isoformat(),
        "startedAt": _iso(run.started_at),
        "finishedAt": _iso(run.finished_at),
        "skipReason": run.skip_reason,
        "error": run.error,
    }


def run_out(run) -> dict:
    try:
        payload = run.payload_document if run.payload else None
    except mapping.PayloadError:
        payload = run.payload
    tasks = [
        {
            "taskId": item.task_id,
            "name": item.name,
            "type": item.task_type,
            "position": item.position,
            "attempt": item.generation,
            "status": item.status,
            "attempts": item.attempts,
            "input": item.input,
            "output": item.output,
            "error": item.error,
            "reused": item.reused,
            "startedAt": _iso(item.started_at),
            "finishedAt": _iso(item.finished_at),
            "nextRetryAt": _iso(item.next_retry_at),
        }
        for item in queries.task_runs_of(run)
    ]
    return {
        **run_summary(run),
        "idempotencyKey": run.dedup_key,
        "revision": run.revision,
        "replayOf": run.replay_of.public_id if run.replay_of_id else None,
        "fields": run.fields,
        "payload": payload,
        "tasks": tasks,
    }


def _workflow_or_404(request: HttpRequest, workflow_id: str):
    """The workflow, if the token's user may manage it: 404 (as for an unknown id) or 403."""
    token = token_of(request)
    return permissions.require_workflow(
        queries.workflow(token.organization, workflow_id),
        token.user,
        not_found=f"No workflow {workflow_id} in this organization.",
    )


def _no_survey(survey_ref) -> InvalidDefinition:
    return _invalid(actions.InvalidWorkflow([f"There is no survey {survey_ref}."]))


def _chosen_survey(request: HttpRequest, survey_ref):
    """The survey a definition names, if the token's user may manage its workflows; one
    they may not see answers as an unknown one (422), one they see 403 with the reason."""
    if survey_ref in (None, ""):
        return None
    token = token_of(request)
    survey = survey_queries.survey_of(token.organization, str(survey_ref))
    if survey is None:
        raise _no_survey(survey_ref)
    try:
        return permissions.require_survey_choice(survey, token.user)
    except NotFound:
        raise _no_survey(survey_ref) from None


def _definition(body: Schema, *, exclude_unset: bool = False) -> dict:
    data = body.dict(exclude_unset=exclude_unset)
    if data.get("event") is not None:
        data["event"] = {k: v for k, v in data["event"].items() if v is not None or k == "config"}
    if data.get("tasks") is not None:
        data["tasks"] = [{k: v for k, v in task.items() if v is not None} for task in data["tasks"]]
    return data


def _invalid(error: actions.InvalidWorkflow) -> InvalidDefinition:
    return InvalidDefinition(
        " ".join(error.errors[:3]), details=[{"message": problem} for problem in error.errors]
    )


# Workflows -----------------------------------------------------------------------------------


@router.get("", response=problems.responses(WorkflowList), summary="List workflows")
def list_workflows(request, survey: str | None = None):
    token = token_of(request)
    workflows = queries.workflows_of(token.organization, token.user)
    if survey:
        workflows = workflows.filter(survey__public_id=survey)
    return {"elements": [workflow_out(request, workflow) for workflow in workflows]}


@router.post(
    "",
    response={201: WorkflowOut, 401: problems.Problem, 422: problems.Problem},
    summary="Create a workflow",
)
def create_workflow(request, body: WorkflowIn):
    token = token_of(request)
    _chosen_survey(request, body.survey)
    try:
        workflow, warnings = actions.create_workflow(
            token.organization, token.user, _definition(body)
        )
    except actions.InvalidWorkflow as error:
        raise _invalid(error) from None
    return Status(201, workflow_out(request, workflow, warnings))


@router.get(
    "/{workflow_id}", response=problems.responses(WorkflowOut, 404), summary="Get a workflow"
)
def get_workflow(request, workflow_id: str):
    return workflow_out(request, _workflow_or_404(request, workflow_id))


@router.put(
    "/{workflow_id}",
    response=problems.responses(WorkflowOut, 404, 422),
    summary="Replace a workflow's definition",
)
def replace_workflow(request, workflow_id: str, body: WorkflowIn):
    return _update(request, workflow_id, _definition(body))


@router.patch(
    "/{workflow_id}",
    response=problems.responses(WorkflowOut, 404, 422),
    summary="Change parts of a workflow's definition",
)
def patch_workflow(request, workflow_id: str, body: WorkflowPatch):
    return _update(request, workflow_id, _definition(body, exclude_unset=True))


def _update(request, workflow_id: str, changes: dict):
    workflow = _workflow_or_404(request, workflow_id)
    if "survey" in changes:
        survey = _chosen_survey(request, changes["survey"])
        permissions.may_change_survey(workflow, token_of(request).user, survey)
    try:
        workflow, warnings = actions.update_workflow(workflow, token_of(request).user, changes)
    except actions.InvalidWorkflow as error:
        raise _invalid(error) from None
    return workflow_out(request, workflow, warnings)


@router.delete(
    "/{workflow_id}",
    response={204: None, 401: problems.Problem, 404: problems.Problem},
    summary="Delete a workflow with its runs",
)
def delete_workflow(request, workflow_id: str):
    workflow = _workflow_or_404(request, workflow_id)
    actions.delete_workflow(workflow, token_of(request).user)
    return Status(204, None)


# Runs ----------------------------------------------------------------------------------------


class RunParams(Schema):
    status: str | None = None
    since: date | None = None
    until: date | None = None
    q: str | None = None
    before: str | None = None
    pageSize: int = Query(50, ge=1, le=RUNS_PAGE_MAX)


@router.get(
    "/{workflow_id}/runs",
    response=problems.responses(RunPage, 404),
    summary="List a workflow's runs, newest first",
)
def list_runs(request, workflow_id: str, params: Query[RunParams]):
    workflow = _workflow_or_404(request, workflow_id)
    if params.status and params.status not in RunStatus.values:
        raise InvalidRequest(f"status must be one of {', '.join(RunStatus.values)}.")
    before_id = None
    if params.before:
        before_id = _cursor(workflow, params.before)
    filters = queries.RunFilter(
        workflow=workflow,
        status=params.status or "",
        since=params.since,
        until=params.until,
        text=params.q or "",
    )
    rows, next_cursor = queries.runs_page(
        workflow.organization,
        token_of(request).user,
        filters,
        before_id=before_id,
        limit=params.pageSize,
    )
    next_page = None
    if next_cursor is not None:
        cursor_run = rows[-1].public_id
        query = request.GET.copy()
        query["before"] = cursor_run
        next_page = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
    return {"elements": [run_summary(run) for run in rows], "nextPage": next_page}


def _cursor(workflow, run_id: str) -> int:
    run = queries.run_of_workflow(workflow, run_id)
    if run is None:
        raise InvalidRequest("before must be the id of a run of this workflow.")
    return run.pk


def _run_or_404(request, workflow_id: str, run_id: str):
    workflow = _workflow_or_404(request, workflow_id)
    run = queries.run_of_workflow(workflow, run_id)
    if run is None:
        raise NotFound(f"No run {run_id} of workflow {workflow_id}.")
    return run


@router.get(
    "/{workflow_id}/runs/{run_id}",
    response=problems.responses(RunOut, 404),
    summary="Get a run: payload, fields, every task attempt",
)
def get_run(request, workflow_id: str, run_id: str):
    return run_out(_run_or_404(request, workflow_id, run_id))


@router.post(
    "/{workflow_id}/runs/{run_id}/retry",
    response={202: RunOut, 401: problems.Problem, 404: problems.Problem, 409: problems.Problem},
    summary="Retry a failed run from the start or from the failed task",
)
def retry_run(request, workflow_id: str, run_id: str, body: RetryIn | None = None):
    run = _run_or_404(request, workflow_id, run_id)
    from_failed = body is not None and body.from_ == "failedTask"
    try:
        run = actions.retry_run(run, token_of(request).user, from_failed_task=from_failed)
    except actions.CannotRetry as error:
        raise Conflict(str(error)) from None
    run = queries.run(token_of(request).organization, run.public_id)
    return Status(202, run_out(run))


@router.post(
    "/{workflow_id}/runs/{run_id}/replay",
    response={202: RunOut, 401: problems.Problem, 404: problems.Problem, 409: problems.Problem},
    summary="Replay a finished run from the start as a new run (the original is unchanged)",
)
def replay_run(request, workflow_id: str, run_id: str, body: ReplayIn | None = None):
    run = _run_or_404(request, workflow_id, run_id)
    revision = body.revision if body is not None else "current"
    try:
        replay = replays.replay_run(run, token_of(request).user, definition=revision)
    except replays.CannotReplay as error:
        raise CannotReplay(str(error)) from None
    return Status(202, run_out(queries.run(token_of(request).organization, replay.public_id)))
