"""The Distribute survey task obeys the survey permissions: it runs as the workflow's owner and
fails at once (not retried) when the owner may no longer distribute the survey; its editor
offers the surveys one may distribute, and saving a survey one may not distribute is refused."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

import closeloop.workflows.jobs  # noqa: F401 - registers the workflow run handlers
from closeloop.distributions.models import Distribution
from closeloop.distributions.tests.conftest import make_survey
from closeloop.distributions.tests.helpers import run_jobs
from closeloop.distributions.tests.permission_world import (
    SENTENCE,
    World,
)
from closeloop.distributions.workflow_task import DistributeSurveyTask
from closeloop.surveys import actions as survey_actions
from closeloop.workflows import actions as workflow_actions
from closeloop.workflows import dryrun, mapping
from closeloop.workflows.actions import InvalidWorkflow
from closeloop.workflows.models import RunStatus, TaskRun, TaskStatus
from closeloop.workflows.tests.conftest import SAMPLE, make_workflow

pytestmark = pytest.mark.django_db

TASK = DistributeSurveyTask()


def invite(survey) -> dict:
    config = {"survey": survey.public_id if survey else "", "email": "~{ch://event/email}"}
    return {"type": "distribute_survey", "name": "Invite", "id": "TA_invite", "config": config}


def start(workflow):
    values, _errors = mapping.extract(SAMPLE, workflow.event_config["fields"])
    run, _ = workflow_actions.start_run(workflow, payload=json.dumps(SAMPLE), fields=values)
    return run


def _share(world: World, role: str, permissions: list[str]) -> None:
    survey_actions.share_survey(
        world.survey, world.users["owner"], user=world.users[role], permissions=permissions
    )


def test_the_task_distributes_as_an_owner_who_may(world):
    workflow = make_workflow(
        world.organization, world.users["distributor"], tasks=[invite(world.survey)]
    )
    run = start(workflow)
    run_jobs()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    created = Distribution.objects.exclude(pk=world.distribution.pk).get()
    assert created.owner == world.users["distributor"]


def test_the_task_fails_for_good_when_the_owner_lost_the_permission(world):
    workflow = make_workflow(
        world.organization, world.users["distributor"], tasks=[invite(world.survey)]
    )
    _share(world, "distributor", ["view_results"])
    run = start(workflow)
    run_jobs()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    task = TaskRun.objects.get(run=run, task_id="TA_invite")
    assert task.status == TaskStatus.FAILED
    assert task.attempts == 1 and task.next_retry_at is None  # permanent: not retried
    assert SENTENCE in task.error
    assert "The workflow runs as its owner, Dora Member." in task.error
    assert Distribution.objects.count() == 1
    # The dry run says the same.
    (preview,) = dryrun.dry_run(workflow, json.dumps(SAMPLE)).tasks
    assert preview.would_fail and any(SENTENCE in problem for problem in preview.problems)


def test_the_workflows_own_survey_is_checked_too(world):
    workflow = make_workflow(
        world.organization,
        world.users["distributor"],
        tasks=[invite(None)],
        survey=world.survey.public_id,
    )
    _share(world, "distributor", ["manage_workflows"])
    run = start(workflow)
    run_jobs()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert SENTENCE in TaskRun.objects.get(run=run, task_id="TA_invite").error


def test_saving_a_survey_the_editor_may_not_distribute_is_refused(world):
    with pytest.raises(InvalidWorkflow) as refused:
        make_workflow(world.organization, world.users["viewer"], tasks=[invite(world.survey)])
    assert any(SENTENCE in problem for problem in refused.value.errors)
    with pytest.raises(InvalidWorkflow) as hidden:
        make_workflow(world.organization, world.users["stranger"], tasks=[invite(world.survey)])
    assert any(f"there is no survey {world.survey.public_id}" in p for p in hidden.value.errors)


def test_an_edit_that_keeps_the_survey_is_not_refused():
    assert (
        TASK.check_edit({"survey": "SV_x"}, {"survey": "SV_x"}, workflow=None, editor=object())
        == []
    )


def test_the_editor_offers_the_surveys_one_may_distribute(world):
    owner = world.users["owner"]
    private = make_survey(world.organization, owner, name="Private pulse")
    workflow = make_workflow(
        world.organization, world.users["distributor"], tasks=[invite(world.survey)]
    )
    # Without the editing user: the workflow's owner's surveys.
    offered = TASK.editor_context({}, organization=world.organization, workflow=workflow)
    assert [item.public_id for item in offered["surveys"]] == [world.survey.public_id]
    # With it: the editor's.
    offered = TASK.editor_context(
        {}, organization=world.organization, workflow=workflow, user=owner
    )
    assert {item.public_id for item in offered["surveys"]} == {
        world.survey.public_id,
        private.public_id,
    }
    # A survey the task already names stays a choice, by its id only.
    offered = TASK.editor_context(
        {"survey": private.public_id}, organization=world.organization, workflow=workflow
    )
    kept = offered["surveys"][-1]
    assert kept["public_id"] == private.public_id and "Private pulse" not in kept["name"]


def test_the_workflow_editor_page_lists_them(client, world):
    owner = world.users["owner"]
    private = make_survey(world.organization, owner, name="Private pulse")
    workflow = make_workflow(world.organization, owner, tasks=[invite(private)])
    # The workflow's owner may distribute both; the kept survey is selected.
    client.force_login(owner)
    page = client.get(reverse("workflows:edit", args=[workflow.public_id])).content.decode()
    assert f'<option value="{private.public_id}" selected>Private pulse</option>' in page
    assert f'<option value="{world.survey.public_id}">' in page
