"""The worker in-process: outcomes, retries, the horizon, and effects committing with the job."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from closeloop.jobs import actions
from closeloop.jobs.models import Job, JobStatus
from closeloop.jobs.tests.handlers import effects_of
from closeloop.jobs.worker import Worker

# Each test's transaction wraps the worker's own, which become savepoints: the outcomes are the
# same. Tests that need real commits (on-commit callbacks, other processes) say so.
pytestmark = pytest.mark.django_db


def run(job: Job) -> Job:
    Worker().run_once()
    job.refresh_from_db()
    return job


def seconds_until(moment) -> float:
    return (moment - timezone.now()).total_seconds()


def test_a_successful_job_commits_its_effect_with_its_completion():
    job = run(actions.enqueue("test.effect"))

    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 1
    assert job.finished_at is not None
    assert job.lease_expires_at is None
    assert job.last_error == ""
    assert effects_of(job.pk).count() == 1


def test_a_transient_error_rolls_back_the_effect_and_backs_off():
    job = run(actions.enqueue("test.transient"))

    assert job.status == JobStatus.QUEUED
    assert job.attempts == 1
    assert 4 < seconds_until(job.run_after) <= 10  # 5 s * 2**1 * jitter 0.5..1.0
    assert job.last_error.startswith("ConnectionError: the remote end is down")
    assert "Traceback" in job.last_error
    assert effects_of(job.pk).count() == 0


def test_the_backoff_grows_with_each_attempt():
    job = run(actions.enqueue("test.transient"))
    Job.objects.filter(pk=job.pk).update(run_after=timezone.now())
    job = run(job)

    assert job.attempts == 2
    assert 9 < seconds_until(job.run_after) <= 20  # 5 s * 2**2 * jitter


def test_a_job_failing_past_the_retry_horizon_is_dead():
    job = actions.enqueue("test.transient")
    horizon = settings.CLOSELOOP_JOB_RETRY_HORIZON_SECONDS
    Job.objects.filter(pk=job.pk).update(
        retries_from=timezone.now() - timedelta(seconds=horizon - 3)
    )
    job = run(job)

    assert job.status == JobStatus.DEAD
    assert job.finished_at is not None
    assert "ConnectionError" in job.last_error
    assert Worker().run_once() == 0


def test_retry_now_gives_a_dead_job_a_fresh_horizon():
    job = actions.enqueue("test.transient")
    horizon = settings.CLOSELOOP_JOB_RETRY_HORIZON_SECONDS
    long_ago = timezone.now() - timedelta(seconds=horizon - 3)
    Job.objects.filter(pk=job.pk).update(created_at=long_ago, retries_from=long_ago)
    assert run(job).status == JobStatus.DEAD

    assert actions.retry_job(job)
    job = run(job)

    assert job.status == JobStatus.QUEUED  # failed transiently again, but inside the new horizon
    assert job.attempts == 2
    assert job.created_at == long_ago


def test_a_permanent_error_fails_at_once():
    job = run(actions.enqueue("test.permanent"))

    assert job.status == JobStatus.FAILED
    assert job.attempts == 1
    assert job.last_error.startswith("PermanentError: the record was deleted")
    assert effects_of(job.pk).count() == 0
    assert Worker().run_once() == 0


def test_retry_later_runs_again_after_the_requested_delay():
    job = run(actions.enqueue("test.retry_later", {"delay": 30}))

    assert job.status == JobStatus.QUEUED
    assert 28 < seconds_until(job.run_after) <= 30
    assert "not ready yet" in job.last_error


def test_one_failing_job_does_not_undo_the_others_in_its_batch():
    before = actions.enqueue("test.effect")
    failing = actions.enqueue("test.transient")
    after = actions.enqueue("test.effect")
    Worker().run_once()

    statuses = dict(
        Job.objects.filter(pk__in=[before.pk, failing.pk, after.pk]).values_list("pk", "status")
    )
    assert statuses == {
        before.pk: JobStatus.SUCCEEDED,
        failing.pk: JobStatus.QUEUED,
        after.pk: JobStatus.SUCCEEDED,
    }
    assert effects_of(before.pk).count() == effects_of(after.pk).count() == 1


def test_a_handler_outside_a_transaction_keeps_its_effects_even_when_it_fails():
    ok = run(actions.enqueue("test.outside_transaction"))
    failing = run(actions.enqueue("test.outside_transaction", {"fail": True}))

    assert ok.status == JobStatus.SUCCEEDED
    assert failing.status == JobStatus.QUEUED
    assert effects_of(ok.pk).count() == effects_of(failing.pk).count() == 1


def test_an_unknown_kind_is_retried_in_case_a_newer_worker_knows_it():
    job = run(actions.enqueue("nobody.handles.this"))

    assert job.status == JobStatus.QUEUED
    assert "No handler for job kind 'nobody.handles.this'" in job.last_error


def test_jobs_are_not_run_before_their_time():
    actions.enqueue("test.effect", run_after=timezone.now() + timedelta(minutes=5))

    assert Worker().run_once() == 0


def test_a_job_whose_lease_expired_is_claimed_again():
    job = actions.enqueue("test.effect")
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING,
        attempts=1,
        locked_by="gone:1:dead",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    job = run(job)

    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 2
    assert job.locked_by != "gone:1:dead"


def test_a_job_whose_worker_keeps_dying_is_dead_after_the_horizon():
    job = actions.enqueue("test.effect")
    horizon = settings.CLOSELOOP_JOB_RETRY_HORIZON_SECONDS
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING,
        attempts=7,
        retries_from=timezone.now() - timedelta(seconds=horizon + 1),
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    job = run(job)

    assert job.status == JobStatus.DEAD
    assert effects_of(job.pk).count() == 0


def test_a_worker_does_not_finish_a_job_another_worker_took_over():
    job = actions.enqueue("test.effect")
    worker = Worker()
    [claimed] = worker.claim()
    Job.objects.filter(pk=job.pk).update(locked_by="other:2:alive")
    worker.run_batch([claimed])

    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert job.locked_by == "other:2:alive"
    assert effects_of(job.pk).count() == 0


def test_retry_now_requeues_failed_and_dead_jobs_only():
    failed = run(actions.enqueue("test.permanent"))
    succeeded = run(actions.enqueue("test.effect"))

    assert actions.retry_job(failed)
    assert not actions.retry_job(succeeded)
    failed.refresh_from_db()
    assert failed.status == JobStatus.QUEUED
    assert failed.finished_at is None
    assert seconds_until(failed.run_after) <= 0


def test_the_heartbeat_extends_the_lease_of_running_jobs():
    from closeloop.jobs.worker import Heartbeat

    worker = Worker()
    job = actions.enqueue("test.effect_then_sleep", {"marker_dir": "/nonexistent", "sleep": 0})
    worker.claim()
    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now())
    Heartbeat(worker).beat()

    job.refresh_from_db()
    assert 1 < seconds_until(job.lease_expires_at) <= 2  # the handler's own 2 s lease


@pytest.mark.django_db(transaction=True)
def test_a_job_that_never_queries_costs_no_savepoint():
    noop = actions.enqueue("test.noop")
    effect = actions.enqueue("test.effect", run_after=timezone.now() + timedelta(minutes=1))
    with CaptureQueriesContext(connection) as queries:
        Worker().run_once()
    assert not [query for query in queries if query["sql"].startswith("SAVEPOINT")]
    assert run(noop).status == JobStatus.SUCCEEDED

    Job.objects.filter(pk=effect.pk).update(run_after=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        Worker().run_once()
    assert [query for query in queries if query["sql"].startswith("SAVEPOINT")]


@pytest.mark.django_db(transaction=True)
def test_on_commit_callbacks_of_a_failed_job_are_dropped(tmp_path):
    ok = actions.enqueue("test.on_commit", {"marker": str(tmp_path / "ok")})
    failing = actions.enqueue("test.on_commit", {"marker": str(tmp_path / "failing"), "fail": True})
    Worker().run_once()

    assert (tmp_path / "ok").exists()
    assert not (tmp_path / "failing").exists()
    assert effects_of(ok.pk).count() == 1
    assert effects_of(failing.pk).count() == 0


def test_a_handler_may_recover_from_a_database_error_inside_its_own_savepoint():
    actions.enqueue("test.noop", idempotency_key="taken")
    job = run(actions.enqueue("test.recovers_inside", {"key": "taken"}))

    assert job.status == JobStatus.SUCCEEDED
    assert effects_of(job.pk).count() == 1


def test_a_handler_that_swallows_a_broken_transaction_fails_and_undoes_its_work():
    after = actions.enqueue("test.effect")
    job = actions.enqueue("test.swallows_error")
    Job.objects.filter(pk=after.pk).update(run_after=timezone.now() + timedelta(seconds=1))
    job = run(job)

    assert job.status == JobStatus.QUEUED
    assert "rolled back" in job.last_error
    assert effects_of(job.pk).count() == 0


def test_abandoned_jobs_are_claimed_before_the_queue():
    queued = actions.enqueue("test.effect")
    abandoned = actions.enqueue("test.effect")
    Job.objects.filter(pk=abandoned.pk).update(
        status=JobStatus.RUNNING,
        attempts=1,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    Worker(batch_size=1).run_once()

    assert Job.objects.get(pk=abandoned.pk).status == JobStatus.SUCCEEDED
    assert Job.objects.get(pk=queued.pk).status == JobStatus.QUEUED


def test_a_failing_job_without_savepoint_reruns_its_chunk_with_savepoints():
    before = actions.enqueue("test.effect_bare")
    failing = actions.enqueue("test.effect_bare", {"fail": True})
    after = actions.enqueue("test.effect_bare")
    with CaptureQueriesContext(connection) as queries:
        Worker().run_once()

    statuses = dict(
        Job.objects.filter(pk__in=[before.pk, failing.pk, after.pk]).values_list("pk", "status")
    )
    assert statuses == {
        before.pk: JobStatus.SUCCEEDED,
        failing.pk: JobStatus.QUEUED,
        after.pk: JobStatus.SUCCEEDED,
    }
    # The aborted first pass left nothing behind: each effect exists once, the failed one not.
    assert effects_of(before.pk).count() == effects_of(after.pk).count() == 1
    assert effects_of(failing.pk).count() == 0
    assert [query for query in queries if query["sql"].startswith("SAVEPOINT")]


def savepoints_running(kind: str, count: int) -> int:
    for _ in range(count):
        actions.enqueue(kind)
    with CaptureQueriesContext(connection) as queries:
        Worker().run_once()
    assert Job.objects.filter(kind=kind, status=JobStatus.SUCCEEDED).count() == count
    return len([query for query in queries if query["sql"].startswith("SAVEPOINT")])


def test_jobs_without_savepoint_cost_none_when_they_succeed():
    with_savepoints = savepoints_running("test.effect", 3)
    without = savepoints_running("test.effect_bare", 3)
    assert with_savepoints - without == 3  # one per job; the rest are the worker's own


def test_a_batch_handler_gets_the_consecutive_jobs_of_its_kind_in_one_call(tmp_path):
    log = tmp_path / "calls"
    batch = [actions.enqueue("test.effect_batch", {"log": str(log)}) for _ in range(3)]
    other = actions.enqueue("test.effect")
    with CaptureQueriesContext(connection) as queries:
        Worker().run_once()

    assert log.read_text().split() == ["3"]
    assert {job.pk: job.status for job in Job.objects.filter(pk__in=[j.pk for j in batch])} == {
        job.pk: JobStatus.SUCCEEDED for job in batch
    }
    assert all(effects_of(job.pk).count() == 1 for job in batch)
    assert effects_of(other.pk).count() == 1
    inserts = [
        q for q in queries if q["sql"].startswith("INSERT") and "test.effect_record" in str(q)
    ]
    assert len(inserts) == 2  # the batch's effects in one statement, test.effect's in another


def test_a_failing_batch_runs_again_job_by_job_each_in_its_savepoint(tmp_path):
    log = tmp_path / "calls"
    good = actions.enqueue("test.effect_batch", {"log": str(log)})
    failing = actions.enqueue("test.effect_batch", {"log": str(log), "fail": True})
    with CaptureQueriesContext(connection) as queries:
        Worker().run_once()

    assert log.read_text().split() == ["2", "1", "1"]  # together, then each alone
    assert Job.objects.get(pk=good.pk).status == JobStatus.SUCCEEDED
    assert Job.objects.get(pk=failing.pk).status == JobStatus.QUEUED
    assert effects_of(good.pk).count() == 1
    assert effects_of(failing.pk).count() == 0
    assert [query for query in queries if query["sql"].startswith("SAVEPOINT")]
