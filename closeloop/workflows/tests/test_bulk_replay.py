"""Bulk replay: the finished runs a reporting filter shows, replayed by a ledger job in batches
with progress, capped, cancellable, and never twice for one original."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from closeloop.jobs.models import Job, JobStatus
from closeloop.workflows import definition as definitions
from closeloop.workflows import queries, replays
from closeloop.workflows.models import (
    BulkReplay,
    BulkReplayStatus,
    ReplayDefinition,
    RunStatus,
    WorkflowRun,
)
from closeloop.workflows.tests.conftest import SAMPLE, make_workflow, run_jobs

pytestmark = pytest.mark.django_db

ECHO = {"type": "test.echo", "name": "Echo", "config": {"who": "~{ch://event/email}"}}


def make_runs(workflow, count: int, *, status=RunStatus.SUCCEEDED, text="ada", days_ago=0):
    """`count` finished runs of the workflow, in one INSERT."""
    now = timezone.now() - timedelta(days=days_ago)
    definition = definitions.snapshot(workflow)
    payload = json.dumps({**SAMPLE, "customer": {**SAMPLE["customer"], "email": f"{text}@x.test"}})
    runs = [
        WorkflowRun(
            organization_id=workflow.organization_id,
            workflow=workflow,
            event_type=workflow.event_type,
            source="http",
            status=status,
            payload=payload,
            fields={"email": f"{text}@x.test", "total": 120.5},
            definition=definition,
            revision=workflow.revision,
            created_at=now,
            finished_at=now,
        )
        for _ in range(count)
    ]
    return WorkflowRun.objects.bulk_create(runs, batch_size=500)


def only_status(status: str) -> queries.RunFilter:
    return queries.RunFilter(status=status)


def test_bulk_replay_of_1000_filtered_runs_with_progress(org_a):
    organization, user = org_a
    workflow = make_workflow(organization, user, tasks=[ECHO])
    make_runs(workflow, 1000, status=RunStatus.SKIPPED)
    make_runs(workflow, 30, status=RunStatus.SUCCEEDED)
    filters = only_status(RunStatus.SKIPPED)
    preview = replays.preview(organization, user, filters, ReplayDefinition.CURRENT)
    assert (preview.shown, preview.total, preview.over_cap) == (1000, 1000, False)

    bulk = replays.start_bulk_replay(organization, user, filters, definition="current")
    assert (bulk.status, bulk.total, bulk.done, bulk.percent) == ("queued", 1000, 0, 0)
    job = Job.objects.get(pk=bulk.job_id)
    assert job.kind == replays.BULK_REPLAY_JOB and job.organization_id == organization.pk

    assert replays.run_bulk_replay(bulk.pk, batch=300, batches=2) is True
    bulk.refresh_from_db()
    assert (bulk.status, bulk.done, bulk.replayed, bulk.percent) == ("running", 600, 600, 60)
    assert replays.run_bulk_replay(bulk.pk, batch=300) is False
    bulk.refresh_from_db()
    assert (bulk.status, bulk.done, bulk.replayed, bulk.skipped) == ("finished", 1000, 1000, 0)
    assert bulk.percent == 100

    made = WorkflowRun.objects.filter(source="replay")
    assert made.count() == 1000
    assert made.values("replay_of").distinct().count() == 1000
    assert not made.exclude(replay_of__status=RunStatus.SKIPPED).exists()
    assert made.filter(dedup_key__startswith=f"bulk:{bulk.public_id}:").count() == 1000
    originals = WorkflowRun.objects.exclude(source="replay")
    assert originals.filter(status=RunStatus.SKIPPED).count() == 1000  # unchanged


def test_the_job_in_the_worker_replays_and_the_replays_run(org_a):
    organization, user = org_a
    workflow = make_workflow(organization, user, tasks=[ECHO])
    make_runs(workflow, 5)
    bulk = replays.start_bulk_replay(organization, user, queries.RunFilter(), definition="original")
    run_jobs()
    bulk.refresh_from_db()
    assert (bulk.status, bulk.replayed) == (BulkReplayStatus.FINISHED, 5)
    assert Job.objects.get(pk=bulk.job_id).status == JobStatus.SUCCEEDED
    made = WorkflowRun.objects.filter(source="replay")
    assert sorted(made.values_list("status", flat=True)) == [RunStatus.SUCCEEDED] * 5


def test_a_job_run_again_replays_no_original_twice(org_a):
    organization, user = org_a
    workflow = make_workflow(organization, user, tasks=[ECHO])
    make_runs(workflow, 50)
    bulk = replays.start_bulk_replay(organization, user, queries.RunFilter(), definition="current")
    replays.run_bulk_replay(bulk.pk, batch=20, batches=2)
    # As if the progress of the last batches had been lost: the same originals come again.
    BulkReplay.objects.filter(pk=bulk.pk).update(last_run_id=0, done=0, replayed=0)
    replays.run_bulk_replay(bulk.pk, batch=20)
    bulk.refresh_from_db()
    made = WorkflowRun.objects.filter(source="replay")
    assert made.count() == 50 and made.values("replay_of").distinct().count() == 50
    assert bulk.replayed == 10  # only the 10 not replayed before were new


def test_cancel_stops_at_the_next_batch_and_keeps_the_replays_made(org_a):
    organization, user = org_a
    workflow = make_workflow(organization, user, tasks=[ECHO])
    make_runs(workflow, 100)
    bulk = replays.start_bulk_replay(organization, user, queries.RunFilter(), definition="current")
    replays.run_bulk_replay(bulk.pk, batch=30, batches=1)
    assert replays.cancel_bulk_replay(bulk, user) is True
    assert replays.run_bulk_replay(bulk.pk, batch=30) is False
    bulk.refresh_from_db()
    assert (bulk.status, bulk.done, bulk.cancelled_by) == (BulkReplayStatus.CANCELLED, 30, user)
    assert WorkflowRun.objects.filter(source="replay").count() == 30
    assert replays.cancel_bulk_replay(bulk, user) is False


def test_cancel_before_a_worker_took_it_cancels_the_job(org_a):
    organization, user = org_a
    workflow = make_workflow(organization, user, tasks=[ECHO])
    make_runs(workflow, 3)
    bulk = replays.start_bulk_replay(organization, user, queries.RunFilter(), definition="current")
    replays.cancel_bulk_replay(bulk, user)
    assert Job.objects.get(pk=bulk.job_id).status == JobStatus.CANCELLED
    run_jobs()
    assert not WorkflowRun.objects.filter(source="replay").exists()


def test_more_than_the_cap_is_refused_with_a_clear_message(org_a, monkeypatch):
    organization, user = org_a
    workflow = make_workflow(organization, user, tasks=[ECHO])
    make_runs(workflow, 12)
    monkeypatch.setattr(replays, "BULK_REPLAY_CAP", 10)
    assert replays.preview(organization, user, queries.RunFilter(), "current").over_cap
    with pytest.raises(replays.CannotReplay, match="at most 10 runs and this filter shows 12"):
        replays.start_bulk_replay(organization, user, queries.RunFilter(), definition="current")
    assert not BulkReplay.objects.exists()


def test_the_filter_text_and_dates_choose_the_runs(org_a):
    organization, user = org_a
    workflow = make_workflow(organization, user, tasks=[ECHO])
    make_runs(workflow, 4, text="zed")
    make_runs(workflow, 6, text="ada")
    make_runs(workflow, 5, text="zed", days_ago=10)
    since = (timezone.now() - timedelta(days=2)).date()
    filters = queries.RunFilter(text="zed@x", since=since)
    bulk = replays.start_bulk_replay(organization, user, filters, definition="current")
    assert bulk.total == 4
    replays.run_bulk_replay(bulk.pk)
    made = WorkflowRun.objects.filter(source="replay")
    assert made.count() == 4 and all("zed@x.test" in run.payload for run in made)


def test_runs_arriving_later_and_the_replays_themselves_are_left_out(org_a):
    organization, user = org_a
    workflow = make_workflow(organization, user, tasks=[ECHO])
    make_runs(workflow, 10)
    bulk = replays.start_bulk_replay(organization, user, queries.RunFilter(), definition="current")
    make_runs(workflow, 3)  # after the confirmation
    replays.run_bulk_replay(bulk.pk, batch=4)
    bulk.refresh_from_db()
    assert (bulk.replayed, WorkflowRun.objects.filter(source="replay").count()) == (10, 10)


def test_runs_of_a_disabled_workflow_are_left_out_with_the_reason(org_a):
    organization, user = org_a
    on = make_workflow(organization, user, tasks=[ECHO], name="On")
    off = make_workflow(organization, user, tasks=[ECHO], name="Off")
    make_runs(on, 3)
    make_runs(off, 2)
    bulk = replays.start_bulk_replay(organization, user, queries.RunFilter(), definition="current")
    off.enabled = False
    off.save()
    replays.run_bulk_replay(bulk.pk)
    bulk.refresh_from_db()
    assert (bulk.replayed, bulk.skipped) == (3, 2)
    assert bulk.skip_reasons == {"the workflow is disabled": 2}


def test_unfinished_and_erased_runs_are_not_counted(org_a):
    organization, user = org_a
    workflow = make_workflow(organization, user, tasks=[ECHO])
    make_runs(workflow, 3)
    make_runs(workflow, 2, status=RunStatus.RETRYING)
    erased = make_runs(workflow, 1)[0]
    WorkflowRun.objects.filter(pk=erased.pk).update(payload="", payload_erased_at=timezone.now())
    preview = replays.preview(organization, user, queries.RunFilter(), "current")
    assert (preview.shown, preview.total, preview.left_out) == (6, 3, 3)


def test_another_organization_runs_are_never_replayed(org_a, org_b):
    workflow_a = make_workflow(*org_a, tasks=[ECHO])
    workflow_b = make_workflow(*org_b, tasks=[ECHO])
    make_runs(workflow_a, 4)
    make_runs(workflow_b, 7)
    bulk = replays.start_bulk_replay(org_b[0], org_b[1], queries.RunFilter(), definition="current")
    assert bulk.total == 7
    replays.run_bulk_replay(bulk.pk)
    made = WorkflowRun.objects.filter(source="replay")
    assert made.count() == 7
    assert set(made.values_list("organization_id", flat=True)) == {org_b[0].pk}
