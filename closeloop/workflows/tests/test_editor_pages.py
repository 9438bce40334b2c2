"""The editor pages: list, create, event mapping, capture, conditions, tasks, dry run, revisions."""

import json

import pytest
from django.urls import reverse

from closeloop.directory.models import Contact
from closeloop.workflows.models import Workflow, WorkflowRevision
from closeloop.workflows.tests.conftest import SAMPLE, make_workflow

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def edit_url(workflow, name="edit", *args):
    return reverse(f"workflows:{name}", args=[workflow.public_id, *args])


def test_the_list_shows_workflows_of_the_organization_only(client_a, org_a, org_b):
    make_workflow(*org_a, name="Ours")
    make_workflow(*org_b, name="Theirs")
    page = client_a.get(reverse("workflows:list")).content.decode()
    assert "Ours" in page
    assert "Theirs" not in page


def test_create_a_json_workflow(client_a, org_a):
    response = client_a.post(reverse("workflows:create"), {"name": "Orders", "event": "json"})
    workflow = Workflow.objects.get()
    assert response.status_code == 302
    assert response["Location"] == edit_url(workflow)
    assert workflow.owner == org_a[1]
    page = client_a.get(edit_url(workflow)).content.decode()
    assert reverse("triggers:json", args=[workflow.trigger_token]) in page
    assert "Runs as <strong>owner@acme.test</strong>" in page


def test_create_needs_a_name_and_a_survey_for_survey_events(client_a):
    response = client_a.post(reverse("workflows:create"), {"name": "", "event": "survey_response"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Give the workflow a name." in page
    assert "belongs to a survey" in page
    assert not Workflow.objects.exists()


def test_pasting_a_sample_maps_every_field(client_a, org_a):
    workflow = make_workflow(*org_a, tasks=[], event={"type": "json", "config": {"fields": []}})
    response = client_a.post(
        edit_url(workflow, "event"),
        {
            "action": "map-sample",
            "sample": json.dumps(SAMPLE),
            "field_name": [""],
            "field_path": [""],
            "field_type": ["String"],
        },
        **HTMX,
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="section-event"' in page and "<html" not in page
    workflow.refresh_from_db()
    assert [row["path"] for row in workflow.event_config["fields"]] == [
        "$.customer.first",
        "$.customer.last",
        "$.customer.email",
        "$.order.total",
        "$.order.vip",
        "$.order.store",
        "$.tags[0]",
        "$.tags[1]",
    ]
    assert workflow.event_config["fields"][3]["type"] == "Number"
    assert json.loads(workflow.sample_payload) == SAMPLE
    assert 'value="$.order.total"' in page


def test_a_bad_sample_or_mapping_is_shown_and_not_saved(client_a, org_a):
    workflow = make_workflow(*org_a, tasks=[], event={"type": "json", "config": {"fields": []}})
    page = client_a.post(
        edit_url(workflow, "event"), {"action": "map-sample", "sample": "{oops"}, **HTMX
    ).content.decode()
    assert "The sample payload: The body is not valid JSON" in page
    page = client_a.post(
        edit_url(workflow, "event"),
        {"action": "save", "field_name": ["x"], "field_path": ["nope"], "field_type": ["String"]},
        **HTMX,
    ).content.decode()
    assert "A JSONPath starts with $" in page
    assert 'value="nope"' in page
    workflow.refresh_from_db()
    assert workflow.event_config["fields"] == []
    assert workflow.revision == 1


def test_capture_mode_through_the_page(client_a, org_a, token_a):
    workflow = make_workflow(*org_a)
    page = client_a.post(
        edit_url(workflow, "capture"), {"action": "start"}, **HTMX
    ).content.decode()
    assert "Listening" in page and 'hx-trigger="every 2s"' in page
    client_a.post(
        reverse("triggers:json", args=[workflow.trigger_token]),
        json.dumps({"new": {"field": 1}}),
        content_type="application/json",
        HTTP_X_API_TOKEN=token_a,
    )
    page = client_a.get(edit_url(workflow, "capture"), **HTMX).content.decode()
    assert "Test event received" in page
    assert "Map fields from this event" in page
    client_a.post(
        edit_url(workflow, "event"),
        {"action": "map-sample", "sample": '{"new": {"field": 1}}'},
        **HTMX,
    )
    workflow.refresh_from_db()
    paths = [row["path"] for row in workflow.event_config["fields"]]
    assert paths[-1] == "$.new.field"
    assert "$.customer.email" in paths  # the existing mapping was kept


def test_conditions_editor_adds_rows_without_saving_then_saves(client_a, org_a):
    workflow = make_workflow(*org_a)
    page = client_a.post(
        edit_url(workflow, "conditions"), {"match": "all", "action": "add-group"}, **HTMX
    )
    assert 'name="g0-field"' in page.content.decode()
    workflow.refresh_from_db()
    assert workflow.revision == 1
    response = client_a.post(
        edit_url(workflow, "conditions"),
        {
            "match": "all",
            "g0-match": "any",
            "g0-field": ["total", ""],
            "g0-operator": ["greaterThan", "equals"],
            "g0-value": ["100", ""],
            "action": "save",
        },
        **HTMX,
    )
    assert "Saved." in response.content.decode()
    workflow.refresh_from_db()
    assert workflow.conditions == {
        "match": "all",
        "groups": [
            {
                "match": "any",
                "rules": [{"field": "total", "operator": "greaterThan", "value": "100"}],
            }
        ],
    }


def test_invalid_conditions_are_explained(client_a, org_a):
    workflow = make_workflow(*org_a)
    page = client_a.post(
        edit_url(workflow, "conditions"),
        {
            "match": "all",
            "g0-match": "all",
            "g0-field": "total",
            "g0-operator": "contains",
            "g0-value": "1",
            "action": "save",
        },
        **HTMX,
    ).content.decode()
    assert "does not apply to a Number field" in page


def task_post(**overrides):
    data = {
        "action": "save",
        "task_name": "Save the buyer",
        "directory": "",
        "mailingList": "",
        "mode": "embeddedData",
        "contact_firstName": "~{ch://event/first}",
        "contact_lastName": "~{ch://event/last}",
        "contact_email": "~{ch://event/email}",
        "contact_phone": "",
        "contact_extRef": "",
        "contact_language": "",
        "ed_name": ["Store", ""],
        "ed_value": ["~{ch://event/store}", ""],
        "transactionDate": "",
    }
    data.update(overrides)
    return data


def test_add_a_task_shows_an_unsaved_form_with_the_picker(client_a, org_a):
    workflow = make_workflow(*org_a, tasks=[])
    page = client_a.get(edit_url(workflow) + "?add=xm_directory", **HTMX).content.decode()
    assert "not saved yet" in page
    assert 'data-picker="picker-new"' in page
    assert f"~{{ch://{workflow.event_id}/email}}" in page  # the picker's fields


def test_save_a_new_task_then_edit_move_and_remove_it(client_a, org_a):
    workflow = make_workflow(*org_a, tasks=[])
    response = client_a.post(
        edit_url(workflow, "task", "new"), task_post(type="xm_directory"), **HTMX
    )
    assert "Saved." in response.content.decode()
    workflow.refresh_from_db()
    (task,) = workflow.tasks
    assert task["name"] == "Save the buyer"
    assert task["config"]["embeddedData"] == [{"name": "Store", "value": "~{ch://event/store}"}]

    client_a.post(edit_url(workflow) + "?add=test.echo")
    workflow.tasks = [
        *workflow.tasks,
        {"id": "TA_echo", "type": "test.echo", "name": "", "config": {}},
    ]
    workflow.save()
    client_a.post(edit_url(workflow, "task-move", "TA_echo"), {"direction": "up"}, **HTMX)
    workflow.refresh_from_db()
    assert [t["id"] for t in workflow.tasks] == ["TA_echo", task["id"]]
    client_a.post(edit_url(workflow, "task-delete", "TA_echo"), **HTMX)
    workflow.refresh_from_db()
    assert [t["id"] for t in workflow.tasks] == [task["id"]]


def test_task_errors_and_warnings_are_shown(client_a, org_a):
    workflow = make_workflow(*org_a, tasks=[])
    page = client_a.post(
        edit_url(workflow, "task", "new"), task_post(type="xm_directory", contact_email=""), **HTMX
    ).content.decode()
    assert "Email is required" in page
    assert "not saved yet" in page  # the form stays, with what was typed
    workflow.refresh_from_db()
    assert workflow.tasks == []

    page = client_a.post(
        edit_url(workflow, "task", "new"),
        task_post(type="xm_directory", contact_phone="~{ch://event/phone}"),
        **HTMX,
    ).content.decode()
    assert "Saved." in page
    assert "~{ch://event/phone} is not a field of the event" in page


def test_dry_run_shows_what_would_happen_and_writes_nothing(client_a, org_a):
    workflow = make_workflow(*org_a)
    page = client_a.post(
        edit_url(workflow, "dry-run"), {"sample": json.dumps(SAMPLE)}, **HTMX
    ).content.decode()
    assert "The conditions are met" in page
    assert "Would create a new contact ada@example.com in Main directory" in page
    assert not Contact.objects.exists()
    page = client_a.post(edit_url(workflow, "dry-run"), {"sample": "[1"}, **HTMX).content.decode()
    assert "not valid JSON" in page


def test_revision_history_with_a_diff(client_a, org_a):
    workflow = make_workflow(*org_a)
    client_a.post(
        edit_url(workflow, "settings"),
        {"name": "Renamed", "enabled": "on", "continueOnFailure": "on"},
    )
    page = client_a.get(edit_url(workflow, "revisions")).content.decode()
    assert "Changed name" in page and "owner@acme.test" in page
    page = client_a.get(edit_url(workflow, "revision", 2)).content.decode()
    assert '<div class="del">-  &quot;name&quot;: &quot;Order follow-up&quot;,</div>' in page
    assert '<div class="add">+  &quot;name&quot;: &quot;Renamed&quot;,</div>' in page


def test_settings_disable_and_delete(client_a, org_a):
    workflow = make_workflow(*org_a)
    client_a.post(edit_url(workflow, "settings"), {"name": "W"})
    workflow.refresh_from_db()
    assert (workflow.enabled, workflow.continue_on_failure) == (False, False)
    assert client_a.post(edit_url(workflow, "delete")).status_code == 302
    assert not Workflow.objects.exists()
    assert not WorkflowRevision.objects.exists()


def test_pages_need_a_login(client, org_a, workflows_urls):
    workflow = make_workflow(*org_a)
    for url in (reverse("workflows:list"), edit_url(workflow), reverse("workflows:runs")):
        assert client.get(url).status_code == 302


def test_a_surveys_workflows_tab(client_a, org_a, org_b):
    from closeloop.surveys import actions as survey_actions

    survey = survey_actions.create_survey(*org_a, "Feedback")
    theirs = survey_actions.create_survey(*org_b, "Theirs")
    make_workflow(*org_a, name="Of the survey", survey=survey.public_id)
    make_workflow(*org_a, name="Of the organization")
    page = client_a.get(reverse("workflows:list"), {"survey": survey.public_id}).content.decode()
    assert "Of the survey" in page and "Of the organization" not in page
    assert f"?survey={survey.public_id}" in page
    assert client_a.get(reverse("workflows:list"), {"survey": theirs.public_id}).status_code == 404
