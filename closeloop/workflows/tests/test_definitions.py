"""Creating and editing workflows: checks, warnings, revisions, the owner kept."""

import pytest

from closeloop.accounts.models import Membership, Role, User
from closeloop.workflows import actions
from closeloop.workflows import definition as definitions
from closeloop.workflows.models import WorkflowRevision
from closeloop.workflows.tests.conftest import MAPPING, directory_task, make_workflow

pytestmark = pytest.mark.django_db


def test_a_new_workflow_has_an_owner_ids_a_token_and_a_first_revision(org_a):
    organization, user = org_a
    workflow = make_workflow(organization, user)

    assert workflow.owner == user
    assert workflow.public_id.startswith("WF_")
    assert workflow.event_id.startswith("EV_")
    assert len(workflow.trigger_token) >= 40
    assert workflow.tasks[0]["id"].startswith("TA_")
    (revision,) = workflow.revisions.all()
    assert (revision.number, revision.author, revision.summary) == (1, user, "Created")
    assert revision.definition == definitions.snapshot(workflow)


def test_a_collaborator_edit_adds_a_revision_and_keeps_the_owner(org_a):
    organization, owner = org_a
    editor = User.objects.create_user("editor@acme.test", "pw")
    Membership.objects.create(organization=organization, user=editor, role=Role.MEMBER)
    workflow = make_workflow(organization, owner)

    workflow, warnings = actions.update_workflow(workflow, editor, {"name": "Renamed"})

    assert warnings == []
    assert workflow.owner == owner
    assert workflow.modified_by == editor
    assert workflow.revision == 2
    latest = workflow.revisions.first()
    assert (latest.number, latest.author, latest.summary) == (2, editor, "Changed name")
    lines = definitions.diff(
        workflow.revisions.last().definition, latest.definition, before_label="r1", after_label="r2"
    )
    assert ("-", '-  "name": "Order follow-up",') in lines
    assert ("+", '+  "name": "Renamed",') in lines


def test_saving_without_changes_adds_no_revision(org_a):
    workflow = make_workflow(*org_a)
    actions.update_workflow(workflow, org_a[1], {"name": workflow.name})
    assert WorkflowRevision.objects.filter(workflow=workflow).count() == 1


def test_invalid_definitions_are_refused_with_every_problem(org_a):
    task = directory_task()
    task["config"]["contact"]["email"] = ""
    with pytest.raises(actions.InvalidWorkflow) as raised:
        actions.create_workflow(
            *org_a,
            {
                "name": "",
                "event": {"type": "json", "config": {"fields": [{"name": "a", "path": "x"}]}},
                "conditions": {"groups": [{"rules": [{"field": "zz", "operator": "equals"}]}]},
                "tasks": [task, {"type": "nope"}],
            },
        )
    errors = raised.value.errors
    assert "Give the workflow a name." in errors
    assert any("A JSONPath starts with $" in error for error in errors)
    assert any('the event has no field "zz"' in error for error in errors)
    assert any("Email is required" in error for error in errors)
    assert any("unknown task type 'nope'" in error for error in errors)


def test_unknown_piped_fields_are_warnings(org_a):
    task = directory_task()
    task["config"]["embeddedData"].append({"name": "Plan", "value": "~{ch://event/plan}"})
    task["config"]["embeddedData"].append({"name": "Later", "value": "~{ch://TA_later/x}"})
    _workflow, warnings = actions.create_workflow(
        *org_a,
        {"name": "W", "event": {"type": "json", "config": {"fields": MAPPING}}, "tasks": [task]},
    )
    assert warnings == [
        "Task 1: Save contact, embedded data Plan: ~{ch://event/plan} is not a field of the "
        "event or of an earlier task; it will be empty when the workflow runs.",
        "Task 1: Save contact, embedded data Later: ~{ch://TA_later/x} is not a field of the "
        "event or of an earlier task; it will be empty when the workflow runs.",
    ]


def test_the_picker_lists_event_fields_and_earlier_outputs(org_a):
    workflow = make_workflow(
        *org_a, tasks=[directory_task(), {"type": "test.echo", "config": {"a": "1"}}]
    )
    snapshot = definitions.snapshot(workflow)
    groups = [group.as_json() for group in definitions.picker_groups(snapshot, 1)]
    assert [group["label"] for group in groups] == ["Event: JSON event", "Task 1: Save contact"]
    assert groups[0]["fields"][0] == {
        "name": "first",
        "label": "first ($.customer.first)",
        "type": "String",
        "token": f"~{{ch://{workflow.event_id}/first}}",
    }
    assert groups[1]["fields"][0]["token"] == f"~{{ch://{workflow.tasks[0]['id']}/contactId}}"


def test_a_survey_response_workflow_needs_a_survey(org_a):
    with pytest.raises(actions.InvalidWorkflow, match="belongs to a survey"):
        actions.create_workflow(*org_a, {"name": "W", "event": {"type": "survey_response"}})


def test_unknown_keys_are_refused(org_a):
    with pytest.raises(actions.InvalidWorkflow, match="no setting 'colour'"):
        actions.create_workflow(*org_a, {"name": "W", "colour": "red", "event": {"type": "json"}})
