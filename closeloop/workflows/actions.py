"""Every write to workflows and their runs that a user can see goes through a function here.

Invalid definitions raise InvalidWorkflow (a ValueError) with every problem in plain words,
before anything is written. The run-side writes made by the worker are in engine.py.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from closeloop.accounts import audit
from closeloop.jobs.actions import enqueue, new_job
from closeloop.surveys import queries as survey_queries
from closeloop.surveys.models import Survey
from closeloop.workflows import definition as definitions
from closeloop.workflows import registry, run_insert
from closeloop.workflows.builtin.survey_response import response_event
from closeloop.workflows.models import (
    FINISHED_RUN_STATUSES,
    RunStatus,
    TaskRun,
    TaskStatus,
    Workflow,
    WorkflowRevision,
    WorkflowRun,
    new_run_id,
    new_task_id,
    new_trigger_token,
)

log = logging.getLogger("closeloop.workflows")

RUN_JOB = "workflows.run"
TASK_JOB = "workflows.task"
TASK_IO_JOB = "workflows.task_io"
DEFAULT_RETENTION_DAYS = 90
CAPTURE_MINUTES = 10
MAX_DEDUP_KEY = 255

DEFINITION_KEYS = ("name", "enabled", "survey", "continueOnFailure", "event", "conditions", "tasks")


class InvalidWorkflow(ValueError):
    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__(" ".join(errors[:5]))


class CannotRetry(ValueError):
    pass


def retention_days() -> int:
    """The server's ceiling for workflow runs (an organization may keep them for less)."""
    return int(getattr(settings, "CLOSELOOP_WORKFLOW_RUN_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))


# Definitions ---------------------------------------------------------------------------------


def _survey_for(organization, survey_ref):
    """The survey a definition names (public id or a Survey), of this organization."""
    if survey_ref in (None, ""):
        return None
    if isinstance(survey_ref, Survey):
        survey = survey_ref if survey_ref.organization_id == organization.pk else None
    else:
        survey = survey_queries.survey_of(organization, str(survey_ref))
    if survey is None:
        raise InvalidWorkflow([f"There is no survey {survey_ref}."])
    return survey


def normalize(raw: Mapping) -> dict:
    """Defaults filled in, configs cleaned by their types, missing task ids assigned."""
    unknown = sorted(set(raw) - set(DEFINITION_KEYS) - {"id", "owner", "revision", "triggerUrl"})
    if unknown:
        raise InvalidWorkflow([f"A workflow has no setting {name!r}." for name in unknown])
    event = raw.get("event") or {}
    if not isinstance(event, Mapping):
        raise InvalidWorkflow(["The event must be an object with type and config."])
    event_kind = registry.event_type(event.get("type", ""))
    config = event.get("config")
    if config is None and event_kind is not None:
        config = event_kind.default_config()
    if event_kind is not None and isinstance(config, Mapping):
        config = event_kind.clean_config(config)
    tasks = raw.get("tasks") or []
    if isinstance(tasks, list):
        tasks = [_normalize_task(task) for task in tasks]
    enabled, continue_on_failure = raw.get("enabled", True), raw.get("continueOnFailure", True)
    problems = [
        f"{key} must be true or false."
        for key, value in (("enabled", enabled), ("continueOnFailure", continue_on_failure))
        if not isinstance(value, bool)
    ]
    if problems:
        raise InvalidWorkflow(problems)
    name = raw.get("name")
    return {
        "name": name.strip() if isinstance(name, str) else name,
        "enabled": enabled,
        "survey": raw.get("survey"),
        "continueOnFailure": continue_on_failure,
        "event": {"id": event.get("id") or "", "type": event.get("type"), "config": config},
        "conditions": raw.get("conditions") or {"match": "all", "groups": []},
        "tasks": tasks,
    }


def _normalize_task(task: object) -> object:
    if not isinstance(task, Mapping):
        return task
    task_kind = registry.task_type(task.get("type", ""))
    config = task.get("config")
    if config is None and task_kind is not None:
        config = task_kind.default_config()
    if task_kind is not None and isinstance(config, Mapping):
        config = task_kind.clean_config(config)
    normalized = {
        "id": task.get("id") or new_task_id(),
        "type": task.get("type"),
        "name": str(task.get("name") or "").strip()[:200],
        "config": config,
    }
    unknown = sorted(set(task) - set(normalized))
    if unknown:
        raise InvalidWorkflow([f"A task has no setting {name!r}." for name in unknown])
    return normalized


def _checked(organization, definition: dict, survey) -> list[str]:
    result = definitions.check(definition, organization=organization, survey=survey)
    if result.errors:
        raise InvalidWorkflow(result.errors)
    return result.warnings


def _check_editor(before: Mapping | None, definition: dict, workflow: Workflow, user) -> None:
    problems = definitions.edit_problems(before, definition, workflow=workflow, editor=user)
    if problems:
        raise InvalidWorkflow(problems)


def _apply(workflow: Workflow, definition: dict, survey) -> None:
    workflow.name = definition["name"]
    workflow.enabled = definition["enabled"]
    workflow.survey = survey
    workflow.continue_on_failure = definition["continueOnFailure"]
    workflow.event_type = definition["event"]["type"]
    workflow.event_config = definition["event"]["config"]
    workflow.conditions = definition["conditions"]
    workflow.tasks = definition["tasks"]


def create_workflow(organization, user, raw: Mapping) -> tuple[Workflow, list[str]]:
    """A new workflow owned by `user` (the account it runs as). Returns it and the warnings."""
    definition = normalize(raw)
    survey = _survey_for(organization, definition["survey"])
    workflow = Workflow(organization=organization, owner=user, modified_by=user)
    if definition["event"]["id"]:
        workflow.event_id = definition["event"]["id"]
    definition["event"]["id"] = workflow.event_id
    warnings = _checked(organization, definition, survey)
    _check_editor(None, definition, workflow, user)
    _apply(workflow, definition, survey)
    with transaction.atomic():
        workflow.save()
        WorkflowRevision.objects.create(
            workflow=workflow,
            number=1,
            author=user,
            summary="Created",
            definition=definitions.snapshot(workflow),
        )
        audit.record(organization, user, "workflow.created", target=workflow, summary=workflow.name)
    log.info("workflow %s created by %s", workflow.public_id, getattr(user, "public_id", user))
    return workflow, warnings


def _summary(before: Mapping, after: Mapping) -> str:
    labels = {
        "name": "name",
        "enabled": "enabled",
        "survey": "survey",
        "continueOnFailure": "failure setting",
        "event": "event",
        "conditions": "conditions",
        "tasks": "tasks",
    }
    changed = [label for key, label in labels.items() if before.get(key) != after.get(key)]
    return ("Changed " + ", ".join(changed))[:200] if changed else "No change"


def update_workflow(workflow: Workflow, user, changes: Mapping) -> tuple[Workflow, list[str]]:
    """Replace the parts of the definition given in `changes`; the owner never changes.

    Adds a revision when something changed. Returns the workflow and the warnings.
    """
    with transaction.atomic():
        locked = (
            Workflow.objects.select_for_update(of=("self",))
            .select_related("survey")
            .get(pk=workflow.pk)
        )
        before = definitions.snapshot(locked)
        merged = {**before, **dict(changes)}
        if "event" in changes and isinstance(changes["event"], Mapping):
            event = dict(changes["event"])
            if event.get("id") not in (None, "", locked.event_id):
                raise InvalidWorkflow(["The event id cannot be changed."])
            event["id"] = locked.event_id
            if event.get("type") != locked.event_type and "config" not in event:
                event["config"] = None
            merged["event"] = event
        definition = normalize(merged)
        definition["event"]["id"] = locked.event_id
        survey = _survey_for(locked.organization, definition["survey"])
        warnings = _checked(locked.organization, definition, survey)
        _check_editor(before, definition, locked, user)
        _apply(locked, definition, survey)
        after = definitions.snapshot(locked)
        if after != before:
            locked.revision += 1
            locked.modified_at = timezone.now()
            locked.modified_by = user
            locked.save()
            summary = _summary(before, after)
            WorkflowRevision.objects.create(
                workflow=locked,
                number=locked.revision,
                author=user,
                summary=summary,
                definition=after,
            )
            _audit_change(locked, user, summary, enabled=after.get("enabled"))
    return locked, warnings


def _audit_change(workflow: Workflow, user, summary: str, *, enabled) -> None:
    if summary == "Changed enabled":
        action = "workflow.enabled" if enabled else "workflow.disabled"
    else:
        action = "workflow.changed"
    audit.record(
        workflow.organization,
        user,
        action,
        target=workflow,
        summary=f"{workflow.name}: {summary} (revision {workflow.revision})",
        revision=workflow.revision,
    )


def set_enabled(workflow: Workflow, user, enabled: bool) -> Workflow:
    return update_workflow(workflow, user, {"enabled": bool(enabled)})[0]


def delete_workflow(workflow: Workflow, user=None) -> None:
    """Delete the workflow with its revisions and runs."""
    public_id = workflow.public_id
    with transaction.atomic():
        audit.record(
            workflow.organization,
            user,
            "workflow.deleted",
            target=("workflow", public_id),
            summary=workflow.name,
        )
        workflow.delete()
    log.info("workflow %s deleted by %s", public_id, getattr(user, "public_id", user))


def rotate_trigger_token(workflow: Workflow) -> Workflow:
    """A new trigger URL; the old one stops working at once."""
    workflow.trigger_token = new_trigger_token()
    workflow.save(update_fields=["trigger_token"])
    return workflow


def save_sample_payload(workflow: Workflow, text: str) -> Workflow:
    workflow.sample_payload = text
    workflow.save(update_fields=["sample_payload"])
    return workflow


# Capture mode: "listen for a test event" -----------------------------------------------------


def start_capture(workflow: Workflow, now: datetime | None = None) -> Workflow:
    """The next event that arrives within CAPTURE_MINUTES is stored, not run."""
    now = now or timezone.now()
    workflow.capture_until = now + timedelta(minutes=CAPTURE_MINUTES)
    workflow.captured_payload = ""
    workflow.captured_at = None
    workflow.save(update_fields=["capture_until", "captured_payload", "captured_at"])
    return workflow


def stop_capture(workflow: Workflow) -> Workflow:
    workflow.capture_until = None
    workflow.save(update_fields=["capture_until"])
    return workflow


def capture_event(workflow: Workflow, payload_text: str) -> bool:
    """Store the payload as the captured test event if the workflow is listening."""
    now = timezone.now()
    captured = Workflow.objects.filter(pk=workflow.pk, capture_until__gt=now).update(
        capture_until=None, captured_payload=payload_text, captured_at=now
    )
    return bool(captured)


# Runs ----------------------------------------------------------------------------------------


def enqueue_run(run: WorkflowRun) -> None:
    # A first attempt's job is enqueued with the run it belongs to, so it needs no key (and
    # saves the key's savepoint on the hot path); a retry's job is keyed by its attempt.
    key = None if run.generation == 1 else f"{RUN_JOB}:{run.public_id}:{run.generation}"
    enqueue(
        RUN_JOB,
        {"run": run.pk, "generation": run.generation},
        idempotency_key=key,
        organization=run.organization_id,
    )


def enqueue_task(task_run: TaskRun, run: WorkflowRun, run_after: datetime | None = None) -> None:
    """Queue one attempt of a task. Atomic task types run in the worker's transaction; others
    (remote calls) outside it."""
    task_kind = registry.task_type(task_run.task_type)
    kind = TASK_JOB if task_kind is None or task_kind.atomic else TASK_IO_JOB
    enqueue(
        kind,
        {"run": run.pk, "task_run": task_run.pk},
        idempotency_key=(
            f"{TASK_JOB}:{run.public_id}:{task_run.generation}:{task_run.task_id}:"
            f"{task_run.attempts}"
        ),
        run_after=run_after,
        organization=run.organization_id,
    )


def start_run(
    workflow: Workflow,
    *,
    payload: str,
    fields: Mapping,
    dedup_key: str | None = None,
    source: str = "",
) -> tuple[WorkflowRun, bool]:
    """Record an event's run and queue it, in one transaction: (run, created).

    With a dedup key already used by this workflow nothing is added and the original run is
    returned. A disabled workflow records the run as skipped.
    """
    if dedup_key is not None and len(dedup_key) > MAX_DEDUP_KEY:
        raise ValueError(f"A deduplication key is at most {MAX_DEDUP_KEY} characters.")
    now = timezone.now()
    run = WorkflowRun(
        organization_id=workflow.organization_id,
        workflow=workflow,
        event_type=workflow.event_type,
        source=source,
        payload=payload,
        fields=dict(fields),
        dedup_key=dedup_key,
        definition=definitions.snapshot(workflow),
        revision=workflow.revision,
        created_at=now,
    )
    if not workflow.enabled:
        run.status = RunStatus.SKIPPED
        run.skip_reason = "The workflow was disabled when the event arrived."
        run.finished_at = now
    if run.status == RunStatus.QUEUED and connection.vendor == "postgresql":
        job = new_job(RUN_JOB, organization=run.organization_id, now=now)
        if run_insert.insert_run_and_job(run, job):
            return run, True
        existing = _run_with_key(workflow, dedup_key)
        if existing is None:  # deleted since: rare enough to let the sender retry
            raise IntegrityError("The run with this deduplication key could not be read.")
        return existing, False
    try:
        # Nested in a caller's transaction this is a savepoint, so a duplicate key leaves the
        # caller's transaction usable.
        with transaction.atomic():
            run.save(force_insert=True)
            if run.status == RunStatus.QUEUED:
                enqueue_run(run)
    except IntegrityError:
        existing = _run_with_key(workflow, dedup_key)
        if existing is None:
            raise
        return existing, False
    return run, True


def start_runs(workflow: Workflow, events: list[tuple[str, Mapping, str]], *, source: str) -> int:
    """Record many events of one delivery, each (payload, fields, dedup key), and queue them,
    all or none: how many runs were new (a key the workflow already used starts nothing)."""
    for _payload, _fields, dedup_key in events:
        if not dedup_key or len(dedup_key) > MAX_DEDUP_KEY:
            raise ValueError(
                f"Each event needs a deduplication key of 1 to {MAX_DEDUP_KEY} characters."
            )
    if not workflow.enabled or connection.vendor != "postgresql":
        with transaction.atomic():
            return sum(
                start_run(workflow, payload=payload, fields=fields, dedup_key=key, source=source)[1]
                for payload, fields, key in events
            )
    now = timezone.now()
    # One run built as the model says; the others differ only in what each event brings
    # (building 100 model instances cost more than the statement that inserts them).
    template = WorkflowRun(
        organization_id=workflow.organization_id,
        workflow=workflow,
        event_type=workflow.event_type,
        source=source,
        definition=definitions.snapshot(workflow),
        revision=workflow.revision,
        created_at=now,
    )
    rows = [
        {"public_id": new_run_id(), "payload": payload, "fields": fields, "dedup_key": key}
        for payload, fields, key in events
    ]
    job = new_job(RUN_JOB, organization=workflow.organization_id, now=now)
    return len(run_insert.insert_run_rows(template, rows, job))


def _run_with_key(workflow: Workflow, dedup_key: str | None) -> WorkflowRun | None:
    if dedup_key is None:
        return None
    return WorkflowRun.objects.filter(workflow=workflow, dedup_key=dedup_key).first()


def retry_run(run: WorkflowRun, user=None, *, from_failed_task: bool = False) -> WorkflowRun:
    """Run a failed run again with the workflow's current definition.

    From the start: the conditions and every task run again (the event's fields are mapped
    again from the stored payload). From the failed task: tasks that succeeded in the last
    attempt keep their output, and the run resumes at the first task that did not succeed.
    """
    with transaction.atomic():
        run = WorkflowRun.objects.select_for_update().get(pk=run.pk)
        if run.status != RunStatus.FAILED:
            raise CannotRetry(
                f"Only failed runs can be retried; this one is {run.status}. Replay it instead."
            )
        if run.payload_erased_at is not None:
            raise CannotRetry("This run's payload was erased (retention); it cannot be retried.")
        workflow = Workflow.objects.select_related("survey").get(pk=run.workflow_id)
        previous = {
            task_run.task_id: task_run
            for task_run in TaskRun.objects.filter(run=run, generation=run.generation)
        }
        definition = definitions.snapshot(workflow)
        run.generation += 1
        run.definition = definition
        run.revision = workflow.revision
        run.error = ""
        run.skip_reason = ""
        run.finished_at = None
        run.retried_by = user
        if not from_failed_task:
            run.status = RunStatus.QUEUED
            run.save()
            enqueue_run(run)
            return run
        task_runs = _task_runs_resuming(run, definition["tasks"], previous)
        if not task_runs:
            raise CannotRetry("Every task already succeeded; retry from the start instead.")
        run.status = RunStatus.RUNNING
        run.save()
        TaskRun.objects.bulk_create(task_runs)
        first = next(task_run for task_run in task_runs if task_run.status == TaskStatus.QUEUED)
        first = TaskRun.objects.get(run=run, generation=run.generation, task_id=first.task_id)
        enqueue_task(first, run)
    return run


def new_task_run(
    run: WorkflowRun, task: Mapping, position: int, *, now: datetime, status: str
) -> TaskRun:
    """The (unsaved) TaskRun of one task of the definition, for the run's current attempt:
    the one builder of both first runs (engine) and retries."""
    return TaskRun(
        organization_id=run.organization_id,
        run=run,
        generation=run.generation,
        task_id=task["id"],
        task_type=task["type"],
        name=definitions.task_label(task, position),
        position=position,
        status=status,
        created_at=now,
    )


def _task_runs_resuming(run: WorkflowRun, tasks: list, previous: dict) -> list[TaskRun]:
    now = timezone.now()
    task_runs, resuming = [], False
    for position, task in enumerate(tasks):
        task_run = new_task_run(run, task, position, now=now, status=TaskStatus.PENDING)
        earlier = previous.get(task["id"])
        if not resuming and earlier is not None and earlier.status == TaskStatus.SUCCEEDED:
            task_run.status = TaskStatus.SUCCEEDED
            task_run.input, task_run.output = earlier.input, earlier.output
            task_run.attempts = earlier.attempts
            task_run.started_at, task_run.finished_at = earlier.started_at, earlier.finished_at
            task_run.reused = True
        elif not resuming:
            resuming = True
            task_run.status = TaskStatus.QUEUED
        task_runs.append(task_run)
    return task_runs if resuming else []


def delete_old_runs(before: datetime, batch: int = 1000, *, organization=None) -> int:
    """Workflow reporting retention: forget finished runs received before `before` (of one
    organization, or of all; closeloop.workflows.retention applies each one's setting)."""
    deleted_total = 0
    old = WorkflowRun.objects.filter(created_at__lt=before, status__in=FINISHED_RUN_STATUSES)
    if organization is not None:
        old = old.filter(organization=organization)
    while True:
        ids = list(old.values_list("id", flat=True)[:batch])
        if not ids:
            return deleted_total
        with transaction.atomic():
            TaskRun.objects.filter(run_id__in=ids).delete()
            deleted, _ = WorkflowRun.objects.filter(id__in=ids).delete()
        deleted_total += deleted


# The survey response event -------------------------------------------------------------------


def survey_response_finished(response) -> list[WorkflowRun]:
    """Start the survey's "survey response" workflows for a recorded response.

    Called by the surveys.response_finished job (in its transaction, through the
    response_recorded signal), once per response; each workflow runs at most once per
    response however often it is called.
    """
    workflows = Workflow.objects.filter(
        organization_id=response.organization_id,
        survey_id=response.survey_id,
        event_type="survey_response",
    ).order_by("id")
    started = []
    payload = fields = None
    for workflow in workflows:
        if not response.finished and not (workflow.event_config or {}).get("includePartial"):
            continue
        if payload is None:
            payload, fields = response_event(response)
        run, _created = start_run(
            workflow,
            payload=payload,
            fields=fields,
            dedup_key=f"response:{response.public_id}",
            source="survey",
        )
        started.append(run)
    return started


def on_response_recorded(sender, response, **_signal_arguments) -> None:
    """closeloop.surveys.signals.response_recorded's receiver (connected in apps.py)."""
    survey_response_finished(response)
