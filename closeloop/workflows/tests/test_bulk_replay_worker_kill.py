"""A real worker killed in the middle of a bulk replay: the job is taken up again where its
last committed batch ended, and every original is replayed exactly once."""

import os
import signal

import pytest
from django.utils import timezone

from closeloop.jobs.models import Job, JobStatus
from closeloop.workflows import queries, replays
from closeloop.workflows.models import BulkReplay, BulkReplayStatus, WorkflowRun
from closeloop.workflows.tests.conftest import make_workflow
from closeloop.workflows.tests.test_bulk_replay import make_runs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SLOW_MODULE = "closeloop.workflows.tests.slow_replays"
RUNS = 300


@pytest.fixture
def slow_bulk_replays(monkeypatch):
    listed = [name for name in os.environ.get("CLOSELOOP_EXTRA_MODULES", "").split(",") if name]
    monkeypatch.setenv("CLOSELOOP_EXTRA_MODULES", ",".join([*listed, SLOW_MODULE]))


def test_a_worker_killed_mid_bulk_replay_replays_each_original_once(
    org_a, worker_process, slow_bulk_replays
):
    organization, user = org_a
    workflow = make_workflow(organization, user, tasks=[])
    make_runs(workflow, RUNS)
    bulk = replays.start_bulk_replay(organization, user, queries.RunFilter(), definition="current")

    def progress() -> int:
        return BulkReplay.objects.get(pk=bulk.pk).done

    first = worker_process("--batch", "1")
    first.wait_while_running(lambda: progress() >= 50, timeout=60)
    first.send(signal.SIGKILL)
    first.wait()

    halfway = BulkReplay.objects.get(pk=bulk.pk)
    assert halfway.status == BulkReplayStatus.RUNNING and 50 <= halfway.done < RUNS
    # What the killed worker committed is whole batches: replays and progress together.
    made = WorkflowRun.objects.filter(source="replay")
    assert made.count() == halfway.replayed == halfway.done
    job = Job.objects.get(pk=bulk.job_id)
    assert job.status == JobStatus.RUNNING

    # Time passes: the dead worker's lease runs out, and another worker takes the job up.
    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now())
    second = worker_process("--once")
    assert second.wait(timeout=120) == 0, second.output()

    bulk.refresh_from_db()
    assert (bulk.status, bulk.done, bulk.replayed) == (BulkReplayStatus.FINISHED, RUNS, RUNS)
    assert made.count() == RUNS
    assert made.values("replay_of").distinct().count() == RUNS
    assert Job.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED
