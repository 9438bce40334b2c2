"""Every write to the job ledger: enqueueing, operator actions, and the worker's state changes."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from closeloop.jobs.models import RETRYABLE_STATUSES, Job, JobStatus

log = logging.getLogger("closeloop.jobs")

NOTIFY_CHANNEL = "closeloop_jobs"


def enqueue(
    kind: str,
    payload: dict | None = None,
    *,
    idempotency_key: str | None = None,
    run_after: datetime | None = None,
    organization=None,
) -> Job:
    """Add a job in the caller's transaction: if the caller rolls back, the job never existed.

    With an idempotency key already in the ledger, nothing is added and the existing job is
    returned.
    """
    job, _created = enqueue_unique(
        kind,
        payload,
        idempotency_key=idempotency_key,
        run_after=run_after,
        organization=organization,
    )
    return job


def enqueue_unique(
    kind: str,
    payload: dict | None = None,
    *,
    idempotency_key: str | None = None,
    run_after: datetime | None = None,
    organization=None,
) -> tuple[Job, bool]:
    """Like enqueue, and also say whether a new job was created."""
    now = timezone.now()
    job = new_job(
        kind,
        payload,
        idempotency_key=idempotency_key,
        run_after=run_after,
        organization=organization,
        now=now,
    )
    if idempotency_key is None:
        job.save(force_insert=True)
    else:
        try:
            # The savepoint keeps the caller's transaction usable after a duplicate key.
            with transaction.atomic():
                job.save(force_insert=True)
        except IntegrityError:
            existing = Job.objects.filter(idempotency_key=idempotency_key).first()
            if existing is None:
                raise
            return existing, False
    if job.run_after <= now:
        _notify_workers()
    return job, True


def new_job(
    kind: str,
    payload: dict | None = None,
    *,
    idempotency_key: str | None = None,
    run_after: datetime | None = None,
    organization=None,
    now: datetime | None = None,
) -> Job:
    """A job not saved yet, for callers that insert it themselves (see notify_sql)."""
    now = now or timezone.now()
    return Job(
        kind=kind,
        payload=payload if payload is not None else {},
        idempotency_key=idempotency_key,
        run_after=run_after or now,
        created_at=now,
        retries_from=now,
        organization_id=_organization_id(organization),
    )


def notify_sql() -> str:
    """A PostgreSQL expression that wakes the waiting workers once its transaction commits."""
    return f"pg_notify('{NOTIFY_CHANNEL}', '')"


def enqueue_many(kind: str, payloads: Iterable[dict], *, organization=None) -> int:
    """Bulk-add jobs without idempotency keys (imports, benchmarks). Returns how many."""
    now = timezone.now()
    organization_id = _organization_id(organization)
    jobs = [
        Job(
            kind=kind,
            payload=payload,
            run_after=now,
            created_at=now,
            retries_from=now,
            organization_id=organization_id,
        )
        for payload in payloads
    ]
    Job.objects.bulk_create(jobs, batch_size=1000)
    _notify_workers()
    return len(jobs)


def _organization_id(organization) -> int | None:
    return getattr(organization, "pk", organization)


def _notify_workers() -> None:
    """Wake waiting workers. PostgreSQL delivers NOTIFY only when this transaction commits."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {NOTIFY_CHANNEL}")


def retry_job(job: Job) -> bool:
    """Operator action: run a failed or dead job again now, with a fresh retry horizon.
    False if it was not retryable."""
    now = timezone.now()
    changed = Job.objects.filter(pk=job.pk, status__in=RETRYABLE_STATUSES).update(
        status=JobStatus.QUEUED,
        run_after=now,
        retries_from=now,
        finished_at=None,
        lease_expires_at=None,
    )
    if changed:
        _notify_workers()
    return bool(changed)


def cancel_job(job: Job) -> bool:
    """Operator action: a queued job will not run. A running job cannot be stopped (False)."""
    changed = Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now()
    )
    return bool(changed)


def delete_finished_jobs(*, succeeded_before: datetime, failed_before: datetime) -> int:
    """Housekeeping: forget old finished jobs. Their idempotency keys become reusable."""
    deleted, _ = Job.objects.filter(
        Q(status__in=(JobStatus.SUCCEEDED, JobStatus.CANCELLED), finished_at__lt=succeeded_before)
        | Q(status__in=(JobStatus.FAILED, JobStatus.DEAD), finished_at__lt=failed_before)
    ).delete()
    return deleted


# The worker's state changes. The worker calls them inside its own transactions.

CLAIM_FIELDS = (
    "id",
    "kind",
    "payload",
    "attempts",
    "created_at",
    "retries_from",
    "organization_id",
)


def claim_due_jobs(
    worker_id: str, limit: int, *, lease_for, now: datetime, horizon_seconds: float
) -> list[Job]:
    """Take up to `limit` due jobs for this worker. Call inside transaction.atomic().

    Due means queued and run_after has come, or running under a lease that expired (its worker
    died). SKIP LOCKED lets many workers claim at once without waiting on each other.
    `lease_for(kind)` gives each kind's lease in seconds.
    """
    # Abandoned jobs first, so that a long queue cannot starve them; there are few running rows.
    abandoned = _lockable().filter(status=JobStatus.RUNNING, lease_expires_at__lt=now)
    jobs = _bury_past_horizon(abandoned[:limit], now, horizon_seconds)
    if len(jobs) < limit:
        queued = _lockable().filter(status=JobStatus.QUEUED, run_after__lte=now)
        jobs += queued.order_by("run_after")[: limit - len(jobs)]
    for lease_seconds, ids in _ids_by_lease(jobs, lease_for).items():
        Job.objects.filter(id__in=ids).update(
            status=JobStatus.RUNNING,
            attempts=F("attempts") + 1,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            locked_by=worker_id,
            started_at=now,
        )
    for job in jobs:
        job.attempts += 1
        job.status = JobStatus.RUNNING
        job.locked_by = worker_id
    return jobs


def _bury_past_horizon(jobs: Iterable[Job], now: datetime, horizon_seconds: float) -> list[Job]:
    """A job whose workers keep dying (out of memory, say) must not be re-run forever."""
    deadline = now - timedelta(seconds=horizon_seconds)
    jobs = list(jobs)
    buried = [job.id for job in jobs if job.retries_from < deadline]
    if buried:
        Job.objects.filter(id__in=buried).update(
            status=JobStatus.DEAD,
            finished_at=now,
            lease_expires_at=None,
            last_error="Its worker stopped during the run (lease expired) after the retry horizon.",
        )
    return [job for job in jobs if job.retries_from >= deadline]


def _lockable():
    return Job.objects.select_for_update(skip_locked=True).only(*CLAIM_FIELDS)


def _ids_by_lease(jobs: Iterable[Job], lease_for) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for job in jobs:
        groups[lease_for(job.kind)].append(job.id)
    return groups


def lock_owned_jobs(worker_id: str, ids: list[int]) -> set[int]:
    """Lock this worker's jobs for the current transaction; return the ids it still owns.

    While the row lock is held no other worker can claim them, even if the lease runs out.
    """
    owned = Job.objects.select_for_update().filter(
        id__in=ids, locked_by=worker_id, status=JobStatus.RUNNING
    )
    return set(owned.values_list("id", flat=True))


def renew_leases(worker_id: str, lease_for) -> int:
    """Heartbeat: push back the lease of this worker's running jobs. Call inside atomic().

    Rows the worker has locked in a running transaction are skipped: the lock protects them.
    """
    held = list(
        Job.objects.select_for_update(skip_locked=True)
        .filter(locked_by=worker_id, status=JobStatus.RUNNING)
        .only("id", "kind")
    )
    now = timezone.now()
    for lease_seconds, ids in _ids_by_lease(held, lease_for).items():
        Job.objects.filter(id__in=ids).update(
            lease_expires_at=now + timedelta(seconds=lease_seconds)
        )
    return len(held)


def mark_succeeded(worker_id: str, ids: list[int]) -> int:
    if not ids:
        return 0
    return Job.objects.filter(id__in=ids, locked_by=worker_id, status=JobStatus.RUNNING).update(
        status=JobStatus.SUCCEEDED, finished_at=timezone.now(), lease_expires_at=None
    )


@dataclass(frozen=True)
class Failure:
    """What became of a job whose run raised: queued again at `retry_at`, or finished."""

    job_id: int
    error_text: str
    status: str
    retry_at: datetime | None = None


def record_failure(worker_id: str, failure: Failure) -> int:
    changes = {"status": failure.status, "last_error": failure.error_text, "lease_expires_at": None}
    if failure.status == JobStatus.QUEUED:
        changes["run_after"] = failure.retry_at
    else:
        changes["finished_at"] = timezone.now()
    return Job.objects.filter(
        id=failure.job_id, locked_by=worker_id, status=JobStatus.RUNNING
    ).update(**changes)
