"""Workflow reporting retention per organization: the hourly clean-up deletes each
organization's finished runs older than its own period (never beyond the server's ceiling) and
erases payloads older than its payload period; other organizations' runs are untouched."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from closeloop.accounts import actions as accounts_actions
from closeloop.workflows import actions, mapping, replays, retention
from closeloop.workflows.jobs import delete_old_runs
from closeloop.workflows.models import RunStatus, TaskRun, WorkflowRun
from closeloop.workflows.tests.conftest import SAMPLE, make_workflow, run_jobs

pytestmark = pytest.mark.django_db

ECHO = {"type": "test.echo", "name": "Echo", "config": {"who": "~{ch://event/email}"}}


def aged(workflow, days: int, *, finish: bool = True) -> WorkflowRun:
    values, _ = mapping.extract(SAMPLE, workflow.event_config["fields"])
    run, _ = actions.start_run(workflow, payload=json.dumps(SAMPLE), fields=values, source="http")
    if finish:
        run_jobs()
    WorkflowRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(days=days))
    run.refresh_from_db()
    return run


def remaining(*runs) -> set[str]:
    ids = set(WorkflowRun.objects.values_list("public_id", flat=True))
    return {run.public_id for run in runs} & ids


def test_retention_per_organization_deletes_only_that_organization_old_runs(org_a, org_b, settings):
    settings.CLOSELOOP_WORKFLOW_RUN_RETENTION_DAYS = 90
    accounts_actions.set_retention(*org_a, runs=10, payloads=None, deliveries=None)
    workflow_a = make_workflow(*org_a, tasks=[ECHO])
    workflow_b = make_workflow(*org_b, tasks=[ECHO])
    a_old, a_new = aged(workflow_a, 20), aged(workflow_a, 5)
    b_old, b_ancient = aged(workflow_b, 20), aged(workflow_b, 100)
    a_stuck = aged(workflow_a, 20, finish=False)  # still queued: kept whatever its age

    delete_old_runs({}, None)

    assert remaining(a_old, a_new, b_old, b_ancient, a_stuck) == {
        a_new.public_id,
        b_old.public_id,
        a_stuck.public_id,
    }
    assert not TaskRun.objects.filter(run_id=a_old.pk).exists()
    assert TaskRun.objects.filter(run_id=b_old.pk).exists()


def test_the_server_ceiling_caps_an_organization_that_chose_longer(org_a, settings):
    settings.CLOSELOOP_WORKFLOW_RUN_RETENTION_DAYS = 90
    accounts_actions.set_retention(*org_a, runs=60, payloads=None, deliveries=None)
    settings.CLOSELOOP_WORKFLOW_RUN_RETENTION_DAYS = 30
    workflow = make_workflow(*org_a, tasks=[ECHO])
    old, recent = aged(workflow, 40), aged(workflow, 20)
    cleaned = retention.apply()
    assert cleaned.runs_deleted == 1
    assert remaining(old, recent) == {recent.public_id}


def test_payloads_are_erased_after_the_payload_period_and_the_run_stays(org_a, org_b):
    accounts_actions.set_retention(*org_a, runs=30, payloads=7, deliveries=None)
    workflow_a = make_workflow(*org_a, tasks=[ECHO])
    workflow_b = make_workflow(*org_b, tasks=[ECHO])
    a_old, a_new, b_old = aged(workflow_a, 8), aged(workflow_a, 2), aged(workflow_b, 8)

    cleaned = retention.apply()

    assert cleaned.payloads_erased == 1
    a_old.refresh_from_db()
    assert (a_old.payload, a_old.fields, a_old.status) == ("", {}, RunStatus.SUCCEEDED)
    assert a_old.payload_erased_at is not None
    task_run = TaskRun.objects.get(run=a_old)
    assert (task_run.input, task_run.output) == ({}, {})
    for kept in (a_new, b_old):
        kept.refresh_from_db()
        assert "ada@example.com" in kept.payload and kept.payload_erased_at is None
        assert TaskRun.objects.get(run=kept).output == {"who": "ada@example.com"}
    with pytest.raises(replays.CannotReplay, match="erased"):
        replays.replay_run(a_old, org_a[1])
    assert retention.apply().payloads_erased == 0  # once


def test_an_erased_failed_run_cannot_be_retried(org_a):
    accounts_actions.set_retention(*org_a, runs=30, payloads=1, deliveries=None)
    flaky = {"type": "test.flaky", "name": "Flaky", "config": {"permanent": True}}
    run = aged(make_workflow(*org_a, tasks=[flaky]), 2)
    assert run.status == RunStatus.FAILED
    retention.apply()
    run.refresh_from_db()
    assert not run.can_retry
    with pytest.raises(actions.CannotRetry, match="erased"):
        actions.retry_run(run, org_a[1])


def test_a_replay_outlives_its_deleted_original(org_a):
    accounts_actions.set_retention(*org_a, runs=10, payloads=None, deliveries=None)
    workflow = make_workflow(*org_a, tasks=[ECHO])
    original = aged(workflow, 5)
    replay = replays.replay_run(original, org_a[1])
    run_jobs()
    WorkflowRun.objects.filter(pk=original.pk).update(
        created_at=timezone.now() - timedelta(days=11)
    )
    retention.apply()
    replay.refresh_from_db()
    assert replay.replay_of_id is None and replay.source == "replay"
    assert not WorkflowRun.objects.filter(pk=original.pk).exists()
