"""Replay: any finished run (succeeded, failed, skipped) run again from the start as a new run
linked to the original, with the workflow's current revision or the run's own; the original
is never changed."""

import json

import pytest
from django.forms.models import model_to_dict

from closeloop.jobs.models import Job
from closeloop.workflows import actions, mapping, replays
from closeloop.workflows.models import (
    ReplayDefinition,
    RunStatus,
    TaskRun,
    WorkflowRun,
)
from closeloop.workflows.tests.conftest import MAPPING, SAMPLE, make_workflow, run_jobs

pytestmark = pytest.mark.django_db

OVER_500 = {
    "match": "all",
    "groups": [
        {"match": "all", "rules": [{"field": "total", "operator": "greaterThan", "value": "500"}]}
    ],
}
ECHO = {"type": "test.echo", "name": "Echo", "config": {"who": "~{ch://event/email}"}}


def start(workflow, payload=SAMPLE, dedup_key=None):
    values, errors = mapping.extract(payload, workflow.event_config["fields"])
    assert not errors
    run, _created = actions.start_run(
        workflow, payload=json.dumps(payload), fields=values, dedup_key=dedup_key, source="http"
    )
    return run


def finished(run) -> WorkflowRun:
    run_jobs()
    run.refresh_from_db()
    return run


def snapshot(run) -> tuple[dict, list[dict]]:
    run = WorkflowRun.objects.get(pk=run.pk)
    tasks = [model_to_dict(task_run) for task_run in TaskRun.objects.filter(run=run)]
    return model_to_dict(run), tasks


def test_replay_of_a_succeeded_run_makes_a_second_run_and_the_first_is_unchanged(org_a):
    organization, user = org_a
    workflow = make_workflow(organization, user, tasks=[ECHO])
    original = finished(start(workflow, dedup_key="order-1"))
    assert original.status == RunStatus.SUCCEEDED
    before = snapshot(original)

    replay = replays.replay_run(original, user)
    assert replay.pk != original.pk
    assert (replay.status, replay.source, replay.replay_of_id) == ("queued", "replay", original.pk)
    assert replay.dedup_key == f"replay:{original.public_id}:1"
    assert replay.replayed_by == user
    assert replay.payload == original.payload and replay.fields == original.fields
    replay = finished(replay)

    assert replay.status == RunStatus.SUCCEEDED
    assert TaskRun.objects.get(run=replay).output == {"who": "ada@example.com"}
    assert snapshot(original) == before
    assert WorkflowRun.objects.count() == 2

    second = replays.replay_run(original, user)
    assert second.dedup_key == f"replay:{original.public_id}:2"
    assert snapshot(original) == before


def test_a_skipped_run_replayed_with_the_fixed_revision_runs_its_tasks(org_a):
    organization, user = org_a
    workflow = make_workflow(organization, user, tasks=[ECHO], conditions=OVER_500)
    original = finished(start(workflow))
    assert original.status == RunStatus.SKIPPED
    fixed = {**OVER_500, "groups": [{**OVER_500["groups"][0]}]}
    fixed["groups"][0]["rules"] = [{"field": "total", "operator": "greaterThan", "value": "100"}]
    workflow, _ = actions.update_workflow(workflow, user, {"conditions": fixed})

    with_original = finished(
        replays.replay_run(original, user, definition=ReplayDefinition.ORIGINAL)
    )
    assert (with_original.status, with_original.revision) == (RunStatus.SKIPPED, 1)
    with_current = finished(replays.replay_run(original, user))
    assert (with_current.status, with_current.revision) == (RunStatus.SUCCEEDED, 2)
    original.refresh_from_db()
    assert original.status == RunStatus.SKIPPED and original.generation == 1


def test_a_failed_run_can_be_replayed_as_well_as_retried(org_a):
    organization, user = org_a
    flaky = {"type": "test.flaky", "name": "Flaky", "config": {"permanent": True}}
    workflow = make_workflow(organization, user, tasks=[flaky])
    original = finished(start(workflow))
    assert original.status == RunStatus.FAILED
    workflow, _ = actions.update_workflow(workflow, user, {"tasks": [ECHO]})

    replay = finished(replays.replay_run(original, user))
    assert replay.status == RunStatus.SUCCEEDED
    original.refresh_from_db()
    assert original.status == RunStatus.FAILED and original.can_retry


def test_fields_are_mapped_again_with_the_chosen_revision(org_a):
    organization, user = org_a
    workflow = make_workflow(organization, user, tasks=[ECHO])
    original = finished(start(workflow))
    remapped = [
        {**row, "path": "$.order.store"} if row["name"] == "email" else row for row in MAPPING
    ]
    workflow, _ = actions.update_workflow(
        workflow, user, {"event": {"type": "json", "config": {"fields": remapped}}}
    )

    current = finished(replays.replay_run(original, user))
    assert current.fields["email"] == "Soho"
    assert TaskRun.objects.get(run=current).output == {"who": "Soho"}
    kept = finished(replays.replay_run(original, user, definition=ReplayDefinition.ORIGINAL))
    assert kept.fields["email"] == "ada@example.com"


def test_what_cannot_be_replayed_is_refused_with_the_reason_and_changes_nothing(org_a):
    organization, user = org_a
    workflow = make_workflow(organization, user, tasks=[ECHO])
    queued = start(workflow)
    with pytest.raises(replays.CannotReplay, match="queued; replay it once it has finished"):
        replays.replay_run(queued, user)
    run_jobs()
    queued.refresh_from_db()

    actions.set_enabled(workflow, user, False)
    with pytest.raises(replays.CannotReplay, match="The workflow is disabled"):
        replays.replay_run(queued, user)
    actions.set_enabled(workflow, user, True)

    WorkflowRun.objects.filter(pk=queued.pk).update(payload_erased_at=queued.finished_at)
    queued.refresh_from_db()
    with pytest.raises(replays.CannotReplay, match="payload was erased"):
        replays.replay_run(queued, user)
    with pytest.raises(replays.CannotReplay, match="Unknown revision choice"):
        replays.replay_run(finished(start(workflow)), user, definition="yesterday")
    assert not WorkflowRun.objects.filter(source="replay").exists()


def test_a_changed_event_can_only_be_replayed_with_the_run_revision(org_a):
    organization, user = org_a
    workflow = make_workflow(organization, user, tasks=[ECHO])
    original = finished(start(workflow))
    WorkflowRun.objects.filter(pk=original.pk).update(event_type="segment")
    original.refresh_from_db()
    with pytest.raises(replays.CannotReplay, match="replay it with the revision it ran with"):
        replays.replay_run(original, user)
    options = replays.replay_options(original)
    assert [option.choice for option in options] == ["current"]
    assert options[0].problem


def test_the_replay_job_is_queued_with_the_new_run(org_a):
    organization, user = org_a
    workflow = make_workflow(organization, user, tasks=[ECHO])
    original = finished(start(workflow))
    Job.objects.all().delete()
    replay = replays.replay_run(original, user)
    job = Job.objects.get()
    assert job.kind == actions.RUN_JOB
    assert job.payload == {"run": replay.pk, "generation": 1}
    assert job.organization_id == organization.pk


def test_side_effects_are_listed_by_task(org_a):
    organization, user = org_a
    sender = {"type": "test.sender", "name": "Invite", "config": {}}
    remote = {"type": "test.remote", "name": "CRM", "config": {}}
    workflow = make_workflow(organization, user, tasks=[ECHO, sender, remote])
    original = finished(start(workflow))
    assert replays.side_effects_of(original.definition) == [
        "send test messages (Task 2: Invite)",
        "call Remote (test) (Task 3: CRM)",
    ]
    actions.update_workflow(workflow, user, {"tasks": [ECHO]})
    current, own = replays.replay_options(original)
    assert (current.choice, current.revision, current.side_effects) == ("current", 2, [])
    assert (own.choice, own.revision) == ("original", 1)
    assert own.side_effects[0] == "send test messages (Task 2: Invite)"
