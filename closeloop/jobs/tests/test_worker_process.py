"""Real worker processes: killed mid-job, stopped with SIGTERM, racing each other."""

import signal
from collections import Counter

import pytest
from django.db import transaction
from django.utils import timezone

from closeloop.jobs import actions
from closeloop.jobs.models import Job, JobStatus
from closeloop.jobs.tests.conftest import wait_for
from closeloop.jobs.tests.handlers import EFFECT_KIND, effects_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def status_of(job: Job) -> str:
    return Job.objects.values_list("status", flat=True).get(pk=job.pk)


def test_a_job_killed_mid_run_runs_again_and_takes_effect_once(worker_process, tmp_path):
    job = actions.enqueue("test.effect_then_sleep", {"marker_dir": str(tmp_path), "sleep": 60})
    first = worker_process("--batch", "1")
    first.wait_while_running((tmp_path / f"started-{job.pk}-1").exists)

    first.send(signal.SIGKILL)
    first.wait()
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert job.attempts == 1
    assert effects_of(job.pk).count() == 0  # the killed transaction rolled back

    wait_for(lambda: timezone.now() > job.lease_expires_at, timeout=10, what="the lease to expire")
    second = worker_process("--once")
    assert second.wait() == 0, second.output()

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 2
    assert effects_of(job.pk).count() == 1
    assert (tmp_path / f"started-{job.pk}-2").exists()


def test_sigterm_finishes_the_current_batch_then_exits(worker_process, tmp_path):
    runs = tmp_path / "runs.log"
    jobs = [actions.enqueue("test.effect", {"log": str(runs), "sleep": 0.3}) for _ in range(5)]
    worker = worker_process("--batch", "3")
    worker.wait_while_running(lambda: runs.exists() and runs.read_text())

    worker.send(signal.SIGTERM)
    assert worker.wait() == 0, worker.output()

    statuses = [status_of(job) for job in jobs]
    assert statuses == [JobStatus.SUCCEEDED] * 3 + [JobStatus.QUEUED] * 2
    assert "stopped: 3 succeeded" in worker.output()


@pytest.mark.postgres_only
def test_two_workers_never_run_the_same_job(worker_process, tmp_path, is_postgres):
    if not is_postgres:
        pytest.skip("SQLite has one writer at a time, so workers cannot claim concurrently")
    runs = tmp_path / "runs.log"
    workers = [worker_process("--batch", "10", "--idle-exit", "3") for _ in range(2)]
    for worker in workers:
        worker.wait_until_started()

    with transaction.atomic():  # one commit, one NOTIFY: both workers wake together
        jobs = [
            actions.enqueue("test.effect", {"log": str(runs), "sleep": 0.005}) for _ in range(200)
        ]
    for worker in workers:
        assert worker.wait() == 0, worker.output()

    run_lines = [line.split() for line in runs.read_text().splitlines()]
    assert sorted(int(job_id) for job_id, _worker in run_lines) == [job.pk for job in jobs]
    assert len({worker_id for _job, worker_id in run_lines}) == 2, "both workers took jobs"
    effects = Counter(Job.objects.filter(kind=EFFECT_KIND).values_list("payload__of", flat=True))
    assert effects == Counter({job.pk: 1 for job in jobs})
    assert set(
        Job.objects.filter(pk__in=[job.pk for job in jobs]).values_list("status", "attempts")
    ) == {(JobStatus.SUCCEEDED, 1)}
