"""Workflows' jobs in the ledger (see engine.py for what each does)."""

from __future__ import annotations

import logging
from datetime import timedelta

from closeloop.jobs.registry import job_handler
from closeloop.jobs.schedule import recurring
from closeloop.workflows import actions, engine, replays, retention

log = logging.getLogger("closeloop.workflows")


# Their tasks run in savepoints of their own and record their failures, so these handlers
# raise only on a database error or a bug: they do without the worker's savepoint per job.
@job_handler(actions.RUN_JOB, batch=True)
def run_workflows(jobs: list) -> None:
    engine.process_runs(
        [(job.payload["run"], job.payload["generation"], job.attempts) for job in jobs]
    )


@job_handler(actions.TASK_JOB, savepoint=False)
def run_task(payload: dict, job) -> None:
    engine.process_task(payload["run"], payload["task_run"], job.attempts)


@job_handler(actions.TASK_IO_JOB, atomic=False, lease_seconds=300)
def run_task_outside_transaction(payload: dict, job) -> None:
    engine.process_task_outside_transaction(payload["run"], payload["task_run"])


@job_handler(replays.BULK_REPLAY_JOB, atomic=False, lease_seconds=300)
def bulk_replay(payload: dict, job) -> None:
    """Idempotent: each batch commits with the progress, and its replays are keyed by
    (bulk replay, original), so a job run again goes on where it stopped."""
    replays.run_bulk_replay(payload["bulk_replay"])


@recurring("workflows.delete_old_runs", every=timedelta(hours=1))
def delete_old_runs(payload: dict, job) -> None:
    """Each organization's retention: old runs deleted, old payloads erased."""
    cleaned = retention.apply()
    if cleaned.runs_deleted or cleaned.payloads_erased:
        log.info(
            "retention: %s workflow runs deleted, %s payloads erased",
            cleaned.runs_deleted,
            cleaned.payloads_erased,
        )
