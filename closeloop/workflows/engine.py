"""The worker's side of a run: conditions, then the tasks in order.

- `workflows.run` {run, generation} (atomic): map the fields again on a retry from the
  start, evaluate the conditions (a failing check makes the run *skipped* with the reason),
  create the TaskRuns of this attempt and start the first task. Atomic tasks run at once in
  this job's transaction, one after the other, so that each task's effects, its output and
  the next task's start commit together or not at all: a worker killed mid-task leaves
  nothing behind and the job runs again. The chain stops at a task that calls a remote
  system or waits for a retry; that one gets a job of its own.
  The worker hands the run jobs it claimed together to process_runs: one lock for all the
  runs, and first tasks whose type has run_many (the XM Directory task's bulk upsert) done
  together, with the same outcome for each run as alone.
- `workflows.task` {run, task_run} (atomic): an atomic task's retry, or the task a run
  retried from its failed task resumes at, in the worker's transaction as above.
- `workflows.task_io` {run, task_run} (not atomic): for task types that call remote systems.
  The attempt is recorded first, the task runs outside any transaction, then its outcome is
  recorded; such task types make their side effects idempotent with the context's key.

A transient failure records the attempt as *retrying* and queues a new job at the backoff
time (closeloop.jobs.backoff, up to the retry horizon); a permanent one fails the task, and
the workflow's continue-on-failure setting decides whether the next tasks run.
"""

from __future__ import annotations

import json
import logging
import random

from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from closeloop.jobs import backoff
from closeloop.jobs.registry import PermanentError, RetryLater
from closeloop.surveys.models import Survey
from closeloop.workflows import (
    actions,
    conditions,
    lookup_cache,
    mapping,
    piped,
    registry,
    rows,
)
from closeloop.workflows import definition as definitions
from closeloop.workflows.models import (
    RunStatus,
    TaskRun,
    TaskStatus,
    Workflow,
    WorkflowRun,
)

log = logging.getLogger("closeloop.workflows")

ERROR_LIMIT = 4000
ACTIVE_TASK_STATUSES = (TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.RETRYING)
TASK_RUN_OUTCOME_FIELDS = (
    "status",
    "input",
    "output",
    "error",
    "attempts",
    "next_retry_at",
    "started_at",
    "finished_at",
)
RUN_OUTCOME_FIELDS = ("status", "error", "finished_at", "started_at", "fields", "skip_reason")


def describe(error: BaseException) -> str:
    """A failure in one line for workflow reporting."""
    if isinstance(error, PermanentError | ValueError) and str(error):
        text = str(error)
    else:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text[:ERROR_LIMIT]


def is_permanent(error: BaseException) -> bool:
    if isinstance(error, RetryLater):
        return False
    return isinstance(error, PermanentError | ValueError | TypeError | KeyError)


# The run job ---------------------------------------------------------------------------------


def process_run(run_id: int, generation: int, job_attempts: int = 1) -> None:
    run = _locked_run(run_id)
    if run is not None:
        _process_locked_run(run, generation, job_attempts)


def process_runs(items: list[tuple[int, int, int]]) -> None:
    """process_run for many (run, generation, job attempts) at once: the runs are locked in
    one statement, and first tasks whose type can run many together (TaskType.run_many, the
    XM Directory task's contact upserts) do so once their runs are all prepared. Each run's
    conditions, outcome and reporting are those process_run gives it."""
    ids = sorted({run_id for run_id, _generation, _attempts in items})
    # Locked in id order, as every worker does, so that two batches cannot deadlock.
    locked = WorkflowRun.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    runs = {run.pk: run for run in locked}
    first_tasks = _FirstTasks()
    for run_id, generation, job_attempts in items:
        run = runs.get(run_id)
        if run is not None:
            _process_locked_run(run, generation, job_attempts, first_tasks)
    first_tasks.run_all()


def _process_locked_run(
    run: WorkflowRun, generation: int, job_attempts: int, first_tasks: _FirstTasks | None = None
) -> None:
    if run.generation != generation or run.status != RunStatus.QUEUED:
        return  # superseded by a retry, or already processed
    now = timezone.now()
    run.started_at = run.started_at or now
    definition = run.definition
    event = definition.get("event") or {}
    event_kind = registry.event_type(event.get("type", ""))
    survey = _survey_of(run) if event_kind is not None and event_kind.needs_survey else None
    if run.generation > 1 and event_kind is not None:
        try:
            fields = event_kind.remap(run, event.get("config") or {})
        except ValueError as error:
            _finish(run, RunStatus.FAILED, error=f"The event's fields could not be mapped: {error}")
            return
        if fields is not None:
            run.fields = fields
    types = definitions.field_types(event.get("type", ""), event.get("config") or {}, survey=survey)
    outcome = conditions.evaluate(definition.get("conditions"), run.fields, types)
    if not outcome.passed:
        run.skip_reason = outcome.reason
        _finish(run, RunStatus.SKIPPED)
        return
    tasks = definition.get("tasks") or []
    if not tasks:
        _finish(run, RunStatus.SUCCEEDED)
        return
    run.status = RunStatus.RUNNING
    task_runs = _new_task_runs(run, tasks, now)
    if first_tasks is not None and first_tasks.defer(run, task_runs, job_attempts):
        return
    # A killed worker's lost attempt of the run job was also an attempt of its first task.
    _start_first_task(run, task_runs, job_attempts)
    _save_started(run)


def _save_started(run: WorkflowRun) -> None:
    if run.finished_at is None:  # a run its tasks finished is saved already
        run.save(update_fields=["status", "started_at", "fields"])


class _FirstTasks:
    """First tasks of many runs, held back to run together by their task type's run_many."""

    def __init__(self):
        self.waiting: dict[str, list[tuple[WorkflowRun, list[TaskRun], int, object]]] = {}

    def defer(self, run: WorkflowRun, task_runs: list[TaskRun], job_attempts: int) -> bool:
        first = task_runs[0]
        task_kind = registry.task_type(first.task_type)
        if task_kind is None or not task_kind.atomic or not hasattr(task_kind, "run_many"):
            return False
        try:
            _kind, context = build_context(run, first, first.attempts + max(1, job_attempts))
        except Exception:
            return False  # the task fails as process_run would fail it
        self.waiting.setdefault(first.task_type, []).append((run, task_runs, job_attempts, context))
        return True

    def run_all(self) -> None:
        for task_type, waiting in self.waiting.items():
            outputs = self._run_many(registry.task_type(task_type), [w[3] for w in waiting])
            succeeded = []
            for (run, task_runs, job_attempts, context), output in zip(
                waiting, outputs, strict=True
            ):
                if output is None:  # left to run on its own, exactly as process_run does
                    _start_first_task(run, task_runs, job_attempts)
                    _save_started(run)
                else:
                    _set_first_succeeded(task_runs[0], job_attempts, context, output)
                    succeeded.append((run, task_runs))
            _record_first_successes(succeeded)
        self.waiting = {}

    def _run_many(self, task_kind, contexts: list) -> list:
        """Each context's output, or None for those to run alone (all of them if the batch
        failed: its writes are undone with its savepoint)."""
        try:
            with transaction.atomic():
                return [
                    None if output is None else _json_safe(output)
                    for output in task_kind.run_many(contexts)
                ]
        except Exception as error:
            log.info("%s tasks could not run together (%s); each runs alone", task_kind.key, error)
            return [None] * len(contexts)


def _set_first_succeeded(first: TaskRun, job_attempts: int, context, output: dict) -> None:
    first.started_at = first.started_at or timezone.now()
    first.attempts += max(1, job_attempts)
    first.input = context.config
    _set_succeeded(first, output)


def _record_first_successes(succeeded: list[tuple[WorkflowRun, list[TaskRun]]]) -> None:
    """The TaskRuns of runs whose first task succeeded, in one INSERT; runs that task ends
    (a single task, no fields mapped again) finished in one UPDATE; the others go on."""
    _insert([task_run for _run, task_runs in succeeded for task_run in task_runs])
    done = []
    for run, task_runs in succeeded:
        if len(task_runs) == 1 and run.generation == 1:
            done.append(run)
        else:
            _advance(run, task_runs[0], failed=False)
            _save_started(run)
    _finish_succeeded(done)


def _finish_succeeded(runs: list[WorkflowRun]) -> None:
    """_finish(run, SUCCEEDED) for many runs (their fields and skip reason are as stored)."""
    if not runs:
        return
    now = timezone.now()
    started = min(run.started_at for run in runs)
    for run in runs:
        run.status, run.error, run.finished_at = RunStatus.SUCCEEDED, "", now
    WorkflowRun.objects.filter(pk__in=[run.pk for run in runs]).update(
        status=RunStatus.SUCCEEDED,
        error="",
        finished_at=now,
        started_at=Coalesce(F("started_at"), Value(started)),
    )


def _new_task_runs(run: WorkflowRun, tasks: list, now) -> list[TaskRun]:
    return [
        actions.new_task_run(
            run,
            task,
            position,
            now=now,
            status=TaskStatus.QUEUED if position == 0 else TaskStatus.PENDING,
        )
        for position, task in enumerate(tasks)
    ]


def _start_first_task(run: WorkflowRun, task_runs: list[TaskRun], job_attempts: int) -> None:
    """Insert the attempt's TaskRuns and start the first task. An atomic first task runs
    before the insert, so that a success is inserted as such (one statement, not two)."""
    first = task_runs[0]
    task_kind = registry.task_type(first.task_type)
    if task_kind is None or not task_kind.atomic:
        _insert(task_runs)
        actions.enqueue_task(first, run)
        return
    output, error = _execute(run, first, job_attempts)
    if error is None:
        _set_succeeded(first, output)
    _insert(task_runs)
    if error is None:
        _advance(run, first, failed=False)
    else:
        _record_failure(run, first, error)


def _insert(task_runs: list[TaskRun]) -> None:
    rows.insert_many(task_runs)


def _locked_run(run_id: int) -> WorkflowRun | None:
    return rows.locked(WorkflowRun, run_id)


def _start_task(run: WorkflowRun, task_run: TaskRun) -> None:
    """Run an atomic task at once, in the transaction in hand; queue any other as a job.

    Running it here rather than as a job of its own saves a job's enqueue, claim and
    completion and the re-reads of the run, and changes nothing else: its writes, its
    outcome and the next task's start still commit together or not at all.
    """
    task_kind = registry.task_type(task_run.task_type)
    if task_kind is None or not task_kind.atomic:
        actions.enqueue_task(task_run, run)
        return
    _attempt(run, task_run, job_attempts=1)


def _survey_of(run: WorkflowRun):
    survey_id = (
        Workflow.objects.filter(pk=run.workflow_id).values_list("survey_id", flat=True).first()
    )
    if survey_id is None:
        return None
    return Survey.objects.filter(pk=survey_id).first()


def _finish(run: WorkflowRun, status: str, *, error: str = "") -> None:
    run.status = status
    run.error = error[:ERROR_LIMIT]
    run.finished_at = timezone.now()
    rows.save_fields(run, RUN_OUTCOME_FIELDS)


# Context and rendering -----------------------------------------------------------------------


def _payload_document(run: WorkflowRun) -> object:
    if not run.payload:
        return None
    try:
        return run.payload_document
    except mapping.PayloadError:
        return None


def steps_for(run: WorkflowRun, before_position: int) -> dict[str, piped.Step | piped.LazyStep]:
    """The event and the outputs of this attempt's earlier tasks, for piped text."""
    event_id = (run.definition.get("event") or {}).get("id", "")
    event_step = piped.LazyStep(run.fields, lambda: _payload_document(run))
    steps = {event_id: event_step, piped.EVENT_ALIAS: event_step}
    if before_position == 0:
        return steps
    earlier = TaskRun.objects.filter(
        run=run,
        generation=run.generation,
        position__lt=before_position,
        status=TaskStatus.SUCCEEDED,
    ).values_list("task_id", "output")
    for task_id, output in earlier:
        steps[task_id] = piped.Step(output or {}, output or {})
    return steps


def _task_definition(run: WorkflowRun, task_run: TaskRun) -> dict:
    for task in run.definition.get("tasks") or []:
        if task.get("id") == task_run.task_id:
            return task
    raise PermanentError(f"Task {task_run.task_id} is not in the workflow this run follows.")


def build_context(run: WorkflowRun, task_run: TaskRun, attempt: int):
    task = _task_definition(run, task_run)
    task_kind = registry.task_type(task_run.task_type)
    if task_kind is None:
        raise PermanentError(f"Unknown task type {task_run.task_type!r} (is its app installed?).")
    context_data = piped.run_context(steps_for(run, task_run.position), now=timezone.now())
    rendered = piped.render_value(task.get("config") or {}, context_data)
    workflow = _workflow_of(run)
    context = registry.TaskContext(
        organization=workflow.organization,
        workflow=workflow,
        task=task,
        config=rendered,
        owner=workflow.owner,
        run=run,
        idempotency_key=f"{run.public_id}:{run.generation}:{task_run.task_id}",
        attempt=attempt,
    )
    return task_kind, context


def _workflow_of(run: WorkflowRun) -> Workflow:
    """The run's workflow with its organization and owner; remembered per revision for a
    moment, so that a worker running many events of one workflow reads it once."""
    key = (run.workflow_id, run.revision)
    workflow = lookup_cache.workflows.get(key)
    if workflow is None:
        workflow = Workflow.objects.select_related("organization", "owner").get(pk=run.workflow_id)
        lookup_cache.workflows.put(key, workflow)
    return workflow


def _json_safe(output: object) -> dict:
    if output is None:
        return {}
    if not isinstance(output, dict):
        raise PermanentError("The task returned something other than an object.")
    return json.loads(json.dumps(output, default=str))


# The task jobs -------------------------------------------------------------------------------


def _lock(run_id: int, task_run_id: int) -> tuple[WorkflowRun | None, TaskRun | None]:
    """Lock the run, then the task run (always in this order)."""
    run = _locked_run(run_id)
    if run is None:
        return None, None
    task_run = TaskRun.objects.select_for_update().filter(pk=task_run_id, run=run).first()
    if task_run is None or task_run.generation != run.generation:
        return run, None  # superseded by a retry
    if task_run.status not in ACTIVE_TASK_STATUSES or run.is_finished:
        return run, None  # already done
    return run, task_run


def process_task(run_id: int, task_run_id: int, job_attempts: int) -> None:
    """An atomic task's attempt, inside the worker's transaction."""
    run, task_run = _lock(run_id, task_run_id)
    if task_run is None:
        return
    _attempt(run, task_run, job_attempts)


def _attempt(run: WorkflowRun, task_run: TaskRun, job_attempts: int) -> None:
    output, error = _execute(run, task_run, job_attempts)
    if error is not None:
        _record_failure(run, task_run, error)
        return
    _record_success(run, task_run, output)


def _execute(
    run: WorkflowRun, task_run: TaskRun, job_attempts: int
) -> tuple[dict | None, Exception | None]:
    """Run an atomic task in a savepoint: (output, None), or (None, the error) with the
    task's writes undone."""
    task_run.started_at = task_run.started_at or timezone.now()
    # A job re-run after its worker died counts the lost attempt too.
    task_run.attempts += max(1, job_attempts)
    try:
        task_kind, context = build_context(run, task_run, task_run.attempts)
        task_run.input = context.config
        with transaction.atomic():
            return _json_safe(task_kind.run(context)), None
    except Exception as error:
        return None, error


def process_task_outside_transaction(run_id: int, task_run_id: int) -> None:
    """A remote task's attempt: record it, run it without a transaction, record the outcome."""
    with transaction.atomic():
        run, task_run = _lock(run_id, task_run_id)
        if task_run is None:
            return
        task_run.started_at = task_run.started_at or timezone.now()
        task_run.attempts += 1
        task_run.status = TaskStatus.RUNNING
        try:
            task_kind, context = build_context(run, task_run, task_run.attempts)
        except Exception as error:
            _record_failure(run, task_run, error)
            return
        task_run.input = context.config
        task_run.save(update_fields=["started_at", "attempts", "status", "input"])
        if run.status != RunStatus.RUNNING:
            run.status = RunStatus.RUNNING
            run.save(update_fields=["status"])
    try:
        output, failure = _json_safe(task_kind.run(context)), None
    except Exception as error:
        output, failure = None, error
    with transaction.atomic():
        run, locked = _lock(run_id, task_run_id)
        if locked is None or locked.attempts != task_run.attempts:
            return  # another worker took over after our lease expired
        if failure is not None:
            _record_failure(run, locked, failure)
        else:
            _record_success(run, locked, output)


def _record_success(run: WorkflowRun, task_run: TaskRun, output: dict) -> None:
    _set_succeeded(task_run, output)
    rows.save_fields(task_run, TASK_RUN_OUTCOME_FIELDS)
    _advance(run, task_run, failed=False)


def _set_succeeded(task_run: TaskRun, output: dict) -> None:
    task_run.status = TaskStatus.SUCCEEDED
    task_run.output = output
    task_run.error = ""
    task_run.next_retry_at = None
    task_run.finished_at = timezone.now()


def _record_failure(run: WorkflowRun, task_run: TaskRun, error: BaseException) -> None:
    now = timezone.now()
    text = describe(error)
    if not is_permanent(error):
        retry_at = backoff.next_run_after(
            now=now,
            created_at=task_run.started_at or now,
            attempts=task_run.attempts,
            horizon_seconds=settings.CLOSELOOP_JOB_RETRY_HORIZON_SECONDS,
            jitter=random.uniform(0.5, 1.0),
            requested_delay=error.delay_seconds if isinstance(error, RetryLater) else None,
        )
        if retry_at is not None:
            log.warning(
                "task %s attempt %d failed, retry at %s: %s",
                task_run,
                task_run.attempts,
                retry_at,
                text,
            )
            task_run.status = TaskStatus.RETRYING
            task_run.error = text
            task_run.next_retry_at = retry_at
            rows.save_fields(task_run, TASK_RUN_OUTCOME_FIELDS)
            run.status = RunStatus.RETRYING
            run.save(update_fields=["status"])
            actions.enqueue_task(task_run, run, run_after=retry_at)
            return
        text = f"Gave up after {task_run.attempts} attempts over the retry period. {text}"
    log.info("task %s failed: %s", task_run, text)
    task_run.status = TaskStatus.FAILED
    task_run.error = text[:ERROR_LIMIT]
    task_run.next_retry_at = None
    task_run.finished_at = now
    rows.save_fields(task_run, TASK_RUN_OUTCOME_FIELDS)
    _advance(run, task_run, failed=True)


def _advance(run: WorkflowRun, task_run: TaskRun, *, failed: bool) -> None:
    """Queue the next task, or finish the run."""
    same_attempt = TaskRun.objects.filter(run=run, generation=run.generation)
    if failed and not run.definition.get("continueOnFailure", True):
        same_attempt.filter(status=TaskStatus.PENDING).update(status=TaskStatus.SKIPPED)
        _finish_after_tasks(run)
        return
    is_last = task_run.position + 1 >= len(run.definition.get("tasks") or [])
    following = None
    if not is_last:
        following = (
            same_attempt.filter(status=TaskStatus.PENDING, position__gt=task_run.position)
            .order_by("position")
            .first()
        )
    if following is None:
        # The first task of an attempt has no earlier task that could have failed.
        _finish_after_tasks(run, may_have_failures=failed or task_run.position > 0)
        return
    following.status = TaskStatus.QUEUED
    following.save(update_fields=["status"])
    if run.status != RunStatus.RUNNING:
        run.status = RunStatus.RUNNING
        run.save(update_fields=["status"])
    _start_task(run, following)


def _finish_after_tasks(run: WorkflowRun, *, may_have_failures: bool = True) -> None:
    failed = []
    if may_have_failures:
        failed = list(
            TaskRun.objects.filter(
                run=run, generation=run.generation, status=TaskStatus.FAILED
            ).order_by("position")
        )
    if failed:
        first = failed[0]
        more = f" ({len(failed) - 1} more task(s) failed)" if len(failed) > 1 else ""
        _finish(run, RunStatus.FAILED, error=f"{first.name} failed: {first.error}{more}")
    else:
        _finish(run, RunStatus.SUCCEEDED)
