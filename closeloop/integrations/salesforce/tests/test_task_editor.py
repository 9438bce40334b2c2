"""The Salesforce task in the workflow editor: saving checks, whose account, tenants, dry run."""

from __future__ import annotations

import json

import pytest

from closeloop.accounts.models import Membership, Role, User
from closeloop.integrations.salesforce.tests.helpers import (
    RESPONSE,
    linked,
    requests_to,
    response_workflow,
    salesforce_task,
)
from closeloop.surveys import actions as survey_actions
from closeloop.workflows import actions, dryrun, lookup_cache
from closeloop.workflows.models import Workflow

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _fresh_lookups():
    lookup_cache.forget_all()


@pytest.fixture
def account(fake_salesforce, org_a):
    return linked(fake_salesforce, *org_a)


def colleague_of(organization, email="colleague@acme.test") -> User:
    user = User.objects.create_user(email, "pw-pw-pw-pw", first_name="Cole", last_name="Lee")
    Membership.objects.create(organization=organization, user=user, role=Role.MEMBER)
    return user


def refused(organization, user, tasks) -> list[str]:
    with pytest.raises(actions.InvalidWorkflow) as error:
        response_workflow(organization, user, tasks)
    return error.value.errors


# Saving --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"account": ""}, "choose the linked Salesforce account the task writes as."),
        ({"account": "SFA_nothere"}, "there is no linked Salesforce account SFA_nothere."),
        ({"operation": "merge"}, "the operation is one of insert, update, upsert, delete"),
        ({"object": "Survey Response"}, "name the object by its API name"),
        ({"operation": "update"}, "the record id is required"),
        ({"operation": "delete", "recordId": "12345"}, "'12345' is not a Salesforce record id"),
        ({"operation": "upsert"}, "upsert needs the API name of an external id field."),
        (
            {"operation": "upsert", "externalIdField": "Response_Id__c"},
            "upsert needs the external id value",
        ),
        ({"fields": []}, "map at least one Salesforce field."),
        ({"fields": [{"field": "NPS c", "value": "1"}]}, "field 1: choose the Salesforce field"),
        (
            {"fields": [{"field": "NPS__c", "value": "1"}, {"field": "NPS__c", "value": "2"}]},
            "the field NPS__c is mapped twice.",
        ),
        ({"operation": "chatter", "chatterSubject": "me"}, "write the Chatter post"),
        ({"operation": "chatter", "chatterText": "hi"}, "the Chatter subject (a record, user"),
        ({"colour": "blue"}, "there is no setting 'colour'."),
    ],
)
def test_saving_checks_the_task(org_a, account, config, problem):
    errors = refused(*org_a, [salesforce_task(account, **config)])
    assert any(problem in error for error in errors), errors


def test_a_valid_task_saves_with_what_its_operation_uses(org_a, account):
    task = salesforce_task(
        account,
        operation="update",
        recordId="~{ch://event/caseId}",
        externalId="left over from an upsert",
    )
    workflow = response_workflow(*org_a, [task])
    config = workflow.tasks[0]["config"]
    assert config["recordId"] == "~{ch://event/caseId}" and config["externalId"] == ""
    assert config["fields"][0] == {"field": "NPS__c", "value": "~{ch://event/nps}"}


def test_the_task_offers_the_record_id_to_later_tasks(org_a, account):
    workflow = response_workflow(*org_a, [salesforce_task(account)])
    task_id = workflow.tasks[0]["id"]
    chatter = salesforce_task(
        account,
        operation="chatter",
        chatterSubject=f"~{{ch://{task_id}/id}}",
        chatterText="Thanks",
    )
    _workflow, warnings = actions.update_workflow(
        workflow, org_a[1], {"tasks": [*workflow.tasks, chatter]}
    )
    assert warnings == []


# Whose account -------------------------------------------------------------------------------


def test_a_collaborator_edits_the_task_but_not_its_account(fake_salesforce, org_a, account):
    organization, owner = org_a
    workflow = response_workflow(organization, owner, [salesforce_task(account)])
    cole = colleague_of(organization)
    own = linked(fake_salesforce, organization, cole, name="Cole's org")
    task = workflow.tasks[0]

    switched = {**task, "config": {**task["config"], "account": own.public_id}}
    with pytest.raises(actions.InvalidWorkflow) as error:
        actions.update_workflow(workflow, cole, {"tasks": [switched]})
    assert (
        "runs as Acme Owner's Salesforce account; only they can choose or change it"
        in (error.value.errors[0])
    )

    edited = {
        **task,
        "config": {**task["config"], "object": "Case", "fields": task["config"]["fields"][:1]},
    }
    workflow, _ = actions.update_workflow(workflow, cole, {"tasks": [edited]})
    assert workflow.tasks[0]["config"]["account"] == account.public_id
    assert workflow.tasks[0]["config"]["object"] == "Case"
    revision = workflow.revisions.first()
    assert (revision.author, revision.summary) == (cole, "Changed tasks")
    assert workflow.owner == owner


def test_a_collaborator_cannot_add_a_task_with_their_own_account(fake_salesforce, org_a, account):
    organization, owner = org_a
    workflow = response_workflow(organization, owner, [])
    cole = colleague_of(organization)
    own = linked(fake_salesforce, organization, cole, name="Cole's org")
    with pytest.raises(actions.InvalidWorkflow, match="only they can choose or change it"):
        actions.update_workflow(workflow, cole, {"tasks": [salesforce_task(own)]})


def test_the_owner_cannot_move_an_existing_workflow_to_a_sandbox(fake_salesforce, org_a, account):
    organization, owner = org_a
    workflow = response_workflow(organization, owner, [salesforce_task(account)])
    sandbox = linked(
        fake_salesforce,
        organization,
        owner,
        name="UAT sandbox",
        environment="sandbox",
        org_id="00D000000000001EAA",
    )
    task = workflow.tasks[0]
    moved = {**task, "config": {**task["config"], "account": sandbox.public_id}}
    with pytest.raises(actions.InvalidWorkflow) as error:
        actions.update_workflow(workflow, owner, {"tasks": [moved]})
    assert "copy the workflow instead" in error.value.errors[0]
    same_org = linked(fake_salesforce, organization, owner, name="Same org, other user")
    kept = {**task, "config": {**task["config"], "account": same_org.public_id}}
    workflow, _ = actions.update_workflow(workflow, owner, {"tasks": [kept]})
    assert workflow.tasks[0]["config"]["account"] == same_org.public_id


def test_an_account_of_another_organization_or_user_cannot_be_chosen(fake_salesforce, org_a, org_b):
    organization, owner = org_a
    theirs = linked(fake_salesforce, *org_b, name="Globex org")
    errors = refused(organization, owner, [salesforce_task(theirs)])
    assert any(f"there is no linked Salesforce account {theirs.public_id}" in e for e in errors)
    cole = colleague_of(organization)
    unshared = linked(fake_salesforce, organization, cole, name="Cole's org")
    errors = refused(organization, owner, [salesforce_task(unshared)])
    assert any("is not one of Acme Owner's linked accounts" in e for e in errors)
    shared = linked(fake_salesforce, organization, cole, name="Team org", shared=True)
    assert response_workflow(organization, owner, [salesforce_task(shared)]).tasks


# The editor pages ----------------------------------------------------------------------------


def test_add_the_task_through_the_editor(client, fake_salesforce, org_a, account):
    organization, owner = org_a
    workflow = response_workflow(organization, owner, [])
    client.force_login(owner)
    url = f"/workflows/{workflow.public_id}/"

    page = client.get(url, {"add": "salesforce"}).content.decode()
    assert 'name="account"' in page and account.name in page and "Choose an account" in page
    assert "/extensions/salesforce/" in page  # the link to link an account

    saved = client.post(
        f"{url}tasks/new",
        {
            "type": "salesforce",
            "task_name": "Response to Salesforce",
            "account": account.public_id,
            "operation": "insert",
            "object": "Survey_Response__c",
            "sf_field": ["NPS__c", "Case__c", ""],
            "sf_value": ["~{ch://event/nps}", "~{ch://event/caseId}", ""],
            "idempotencyField": "Response_Id__c",
            "action": "save",
        },
    )
    assert saved.status_code == 302, saved.content.decode()[:3000]
    workflow.refresh_from_db()
    (task,) = workflow.tasks
    assert task["type"] == "salesforce" and task["name"] == "Response to Salesforce"
    assert task["config"]["fields"] == [
        {"field": "NPS__c", "value": "~{ch://event/nps}"},
        {"field": "Case__c", "value": "~{ch://event/caseId}"},
    ]
    assert task["config"]["idempotencyField"] == "Response_Id__c"

    page = client.get(url).content.decode()
    assert (
        "Runs as Acme Owner's Salesforce account <strong>Support org</strong> "
        f"({fake_salesforce.username}, production)"
    ) in page
    assert '<option value="NPS__c" selected>NPS (NPS__c) · double</option>' in page
    assert "Case (Case__c) · reference to Case" in page and 'data-picker="picker-' in page
    assert requests_to(fake_salesforce, "GET", "/describe") == 1


def test_a_collaborator_sees_whose_account_and_cannot_pick_another(
    client, fake_salesforce, org_a, account
):
    organization, owner = org_a
    cole = colleague_of(organization)
    survey = survey_actions.create_survey(organization, owner, "Support CSAT")
    # a collaborator: the survey's workflows are shared with Cole (Manage workflows)
    survey_actions.share_survey(survey, owner, user=cole, permissions=["manage_workflows"])
    workflow = response_workflow(
        organization, owner, [salesforce_task(account)], survey=survey.public_id
    )
    linked(fake_salesforce, organization, cole, name="Cole's org")
    client.force_login(cole)
    page = client.get(f"/workflows/{workflow.public_id}/").content.decode()
    assert "Runs as Acme Owner's Salesforce account <strong>Support org</strong>" in page
    assert "Only the workflow's owner, Acme Owner, can choose or change the account." in page
    assert f'<input type="hidden" name="account" value="{account.public_id}">' in page
    assert "Cole's org" not in page


def test_the_editor_follows_the_operation_and_reloads_fields(
    client, fake_salesforce, org_a, account
):
    organization, owner = org_a
    workflow = response_workflow(organization, owner, [salesforce_task(account)])
    task_id = workflow.tasks[0]["id"]
    client.force_login(owner)
    url = f"/extensions/salesforce/task-editor/{workflow.public_id}/{task_id}/"
    form = {
        "account": account.public_id,
        "operation": "upsert",
        "object": "Survey_Response__c",
        "sf_field": ["NPS__c"],
        "sf_value": ["~{ch://event/nps}"],
    }
    partial = client.post(url, form, **HTMX).content.decode()
    assert f'<div id="sf-task-{task_id}"' in partial[:300]
    assert "<html" not in partial and "External ID field" in partial
    assert '<option value="Response_Id__c">Response Id (Response_Id__c) · string</option>' in (
        partial
    )
    assert requests_to(fake_salesforce, "GET", "/describe") == 1
    fake_salesforce.objects["Survey_Response__c"] = [
        *fake_salesforce.objects["Survey_Response__c"],
        {"name": "Channel__c", "type": "picklist"},
    ]
    reloaded = client.post(url + "?refresh=1", form, **HTMX).content.decode()
    assert "Channel (Channel__c) · picklist" in reloaded
    assert requests_to(fake_salesforce, "GET", "/describe") == 2
    workflow.refresh_from_db()
    assert workflow.tasks[0]["config"]["operation"] == "insert"  # nothing saved
    without_js = client.post(url + "?refresh=1", form)
    assert without_js.status_code == 302
    assert without_js["Location"] == f"/workflows/{workflow.public_id}/#task-{task_id}"


def test_the_editor_endpoint_stays_in_the_organization(
    client, fake_salesforce, org_a, org_b, account
):
    workflow = response_workflow(*org_a, [salesforce_task(account)])
    client.force_login(org_b[1])
    url = f"/extensions/salesforce/task-editor/{workflow.public_id}/new/"
    assert client.post(url, {"account": account.public_id}, **HTMX).status_code == 404
    assert requests_to(fake_salesforce, "GET", "/describe") == 0


def test_describe_problems_show_in_the_editor_not_as_an_error_page(
    client, fake_salesforce, org_a, account
):
    workflow = response_workflow(*org_a, [salesforce_task(account, object="Nothing__c")])
    client.force_login(org_a[1])
    page = client.get(f"/workflows/{workflow.public_id}/")
    assert page.status_code == 200
    assert "The fields of Nothing__c could not be loaded from Salesforce: NOT_FOUND" in (
        page.content.decode()
    )


# Dry run -------------------------------------------------------------------------------------


def test_a_dry_run_shows_the_typed_values_and_writes_nothing(fake_salesforce, org_a, account):
    task = salesforce_task(
        account,
        fields=[
            {"field": "NPS__c", "value": "~{ch://event/nps}"},
            {"field": "Promoter__c", "value": "~{ch://event/promoter}"},
            {"field": "Comment__c", "value": ""},
        ],
    )
    workflow = response_workflow(*org_a, [task])
    report = dryrun.dry_run(workflow, json.dumps(RESPONSE))
    (preview,) = report.tasks
    assert preview.summary == (
        "Would create a Survey_Response__c as Support org "
        f"({fake_salesforce.username}, production) with NPS__c = 9, Promoter__c = True."
    )
    assert json.loads(preview.output)["id"] == "(new record id)"
    bad = dryrun.dry_run(workflow, json.dumps({**RESPONSE, "nps": "lots"}))
    assert bad.tasks[0].problems == ["Survey_Response__c.NPS__c is a number, and 'lots' is not."]
    assert fake_salesforce.records_of("Survey_Response__c") == []
    assert Workflow.objects.count() == 1
