"""Replays: a finished run (succeeded, failed or skipped) run again from the start.

A replay is a new run of the same event, linked to the original (`replay_of`), with source
"replay" and an idempotency key of its own; the original is never changed. It follows the
workflow's current revision or the one the original ran with, as the user chooses; the
event's fields are mapped again with that revision's event settings when the event type can
(EventType.remap), so a fixed mapping applies. Its tasks get keys of their own (the engine
keys side effects by run), so a replay sends and writes again: the pages say what it will
send or write (side_effects_of) before anything is replayed.

A bulk replay replays the finished runs a reporting filter shows, at most BULK_REPLAY_CAP,
in a ledger job (workflows.bulk_replay) that commits batch by batch with its progress and
stops at the next batch once cancelled. Each of its replays is keyed by (bulk replay,
original), so a job run again after its worker was killed replays no original twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Max
from django.utils import timezone

from closeloop.jobs.actions import cancel_job, enqueue, new_job
from closeloop.jobs.models import Job
from closeloop.workflows import actions, queries, registry, run_insert
from closeloop.workflows import definition as definitions
from closeloop.workflows.models import (
    FINISHED_RUN_STATUSES,
    BulkReplay,
    BulkReplayStatus,
    ReplayDefinition,
    Workflow,
    WorkflowRevision,
    WorkflowRun,
)

log = logging.getLogger("closeloop.workflows")

REPLAY_SOURCE = "replay"
BULK_REPLAY_JOB = "workflows.bulk_replay"
BULK_REPLAY_CAP = 10_000
BULK_BATCH = 200
MAX_SUMMARIES = 20


class CannotReplay(ValueError):
    pass


# What a replay will do -----------------------------------------------------------------------


def side_effects_of(definition: Mapping) -> list[str]:
    """What the definition's tasks do outside Closeloop's reporting, each with its task:
    ["send survey invitations (Task 2: Invite)", "write to Salesforce (Task 3: Case)"].

    A task type says it with TaskType.side_effects; one that runs outside the transaction
    (atomic = False: it calls a remote system) and says nothing "calls <its label>"."""
    found = []
    for position, task in enumerate(definition.get("tasks") or []):
        if not isinstance(task, Mapping):
            continue
        task_kind = registry.task_type(task.get("type", ""))
        if task_kind is None:
            continue
        what = task_kind.side_effects or ("" if task_kind.atomic else f"call {task_kind.label}")
        if what:
            found.append(f"{what} ({definitions.task_label(task, position)})")
    return found


@dataclass(frozen=True)
class ReplayOption:
    """One choice on the replay page: a revision, what it would do, why it cannot be used."""

    choice: str
    revision: int
    definition: dict = field(repr=False)
    side_effects: list[str]
    problem: str = ""


def replay_options(run: WorkflowRun) -> list[ReplayOption]:
    """The current revision, then the run's own if it is another one."""
    workflow = Workflow.objects.select_related("survey").get(pk=run.workflow_id)
    options = []
    for choice in (ReplayDefinition.CURRENT, ReplayDefinition.ORIGINAL):
        if choice == ReplayDefinition.ORIGINAL and run.revision == workflow.revision:
            break
        try:
            chosen, revision = _definition_for(run, workflow, choice)
            problem = ""
        except CannotReplay as error:
            chosen, revision, problem = run.definition, run.revision, str(error)
        options.append(ReplayOption(choice, revision, chosen, side_effects_of(chosen), problem))
    return options


def replay_problem(run: WorkflowRun) -> str:
    """Why this run cannot be replayed at all (whichever revision), or ""."""
    if not run.is_finished:
        return f"This run is {run.get_status_display().lower()}; replay it once it has finished."
    if run.payload_erased_at is not None:
        return (
            "This run's payload was erased by the organization's retention settings, so it "
            "cannot be replayed."
        )
    enabled = Workflow.objects.filter(pk=run.workflow_id).values_list("enabled", flat=True)
    if not enabled.first():
        return "The workflow is disabled: enable it to replay its runs."
    return ""


def _definition_for(run: WorkflowRun, workflow: Workflow, choice: str) -> tuple[dict, int]:
    if choice == ReplayDefinition.ORIGINAL:
        return run.definition, run.revision
    if choice != ReplayDefinition.CURRENT:
        raise CannotReplay(f"Unknown revision choice {choice!r}.")
    if workflow.event_type != run.event_type:
        raise CannotReplay(
            "The workflow's event is not the one this run received any more; replay it with "
            "the revision it ran with."
        )
    return definitions.snapshot(workflow), workflow.revision


def _new_replay(
    original: WorkflowRun, definition: dict, revision: int, *, dedup_key: str, user
) -> WorkflowRun:
    """The replay of `original` (unsaved); CannotReplay when its fields cannot be mapped."""
    now = timezone.now()
    replay = WorkflowRun(
        organization_id=original.organization_id,
        workflow_id=original.workflow_id,
        event_type=original.event_type,
        source=REPLAY_SOURCE,
        payload=original.payload,
        fields=dict(original.fields),
        dedup_key=dedup_key,
        definition=definition,
        revision=revision,
        replay_of=original,
        replayed_by=user,
        created_at=now,
    )
    event = definition.get("event") or {}
    event_kind = registry.event_type(event.get("type", ""))
    if event_kind is not None:
        try:
            fields = event_kind.remap(replay, event.get("config") or {})
        except ValueError as error:
            raise CannotReplay(
                f"The event's fields could not be mapped with revision {revision}: {error}"
            ) from None
        if fields is not None:
            replay.fields = fields
    return replay


# One run -------------------------------------------------------------------------------------


def replay_run(
    run: WorkflowRun,
    user=None,
    *,
    definition: str = ReplayDefinition.CURRENT,
    request_key: str = "",
) -> WorkflowRun:
    """Run a finished run again from the start as a new run; the original stays as it is.

    With a request key (the confirmation form's), the same key replays once: a second click
    or a resubmitted form returns the replay the first one made."""
    with transaction.atomic():
        original = WorkflowRun.objects.select_for_update().get(pk=run.pk)
        if request_key:
            key = f"replay:{original.public_id}:{request_key[:64]}"
            earlier = WorkflowRun.objects.filter(replay_of=original, dedup_key=key).first()
            if earlier is not None:
                return earlier
        problem = replay_problem(original)
        if problem:
            raise CannotReplay(problem)
        workflow = Workflow.objects.select_related("survey").get(pk=original.workflow_id)
        chosen, revision = _definition_for(original, workflow, definition)
        number = WorkflowRun.objects.filter(replay_of=original).count() + 1
        for attempt in range(number, number + 5):
            suffix = request_key[:64] if request_key else attempt
            replay = _new_replay(
                original,
                chosen,
                revision,
                dedup_key=f"replay:{original.public_id}:{suffix}",
                user=user,
            )
            try:
                with transaction.atomic():
                    replay.save(force_insert=True)
                    actions.enqueue_run(replay)
            except IntegrityError:
                continue  # that number was taken (an earlier replay since deleted, or a race)
            log.info(
                "run %s replayed as %s (revision %s) by %s",
                original.public_id,
                replay.public_id,
                revision,
                getattr(user, "public_id", user),
            )
            return replay
    raise CannotReplay("The run could not be replayed just now; try again.")


# Many runs -----------------------------------------------------------------------------------


def filters_of(bulk: BulkReplay) -> tuple[queries.RunFilter, bool]:
    """The reporting filter a bulk replay was made from, and False when its workflow is gone."""
    saved = bulk.filters or {}
    workflow = None
    if saved.get("workflow"):
        workflow = queries.workflow(bulk.organization, saved["workflow"])
        if workflow is None:
            return queries.RunFilter(), False
    return (
        queries.RunFilter(
            workflow=workflow,
            status=saved.get("status", ""),
            since=queries.parse_day(saved.get("since")),
            until=queries.parse_day(saved.get("until")),
            text=saved.get("q", ""),
        ),
        True,
    )


def saved_filters(filters: queries.RunFilter) -> dict:
    return {
        "workflow": filters.workflow.public_id if filters.workflow is not None else "",
        "status": filters.status,
        "since": filters.since.isoformat() if filters.since else "",
        "until": filters.until.isoformat() if filters.until else "",
        "q": filters.text,
    }


def replayable(organization, user, filters: queries.RunFilter):
    """The runs a filter shows `user` that a replay can take: finished, with their payload
    (only runs of the workflows `user` may manage)."""
    return queries.runs(organization, user, filters).filter(
        status__in=FINISHED_RUN_STATUSES, payload_erased_at__isnull=True
    )


@dataclass(frozen=True)
class BulkPreview:
    """What the confirmation page says before a bulk replay starts."""

    shown: int  # runs the filter shows
    total: int  # of those, the ones a replay takes
    newest_id: int
    by_workflow: list[tuple[str, list[str]]]  # (workflow name, side effects) per revision used

    @property
    def left_out(self) -> int:
        return self.shown - self.total

    @property
    def over_cap(self) -> bool:
        return self.total > BULK_REPLAY_CAP

    @property
    def cap(self) -> int:
        return BULK_REPLAY_CAP


def preview(organization, user, filters: queries.RunFilter, definition: str) -> BulkPreview:
    shown = queries.runs(organization, user, filters).order_by().count()
    counted = (
        replayable(organization, user, filters).order_by().aggregate(n=Count("id"), top=Max("id"))
    )
    return BulkPreview(
        shown=shown,
        total=counted["n"] or 0,
        newest_id=counted["top"] or 0,
        by_workflow=_effects_by_workflow(organization, user, filters, definition),
    )


def _effects_by_workflow(
    organization, user, filters, definition: str
) -> list[tuple[str, list[str]]]:
    used = (
        replayable(organization, user, filters)
        .order_by()
        .values_list("workflow_id", "revision")
        .distinct()[: MAX_SUMMARIES * 5]
    )
    used = list(used)
    workflows = {
        workflow.pk: workflow
        for workflow in Workflow.objects.filter(
            organization=organization, pk__in={workflow_id for workflow_id, _ in used}
        ).select_related("survey")
    }
    summaries: dict[tuple[int, int], tuple[str, list[str]]] = {}
    if definition == ReplayDefinition.ORIGINAL:
        revisions = WorkflowRevision.objects.filter(
            workflow_id__in=workflows, number__in={number for _, number in used}
        )
        by_key = {(item.workflow_id, item.number): item.definition for item in revisions}
        for workflow_id, number in used:
            chosen = by_key.get((workflow_id, number))
            if chosen is not None and workflow_id in workflows:
                name = f"{workflows[workflow_id].name} (revision {number})"
                summaries[(workflow_id, number)] = (name, side_effects_of(chosen))
    else:
        for workflow in workflows.values():
            name = f"{workflow.name} (revision {workflow.revision})"
            summaries[(workflow.pk, 0)] = (name, side_effects_of(definitions.snapshot(workflow)))
    return sorted(summaries.values())[:MAX_SUMMARIES]


def start_bulk_replay(
    organization, user, filters: queries.RunFilter, *, definition: str
) -> BulkReplay:
    """Queue the replay of the finished runs the filter shows `user` now (runs arriving
    later, the replays themselves and runs of workflows `user` may not manage are left out);
    CannotReplay when none or too many match. The job replays as `user`, with their
    permissions when each batch runs."""
    if definition not in ReplayDefinition.values:
        raise CannotReplay(f"Unknown revision choice {definition!r}.")
    counted = (
        replayable(organization, user, filters).order_by().aggregate(n=Count("id"), top=Max("id"))
    )
    total = counted["n"] or 0
    if total == 0:
        raise CannotReplay("No finished run with its payload matches this filter.")
    if total > BULK_REPLAY_CAP:
        raise CannotReplay(
            f"A bulk replay takes at most {BULK_REPLAY_CAP:,} runs and this filter shows "
            f"{total:,}. Narrow it (a workflow, a status, a shorter date range) and replay "
            "in parts."
        )
    with transaction.atomic():
        bulk = BulkReplay.objects.create(
            organization=organization,
            created_by=user,
            filters=saved_filters(filters),
            definition=definition,
            total=total,
            max_run_id=counted["top"],
        )
        job = enqueue(
            BULK_REPLAY_JOB,
            {"bulk_replay": bulk.pk},
            idempotency_key=f"{BULK_REPLAY_JOB}:{bulk.public_id}",
            organization=organization,
        )
        bulk.job_id = job.pk
        bulk.save(update_fields=["job_id"])
    log.info("bulk replay %s of %s runs queued", bulk.public_id, total)
    return bulk


def cancel_bulk_replay(bulk: BulkReplay, user=None) -> bool:
    """Stop making replays (those made so far stay and run). False if it had finished.

    Waits for the batch in progress, which holds the row: the next batch sees the status."""
    with transaction.atomic():
        cancelled = BulkReplay.objects.filter(
            pk=bulk.pk, status__in=(BulkReplayStatus.QUEUED, BulkReplayStatus.RUNNING)
        ).update(status=BulkReplayStatus.CANCELLED, finished_at=timezone.now(), cancelled_by=user)
        if cancelled and bulk.job_id:
            job = Job.objects.filter(pk=bulk.job_id).first()
            if job is not None:
                cancel_job(job)  # not started yet: it never runs
    return bool(cancelled)


def run_bulk_replay(bulk_id: int, *, batch: int | None = None, batches: int | None = None) -> bool:
    """The job: batch after batch (of `batch` originals, BULK_BATCH by default), each
    committed with the progress, until done or cancelled, or after `batches` batches. True
    when there is more to do."""
    done = 0
    while batches is None or done < batches:
        if not _replay_batch(bulk_id, batch or BULK_BATCH):
            return False
        done += 1
    return True


def _replay_batch(bulk_id: int, batch: int) -> bool:
    """One batch in one transaction; False when there is nothing more to do."""
    with transaction.atomic():
        bulk = (
            BulkReplay.objects.select_for_update(of=("self",))
            .select_related("organization", "created_by")
            .filter(pk=bulk_id)
            .first()
        )
        if bulk is None or bulk.is_done:
            return False
        now = timezone.now()
        if bulk.status == BulkReplayStatus.QUEUED:
            bulk.status, bulk.started_at = BulkReplayStatus.RUNNING, now
        filters, workflow_exists = filters_of(bulk)
        originals = []
        if workflow_exists:
            originals = list(
                replayable(bulk.organization, bulk.created_by, filters)
                .filter(pk__gt=bulk.last_run_id, pk__lte=bulk.max_run_id)
                .order_by("pk")[:batch]
            )
        if not originals:
            bulk.status, bulk.finished_at = BulkReplayStatus.FINISHED, now
            bulk.save()
            log.info("bulk replay %s: %s replayed", bulk.public_id, bulk.replayed)
            return False
        replays, skipped = _replays_of(bulk, originals)
        bulk.replayed += _insert(replays, bulk.organization_id)
        for reason in skipped:
            bulk.skip_reasons[reason] = bulk.skip_reasons.get(reason, 0) + 1
        bulk.skipped += len(skipped)
        bulk.done = min(bulk.total, bulk.done + len(originals))
        bulk.last_run_id = originals[-1].pk
        bulk.save()
    return True


def _replays_of(bulk: BulkReplay, originals: Iterable[WorkflowRun]):
    """The replays of a batch (unsaved) and the reasons of those left out."""
    originals = list(originals)
    workflows = {
        workflow.pk: workflow
        for workflow in Workflow.objects.filter(
            pk__in={run.workflow_id for run in originals}
        ).select_related("survey")
    }
    current: dict[int, dict] = {}
    replays, skipped = [], []
    for original in originals:
        workflow = workflows[original.workflow_id]
        if not workflow.enabled:
            skipped.append("the workflow is disabled")
            continue
        if (
            bulk.definition == ReplayDefinition.CURRENT
            and workflow.event_type != original.event_type
        ):
            skipped.append("the workflow's event changed since the run")
            continue
        if bulk.definition == ReplayDefinition.CURRENT:
            chosen = current.setdefault(workflow.pk, definitions.snapshot(workflow))
            revision = workflow.revision
        else:
            chosen, revision = original.definition, original.revision
        try:
            replays.append(
                _new_replay(
                    original,
                    chosen,
                    revision,
                    dedup_key=f"bulk:{bulk.public_id}:{original.public_id}",
                    user=bulk.created_by,
                )
            )
        except CannotReplay:
            skipped.append("its fields could not be mapped with the chosen revision")
    return replays, skipped


def _insert(replays: list[WorkflowRun], organization_id: int) -> int:
    """Save the replays with their run jobs; a key already used (this bulk replay's job run
    again) adds nothing. How many were new."""
    if not replays:
        return 0
    if connection.vendor == "postgresql":
        job = new_job(actions.RUN_JOB, organization=organization_id)
        return len(run_insert.insert_runs_and_jobs(replays, job))
    created = 0
    for replay in replays:
        try:
            with transaction.atomic():
                replay.save(force_insert=True)
                actions.enqueue_run(replay)
        except IntegrityError:
            continue
        created += 1
    return created
