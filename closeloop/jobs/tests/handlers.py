"""Handlers for the job tests: registered in-process by the tests' conftest, and in worker
subprocesses through CLOSELOOP_EXTRA_MODULES (closeloop.jobs.registry.autodiscover).

An "effect" is a row in the ledger itself (kind test.effect_record, already succeeded, so no worker
picks it up): it commits only if the job's transaction does.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from closeloop.jobs.actions import enqueue
from closeloop.jobs.models import Job, JobStatus
from closeloop.jobs.registry import PermanentError, RetryLater, job_handler

EFFECT_KIND = "test.effect_record"


def effects_of(job_id: int):
    return Job.objects.filter(kind=EFFECT_KIND, payload__of=job_id)


def _record_effect(job) -> None:
    Job.objects.create(
        kind=EFFECT_KIND,
        payload={"of": job.id, "attempt": job.attempts},
        status=JobStatus.SUCCEEDED,
        finished_at=timezone.now(),
    )


def _append_line(path: str, line: str) -> None:
    # O_APPEND makes each short write atomic, so concurrent workers do not interleave lines.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


@job_handler("test.noop")
def noop(payload: dict, job) -> None:
    pass


@job_handler("test.effect")
def effect(payload: dict, job) -> None:
    """Record an effect; log every run, committed or not, to a file when asked to."""
    _record_effect(job)
    if payload.get("log"):
        _append_line(payload["log"], f"{job.id} {job.locked_by}")
    time.sleep(payload.get("sleep", 0))


@job_handler("test.effect_then_sleep", lease_seconds=2)
def effect_then_sleep(payload: dict, job) -> None:
    """Record an effect, say so in a marker file, then sleep on the first attempts only."""
    _record_effect(job)
    Path(payload["marker_dir"], f"started-{job.id}-{job.attempts}").touch()
    if job.attempts <= payload.get("sleep_attempts", 1):
        time.sleep(payload["sleep"])


@job_handler("test.transient")
def transient(payload: dict, job) -> None:
    _record_effect(job)
    raise ConnectionError("the remote end is down")


@job_handler("test.permanent")
def permanent(payload: dict, job) -> None:
    _record_effect(job)
    raise PermanentError("the record was deleted")


@job_handler("test.retry_later")
def retry_later(payload: dict, job) -> None:
    raise RetryLater(payload.get("delay", 30), "the report is not ready yet")


@job_handler("test.outside_transaction", atomic=False)
def outside_transaction(payload: dict, job) -> None:
    _record_effect(job)
    if payload.get("fail"):
        raise ConnectionError("the upload failed")


@job_handler("test.on_commit")
def on_commit(payload: dict, job) -> None:
    """Schedule a file write for after commit, before any query, then maybe fail."""
    transaction.on_commit(lambda: Path(payload["marker"]).touch())
    _record_effect(job)
    if payload.get("fail"):
        raise ConnectionError("failed after scheduling a callback")


@job_handler("test.recovers_inside")
def recovers_inside(payload: dict, job) -> None:
    """A duplicate key inside the handler is handled by enqueue's own savepoint."""
    enqueue("test.noop", idempotency_key=payload["key"])
    _record_effect(job)


@job_handler("test.swallows_error")
def swallows_error(payload: dict, job) -> None:
    """Catches an exception that went through atomic(savepoint=False): Django must roll back."""
    try:
        with transaction.atomic(savepoint=False):
            _record_effect(job)
            raise ValueError("half-done")
    except ValueError:
        pass


@job_handler("test.effect_bare", savepoint=False)
def effect_bare(payload: dict, job) -> None:
    """Record an effect without a savepoint; fail when asked to (the chunk runs again)."""
    _record_effect(job)
    if payload.get("fail"):
        raise ConnectionError("failed without a savepoint")


@job_handler("test.effect_batch", batch=True)
def effect_batch(jobs: list) -> None:
    """Record the jobs' effects in one INSERT; fail when one of them asks to (each job then
    runs alone); log each call's size to a file when asked to."""
    Job.objects.bulk_create(
        Job(
            kind=EFFECT_KIND,
            payload={"of": job.id, "attempt": job.attempts},
            status=JobStatus.SUCCEEDED,
            finished_at=timezone.now(),
        )
        for job in jobs
    )
    if jobs[0].payload.get("log"):
        _append_line(jobs[0].payload["log"], str(len(jobs)))
    if any(job.payload.get("fail") for job in jobs):
        raise ConnectionError("a job of the batch failed")
