import pytest
from django.db import transaction

from closeloop.jobs import actions
from closeloop.jobs.models import Job, JobStatus
from closeloop.jobs.worker import Worker

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)
def test_a_job_enqueued_in_a_rolled_back_transaction_never_exists():
    with pytest.raises(RuntimeError), transaction.atomic():
        actions.enqueue("test.effect", {"n": 1})
        raise RuntimeError("the request failed")

    assert not Job.objects.exists()
    assert Worker().run_once() == 0


def test_a_duplicate_idempotency_key_returns_the_existing_job():
    first = actions.enqueue("test.noop", {"n": 1}, idempotency_key="order-42")
    second = actions.enqueue("test.noop", {"n": 2}, idempotency_key="order-42")

    assert second.pk == first.pk
    assert second.payload == {"n": 1}
    assert Job.objects.count() == 1


def test_a_duplicate_key_leaves_the_callers_transaction_usable():
    actions.enqueue("test.noop", idempotency_key="order-42")
    with transaction.atomic():
        again, created = actions.enqueue_unique("test.noop", idempotency_key="order-42")
        other = actions.enqueue("test.noop", idempotency_key="order-43")

    assert not created
    assert set(Job.objects.values_list("idempotency_key", flat=True)) == {"order-42", "order-43"}
    assert other.pk != again.pk


def test_a_finished_job_still_holds_its_key():
    job = actions.enqueue("test.noop", idempotency_key="once")
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)

    assert actions.enqueue("test.noop", idempotency_key="once").pk == job.pk
    assert Job.objects.count() == 1


def test_jobs_without_keys_are_never_deduplicated():
    actions.enqueue("test.noop", {"n": 1})
    actions.enqueue("test.noop", {"n": 1})

    assert Job.objects.count() == 2


def test_enqueue_many_adds_every_job(org_a):
    organization, _owner = org_a
    count = actions.enqueue_many(
        "test.noop", ({"n": n} for n in range(250)), organization=organization
    )

    assert count == 250
    assert Job.objects.filter(organization=organization, status=JobStatus.QUEUED).count() == 250


def test_cancel_only_stops_queued_jobs():
    queued = actions.enqueue("test.noop")
    running = actions.enqueue("test.noop")
    Job.objects.filter(pk=running.pk).update(status=JobStatus.RUNNING)

    assert actions.cancel_job(queued)
    assert not actions.cancel_job(running)
    queued.refresh_from_db()
    assert queued.status == JobStatus.CANCELLED
    assert queued.finished_at is not None
    assert Worker().run_once() == 0
