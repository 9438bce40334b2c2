"""The worker: claims due jobs in batches, runs their handlers, records the outcome.

Atomic handlers run in a transaction shared by a short chunk of jobs, each inside its own
savepoint, and the rows that mark them succeeded commit in that same transaction: a job's
database effects and its completion commit together or not at all. If the worker dies, the
transaction rolls back, the lease expires and another worker runs the job again.
"""

from __future__ import annotations

import logging
import math
import os
import random
import signal
import socket
import threading
import time
import traceback
import uuid
from collections import deque
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

from closeloop.jobs import actions, backoff, registry
from closeloop.jobs.actions import Failure
from closeloop.jobs.models import Job, JobStatus
from closeloop.jobs.registry import PermanentError, RetryLater
from closeloop.jobs.savepoints import LazySavepoint
from closeloop.jobs.schedule import Scheduler
from closeloop.jobs.wakeup import waiter_for_database

log = logging.getLogger("closeloop.jobs")

ERROR_TEXT_LIMIT = 4000
# Long enough to pay for one commit over many jobs, short enough that a chunk's earlier
# effects become visible promptly and SQLite's single write lock is not held for long.
CHUNK_SECONDS = 0.5


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class UnknownJobKind(Exception):
    pass


class SwallowedDatabaseError(Exception):
    pass


class ChunkAborted(Exception):
    """A job run without a savepoint raised: its chunk's transaction must be rolled back."""


class Worker:
    def __init__(self, *, batch_size: int = 100, with_scheduler: bool = False):
        self.id = new_worker_id()
        self.batch_size = batch_size
        self.scheduler = Scheduler() if with_scheduler else None
        self.succeeded = 0
        self.failed = 0
        self._stop = threading.Event()
        self._busy = threading.Event()

    # Running

    def request_stop(self) -> None:
        """Finish the batch in hand, then leave run()."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, *, once: bool = False, idle_exit: float | None = None) -> None:
        """Work until stopped; with `once`, until nothing is due; with `idle_exit`, until idle
        for that many seconds."""
        self._install_signal_handlers()
        heartbeat = Heartbeat(self)
        heartbeat.start()
        waiter = waiter_for_database(self._stop)
        idle_since = time.monotonic()
        try:
            while not self.stopping:
                if self.scheduler is not None:
                    self.scheduler.tick_if_due()
                claimed = self._run_once_surviving_outages()
                if claimed:
                    idle_since = time.monotonic()
                    waiter.work_done()
                    continue
                idle_left = (
                    math.inf if idle_exit is None else idle_exit - (time.monotonic() - idle_since)
                )
                if once or idle_left <= 0:
                    break
                waiter.wait(at_most=idle_left)
        finally:
            waiter.close()
            heartbeat.stop()

    def run_once(self) -> int:
        """Claim one batch and run it to the end. Returns how many jobs were claimed."""
        jobs = self.claim()
        if jobs:
            self._busy.set()
            try:
                self.run_batch(jobs)
            finally:
                self._busy.clear()
        return len(jobs)

    def _run_once_surviving_outages(self) -> int:
        try:
            return self.run_once()
        except DatabaseError as error:
            log.warning("Database error in worker %s (%s); retrying shortly", self.id, error)
            _discard_broken_connection()
            self._stop.wait(2.0)
            return 0

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_stop_signal)

    def _on_stop_signal(self, signum, frame) -> None:
        log.info(
            "Worker %s: %s received, finishing the current batch",
            self.id,
            signal.Signals(signum).name,
        )
        self.request_stop()
        # A second signal stops at once.
        signal.signal(signum, signal.SIG_DFL)

    # Claiming

    def claim(self) -> list[Job]:
        with transaction.atomic():
            return actions.claim_due_jobs(
                self.id,
                self.batch_size,
                lease_for=lease_seconds_for,
                now=timezone.now(),
                horizon_seconds=settings.CLOSELOOP_JOB_RETRY_HORIZON_SECONDS,
            )

    @property
    def is_busy(self) -> bool:
        return self._busy.is_set()

    # Running a batch

    def run_batch(self, jobs: list[Job]) -> None:
        waiting = deque(jobs)
        while waiting:
            handler = registry.handler_for(waiting[0].kind)
            if handler is not None and not handler.atomic:
                self._run_outside_transaction(waiting.popleft(), handler)
                continue
            chunk = []
            while waiting and _runs_in_transaction(waiting[0]):
                chunk.append(waiting.popleft())
            self._run_in_transactions(chunk)

    def _run_in_transactions(self, jobs: list[Job]) -> None:
        remaining = jobs
        with_savepoints = False
        while remaining:
            try:
                remaining = self._run_chunk(remaining, with_savepoints=with_savepoints)
                with_savepoints = False
            except ChunkAborted:
                with_savepoints = True  # the same jobs again, each in its own savepoint
            except DatabaseError:
                log.exception("Worker %s: a transaction of %d jobs failed", self.id, len(remaining))
                _discard_broken_connection()
                self._run_one_by_one(remaining)
                return

    def _run_one_by_one(self, jobs: list[Job]) -> None:
        """After a chunk fails as a whole, isolate the job that broke it."""
        if len(jobs) == 1:
            return  # Its lease will expire and another attempt will follow.
        for job in jobs:
            try:
                self._run_chunk([job])
            except DatabaseError:
                log.exception("Worker %s: job %s broke its transaction", self.id, job.id)
                _discard_broken_connection()

    def _run_chunk(self, jobs: list[Job], *, with_savepoints: bool = True) -> list[Job]:
        """Run jobs in one transaction for up to CHUNK_SECONDS; return the ones not reached.

        Without `with_savepoints`, jobs whose handler does without one (savepoint=False) run
        bare, and ChunkAborted rolls the whole chunk back if one of them raises."""
        deadline = time.monotonic() + CHUNK_SECONDS
        succeeded: list[int] = []
        failures: list[Failure] = []
        not_reached: list[Job] = []
        with transaction.atomic():
            owned = actions.lock_owned_jobs(self.id, [job.id for job in jobs])
            batch: list[Job] = []  # consecutive jobs of one batch handler, run together
            for index, job in enumerate(jobs):
                if index and time.monotonic() > deadline:
                    not_reached = jobs[index:]
                    break
                if job.id not in owned:
                    log.warning(
                        "Worker %s lost job %s to another worker (lease expired)", self.id, job.id
                    )
                    continue
                if batch and (with_savepoints or batch[0].kind != job.kind):
                    succeeded += self._run_batch_bare(batch)
                    batch = []
                if not with_savepoints and _runs_in_batches(job):
                    batch.append(job)
                    continue
                if with_savepoints or _needs_savepoint(job):
                    failure = self._run_in_savepoint(job)
                else:
                    failure = self._run_bare(job)
                if failure is None:
                    succeeded.append(job.id)
                else:
                    failures.append(failure)
            if batch:
                succeeded += self._run_batch_bare(batch)
            actions.mark_succeeded(self.id, succeeded)
            for failure in failures:
                actions.record_failure(self.id, failure)
        self._count(len(succeeded), len(failures))
        return not_reached

    def _run_in_savepoint(self, job: Job) -> Failure | None:
        savepoint = LazySavepoint()
        try:
            handler = _handler(job)
            with connection.execute_wrapper(savepoint):
                handler(job.payload, job)
            if connection.needs_rollback:
                raise SwallowedDatabaseError(
                    "The handler caught a database error inside transaction.atomic() and "
                    "carried on; its transaction had to be rolled back."
                )
        except Exception as error:
            savepoint.roll_back()
            return self._failure(job, error)
        savepoint.release()
        return None

    def _run_bare(self, job: Job) -> None:
        try:
            _handler(job)(job.payload, job)
            if connection.needs_rollback:
                raise SwallowedDatabaseError("The handler left its transaction broken.")
        except Exception as error:
            log.info("Worker %s: job %s raised (%s); its chunk runs again", self.id, job.id, error)
            raise ChunkAborted(job.id) from error

    def _run_batch_bare(self, jobs: list[Job]) -> list[int]:
        try:
            _handler(jobs[0]).run_many(jobs)
            if connection.needs_rollback:
                raise SwallowedDatabaseError("The handler left its transaction broken.")
        except Exception as error:
            log.info(
                "Worker %s: a batch of %d %s jobs raised (%s); its chunk runs again",
                self.id,
                len(jobs),
                jobs[0].kind,
                error,
            )
            raise ChunkAborted(jobs[0].id) from error
        return [job.id for job in jobs]

    def _run_outside_transaction(self, job: Job, handler: registry.Handler) -> None:
        try:
            handler(job.payload, job)
            failure = None
        except Exception as error:
            failure = self._failure(job, error)
        try:
            with transaction.atomic():
                if failure is None:
                    recorded = actions.mark_succeeded(self.id, [job.id])
                else:
                    recorded = actions.record_failure(self.id, failure)
        except DatabaseError:
            log.exception("Worker %s could not record the outcome of job %s", self.id, job.id)
            _discard_broken_connection()
            return
        if not recorded:
            log.warning("Worker %s lost job %s to another worker (lease expired)", self.id, job.id)
        self._count(int(failure is None), int(failure is not None))

    def _count(self, succeeded: int, failed: int) -> None:
        self.succeeded += succeeded
        self.failed += failed

    # Failures

    def _failure(self, job: Job, error: Exception) -> Failure:
        text = describe_error(error)
        if isinstance(error, PermanentError):
            log.error("Job %s (%s) failed permanently: %s", job.id, job.kind, error)
            return Failure(job.id, text, JobStatus.FAILED)
        retry_at = next_retry(job, error, timezone.now())
        if retry_at is None:
            log.error(
                "Job %s (%s) is dead: retry horizon passed. Last error: %s", job.id, job.kind, error
            )
            return Failure(job.id, text, JobStatus.DEAD)
        log.warning(
            "Job %s (%s) attempt %d failed, retry at %s: %s",
            job.id,
            job.kind,
            job.attempts,
            retry_at,
            error,
        )
        return Failure(job.id, text, JobStatus.QUEUED, retry_at)


def next_retry(job: Job, error: Exception, now: datetime) -> datetime | None:
    requested = error.delay_seconds if isinstance(error, RetryLater) else None
    return backoff.next_run_after(
        now=now,
        created_at=job.retries_from,
        attempts=job.attempts,
        horizon_seconds=settings.CLOSELOOP_JOB_RETRY_HORIZON_SECONDS,
        jitter=random.uniform(0.5, 1.0),
        requested_delay=requested,
    )


def describe_error(error: Exception) -> str:
    """The error in one line, then the end of the traceback (where the cause usually is)."""
    summary = f"{type(error).__name__}: {error}"
    trace = "".join(traceback.format_exception(error))
    room = ERROR_TEXT_LIMIT - len(summary) - 2
    return f"{summary}\n\n{trace[-room:]}" if room > 0 else summary[:ERROR_TEXT_LIMIT]


def lease_seconds_for(kind: str) -> int:
    handler = registry.handler_for(kind)
    return handler.lease_seconds if handler else settings.CLOSELOOP_JOB_LEASE_SECONDS


def _handler(job: Job) -> registry.Handler:
    handler = registry.handler_for(job.kind)
    if handler is None:
        # Transient on purpose: during a rolling deploy an older worker may not know a new kind.
        raise UnknownJobKind(f"No handler for job kind {job.kind!r} in this worker.")
    return handler


def _needs_savepoint(job: Job) -> bool:
    handler = registry.handler_for(job.kind)
    return handler is None or handler.savepoint


def _runs_in_batches(job: Job) -> bool:
    handler = registry.handler_for(job.kind)
    return handler is not None and handler.batch


def _runs_in_transaction(job: Job) -> bool:
    handler = registry.handler_for(job.kind)
    return handler is None or handler.atomic


def _discard_broken_connection() -> None:
    try:
        connection.close_if_unusable_or_obsolete()
    except DatabaseError:
        connection.close()


class Heartbeat:
    """Pushes back the leases of the worker's jobs while a batch runs, every lease/3 seconds."""

    def __init__(self, worker: Worker):
        self.worker = worker
        self.interval = max(0.5, registry.shortest_lease_seconds() / 3)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat_until_stopped, name="heartbeat", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)

    def _beat_until_stopped(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                if self.worker.is_busy:
                    self.beat()
        finally:
            connections.close_all()

    def beat(self) -> None:
        try:
            with transaction.atomic():
                actions.renew_leases(self.worker.id, lease_seconds_for)
        except DatabaseError as error:
            log.warning("Heartbeat of worker %s failed (%s)", self.worker.id, error)
            _discard_broken_connection()
