from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

import closeloop.jobs.jobs  # noqa: F401  (registers the housekeeping job)
from closeloop.jobs import schedule
from closeloop.jobs.jobs import delete_old_jobs
from closeloop.jobs.models import Job, JobStatus

pytestmark = pytest.mark.django_db

HOUSEKEEPING = "jobs.housekeeping"
NOON = datetime(2025, 6, 1, 12, 0, 30, tzinfo=UTC)


def test_two_ticks_in_the_same_slot_enqueue_once():
    first = schedule.tick(NOON)
    second = schedule.tick(NOON + timedelta(minutes=20))

    assert HOUSEKEEPING in first
    assert HOUSEKEEPING not in second
    assert Job.objects.filter(kind=HOUSEKEEPING).count() == 1


def test_the_next_slot_enqueues_again():
    schedule.tick(NOON)
    assert HOUSEKEEPING in schedule.tick(NOON + timedelta(hours=1))

    keys = set(Job.objects.filter(kind=HOUSEKEEPING).values_list("idempotency_key", flat=True))
    slot = int(NOON.timestamp() // 3600)
    assert keys == {f"recurring:{HOUSEKEEPING}:{slot}", f"recurring:{HOUSEKEEPING}:{slot + 1}"}


def make_finished(status: str, days_ago: float) -> Job:
    moment = timezone.now() - timedelta(days=days_ago)
    return Job.objects.create(
        kind="test.noop", status=status, created_at=moment, finished_at=moment
    )


def test_housekeeping_deletes_old_finished_jobs_only():
    old_success = make_finished(JobStatus.SUCCEEDED, 15)
    recent_success = make_finished(JobStatus.SUCCEEDED, 13)
    old_cancelled = make_finished(JobStatus.CANCELLED, 20)
    month_old_failure = make_finished(JobStatus.FAILED, 30)
    old_dead = make_finished(JobStatus.DEAD, 91)
    old_queued = Job.objects.create(
        kind="test.noop", created_at=timezone.now() - timedelta(days=100)
    )

    delete_old_jobs({}, None)

    remaining = set(Job.objects.values_list("pk", flat=True))
    assert remaining == {recent_success.pk, month_old_failure.pk, old_queued.pk}
    assert not {old_success.pk, old_cancelled.pk, old_dead.pk} & remaining
