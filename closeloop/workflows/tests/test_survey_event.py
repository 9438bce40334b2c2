"""The survey response event: a recorded response starts the survey's workflows once."""

import json

import pytest
from django.utils import timezone

from closeloop.directory import actions as directory_actions
from closeloop.surveys import actions as survey_actions
from closeloop.surveys.models import Response
from closeloop.workflows import actions
from closeloop.workflows import definition as definitions
from closeloop.workflows.models import RunStatus, TaskRun, WorkflowRun
from closeloop.workflows.tests.conftest import run_jobs

pytestmark = pytest.mark.django_db

SURVEY = {
    "schema": 1,
    "title": "How did we do?",
    "blocks": [
        {
            "id": "BL_1",
            "name": "Main",
            "elements": [
                {
                    "id": "QID1",
                    "type": "nps",
                    "text": "How likely are you to recommend us?",
                    "required": True,
                    "lowLabel": "No",
                    "highLabel": "Yes",
                },
                {
                    "id": "QID2",
                    "type": "text",
                    "text": "Why?",
                    "required": False,
                    "multiline": False,
                    "validation": "",
                },
            ],
        }
    ],
    "flow": [
        {"type": "embedded_data", "fields": [{"name": "Store", "source": "contact", "value": ""}]},
        {"type": "block", "block": "BL_1"},
    ],
    "end": {"message": "Thanks"},
    "options": {"backButton": True, "progressBar": True},
    "translations": {},
    "nextQuestion": 3,
    "nextBlock": 2,
}


@pytest.fixture
def survey(org_a):
    organization, user = org_a
    survey = survey_actions.create_survey(organization, user, "Feedback", SURVEY)
    survey_actions.publish(survey, user)
    survey.refresh_from_db()
    return survey


def recorded_response(survey, *, finished=True, score=3):
    directory = directory_actions.default_directory(survey.organization)
    contact, _ = directory_actions.upsert_contact(
        directory, {"firstName": "Ann", "email": "ann@example.com"}, {"Store": "Oslo"}
    )
    return Response.objects.create(
        organization=survey.organization,
        survey=survey,
        version=survey.current_version,
        contact=contact,
        answers={"QID1": score, "QID2": "Slow checkout"},
        embedded_data={"Store": "Oslo"},
        finished=finished,
        finished_at=timezone.now(),
        progress=100 if finished else 50,
    )


def response_workflow(org_a, survey, **config):
    echo = {
        "type": "test.echo",
        "config": {"who": "~{ch://event/contact.email}", "why": "~{ch://event/QID2}"},
    }
    conditions = {
        "match": "all",
        "groups": [{"rules": [{"field": "QID1", "operator": "lessThan", "value": "7"}]}],
    }
    workflow, warnings = actions.create_workflow(
        *org_a,
        {
            "name": "Detractor follow-up",
            "survey": survey.public_id,
            "event": {"type": "survey_response", "config": config or None},
            "conditions": conditions,
            "tasks": [echo],
        },
    )
    assert warnings == []
    return workflow


def test_the_event_offers_answers_embedded_data_and_contact(survey):
    names = [item.name for item in definitions.event_fields("survey_response", {}, survey=survey)]
    assert {"responseId", "finished", "contact.email", "embeddedData.Store", "QID1", "QID2"} <= set(
        names
    )
    types = definitions.field_types("survey_response", {}, survey=survey)
    assert (types["QID1"], types["QID2"], types["finished"]) == ("Number", "String", "Boolean")


def test_a_finished_response_runs_the_workflow_once(org_a, survey):
    workflow = response_workflow(org_a, survey)
    response = recorded_response(survey)

    (run,) = actions.survey_response_finished(response)
    again = actions.survey_response_finished(response)
    assert again == [run]
    run_jobs()

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.workflow == workflow
    assert run.fields["QID1"] == 3
    assert run.fields["embeddedData.Store"] == "Oslo"
    assert json.loads(run.payload)["values"] == {"QID1": 3, "QID2": "Slow checkout"}
    assert TaskRun.objects.get(run=run).output == {
        "who": "ann@example.com",
        "why": "Slow checkout",
    }


def test_conditions_apply_to_answers(org_a, survey):
    response_workflow(org_a, survey)
    (run,) = actions.survey_response_finished(recorded_response(survey, score=9))
    run_jobs()
    run.refresh_from_db()
    assert run.status == RunStatus.SKIPPED
    assert '"QID1" is less than "7" (the value was "9")' in run.skip_reason


def test_partial_responses_start_only_workflows_that_ask_for_them(org_a, survey):
    response_workflow(org_a, survey)
    partial = recorded_response(survey, finished=False)
    assert actions.survey_response_finished(partial) == []

    response_workflow(org_a, survey, includePartial=True)
    assert len(actions.survey_response_finished(partial)) == 1


def test_other_surveys_and_organizations_are_not_started(org_a, org_b, survey):
    response_workflow(org_a, survey)
    other = survey_actions.create_survey(*org_b, "Other", SURVEY)
    survey_actions.publish(other, org_b[1])
    other.refresh_from_db()
    assert actions.survey_response_finished(recorded_response(other)) == []
    assert not WorkflowRun.objects.exists()


def test_a_survey_of_another_organization_cannot_be_chosen(org_a, org_b):
    other = survey_actions.create_survey(*org_b, "Other", SURVEY)
    with pytest.raises(actions.InvalidWorkflow, match="There is no survey"):
        actions.create_workflow(
            *org_a,
            {"name": "W", "survey": other.public_id, "event": {"type": "survey_response"}},
        )
