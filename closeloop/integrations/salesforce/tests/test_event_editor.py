"""The Salesforce Outbound Message event in the workflow editor, and whose account it uses."""

from __future__ import annotations

import pytest

from closeloop.accounts.models import Membership, Role, User
from closeloop.integrations.salesforce.tests.test_receiver import (
    FIXTURES,
    ORG_ID,
    linked_account,
    outbound_workflow,
)
from closeloop.surveys import actions as survey_actions
from closeloop.workflows import actions, conditions, definition
from closeloop.workflows.models import Workflow

pytestmark = pytest.mark.django_db


def colleague_of(organization) -> User:
    user = User.objects.create_user("colleague@acme.test", "pw", first_name="Cole", last_name="Lee")
    Membership.objects.create(organization=organization, user=user, role=Role.MEMBER)
    return user


def shared_for_workflows(workflow, owner, colleague) -> Workflow:
    """The workflow on a survey of the owner's whose workflows the colleague may manage (a
    collaborator: an organization workflow is its owner's and the admins' only)."""
    survey = survey_actions.create_survey(workflow.organization, owner, "Case CSAT")
    survey_actions.share_survey(survey, owner, user=colleague, permissions=["manage_workflows"])
    return actions.update_workflow(workflow, owner, {"survey": survey.public_id})[0]


def event_post(client, workflow, **data):
    return client.post(f"/workflows/{workflow.public_id}/event", data)


def test_create_then_configure_the_event_in_the_editor(client, org_a):
    organization, owner = org_a
    account = linked_account(organization, owner)
    client.force_login(owner)
    created = client.post(
        "/workflows/new", {"name": "Closed cases", "event": "salesforce_outbound", "survey": ""}
    )
    assert created.status_code == 302, created.content
    workflow = Workflow.objects.get()
    page = client.get(created["Location"]).content.decode()
    assert f"/inbound/salesforce/{workflow.trigger_token}" in page
    assert 'data-copy="trigger-url"' in page and "Record-Triggered Flow" in page
    assert "Choose an account" in page and account.name in page
    saved = event_post(
        client,
        workflow,
        account=account.public_id,
        object="Case",
        field_name=["Status", "IsClosed"],
        field_type=["String", "Boolean"],
        action="save",
    )
    assert saved.status_code == 302
    workflow.refresh_from_db()
    assert workflow.event_config == {
        "account": account.public_id,
        "object": "Case",
        "fields": [{"name": "Status", "type": "String"}, {"name": "IsClosed", "type": "Boolean"}],
    }
    page = client.get(f"/workflows/{workflow.public_id}/").content.decode()
    assert "Runs as Acme Owner's Salesforce account" in page
    assert ORG_ID in page


def test_pasting_the_wsdl_lists_the_fields_with_their_types(client, org_a):
    organization, owner = org_a
    workflow = outbound_workflow(
        organization, owner, linked_account(organization, owner), fields=[]
    )
    client.force_login(owner)
    wsdl = (FIXTURES / "case_outbound.wsdl").read_text()
    response = event_post(client, workflow, sample=wsdl, action="map-sample")
    assert response.status_code == 302
    workflow.refresh_from_db()
    types = {row["name"]: row["type"] for row in workflow.event_config["fields"]}
    assert types["ClosedDate"] == "DateTime" and types["IsClosed"] == "Boolean"
    assert types["Survey_Score__c"] == "Number" and types["CaseNumber"] == "String"
    offered = {
        item.name: item.type
        for item in definition.event_fields("salesforce_outbound", workflow.event_config)
    }
    assert offered["Case.IsClosed"] == "Boolean" and offered["NotificationId"] == "String"


def test_a_captured_message_also_lists_its_fields(client, org_a):
    organization, owner = org_a
    workflow = outbound_workflow(
        organization, owner, linked_account(organization, owner), fields=[]
    )
    client.force_login(owner)
    message = (FIXTURES / "case_closed.xml").read_text()
    assert event_post(client, workflow, sample=message, action="map-sample").status_code == 302
    workflow.refresh_from_db()
    types = {row["name"]: row["type"] for row in workflow.event_config["fields"]}
    assert types["IsClosed"] == "Boolean" and types["ClosedDate"] == "DateTime"
    assert types["ContactId"] == "String"


def test_a_wsdl_of_another_object_or_garbage_is_a_form_error(client, org_a):
    organization, owner = org_a
    account = linked_account(organization, owner)
    workflow = outbound_workflow(organization, owner, account, "Opportunity", fields=[])
    client.force_login(owner)
    wsdl = (FIXTURES / "case_outbound.wsdl").read_text()
    page = event_post(client, workflow, sample=wsdl, action="map-sample").content.decode()
    assert "it describes Case messages" in page
    page = event_post(client, workflow, sample="<!DOCTYPE x><x/>", action="map-sample")
    assert "not allowed" in page.content.decode()
    workflow.refresh_from_db()
    assert workflow.event_config["fields"] == []


def test_conditions_compare_salesforce_booleans_and_dates(org_a):
    organization, owner = org_a
    workflow = outbound_workflow(organization, owner, linked_account(organization, owner))
    rules = {
        "match": "all",
        "groups": [
            {
                "match": "all",
                "rules": [
                    {"field": "Case.IsClosed", "operator": "equals", "value": "true"},
                    {
                        "field": "Case.ClosedDate",
                        "operator": "greaterThan",
                        "value": "2026-11-01T00:00:00Z",
                    },
                ],
            }
        ],
    }
    workflow, _ = actions.update_workflow(workflow, owner, {"conditions": rules})
    types = definition.field_types("salesforce_outbound", workflow.event_config)
    closed = {"Case.IsClosed": True, "Case.ClosedDate": "2026-11-20T14:03:11.000Z"}
    assert conditions.evaluate(rules, closed, types).passed
    earlier = {**closed, "Case.ClosedDate": "2026-10-20T14:03:11.000Z"}
    assert not conditions.evaluate(rules, earlier, types).passed
    bad = {
        **rules,
        "groups": [
            {"rules": [{"field": "Case.ClosedDate", "operator": "lessThan", "value": "soon"}]}
        ],
    }
    with pytest.raises(actions.InvalidWorkflow, match="must look like 2026-12-31T17:00:00Z"):
        actions.update_workflow(workflow, owner, {"conditions": bad})


def test_a_collaborator_edits_but_keeps_the_owners_account(client, org_a):
    organization, owner = org_a
    own = linked_account(organization, owner)
    workflow = outbound_workflow(organization, owner, own)
    colleague = colleague_of(organization)
    workflow = shared_for_workflows(workflow, owner, colleague)
    theirs = linked_account(
        organization, colleague, name="Colleague org", org_id="00D5g000001AbCdEAK"
    )
    client.force_login(colleague)
    page = client.get(f"/workflows/{workflow.public_id}/").content.decode()
    assert "Only the workflow's owner, Acme Owner, can choose or change the account" in page
    event_post(
        client,
        workflow,
        account=own.public_id,
        object="Case",
        field_name=["Status"],
        field_type=["String"],
        action="save",
    )
    workflow.refresh_from_db()
    assert workflow.event_config["account"] == own.public_id
    assert workflow.event_config["fields"] == [{"name": "Status", "type": "String"}]
    latest = workflow.revisions.first()
    assert latest.author == colleague and "event" in latest.summary
    page = event_post(
        client, workflow, account=theirs.public_id, object="Case", action="save"
    ).content.decode()
    assert "only they can choose or change it" in page
    workflow.refresh_from_db()
    assert workflow.event_config["account"] == own.public_id


def test_the_owner_cannot_switch_an_existing_workflow_to_a_sandbox_org(org_a):
    organization, owner = org_a
    production = linked_account(organization, owner)
    sandbox = linked_account(
        organization, owner, name="Sandbox", environment="sandbox", org_id="00D5g000007SbXkEAK"
    )
    workflow = outbound_workflow(organization, owner, production)
    change = {
        "event": {
            "type": "salesforce_outbound",
            "config": {**workflow.event_config, "account": sandbox.public_id},
        }
    }
    with pytest.raises(actions.InvalidWorkflow, match="copy the workflow instead"):
        actions.update_workflow(workflow, owner, change)
    # Another account on the same org (a second user of it) is fine.
    same_org = linked_account(organization, owner, name="Second login")
    change["event"]["config"]["account"] = same_org.public_id
    workflow, _ = actions.update_workflow(workflow, owner, change)
    assert workflow.event_config["account"] == same_org.public_id


def test_another_organizations_account_cannot_be_chosen(org_a, org_b):
    (organization_a, owner_a), (organization_b, owner_b) = org_a, org_b
    foreign = linked_account(organization_b, owner_b)
    with pytest.raises(actions.InvalidWorkflow, match="no linked Salesforce account"):
        outbound_workflow(organization_a, owner_a, foreign)


def test_someone_elses_unshared_account_cannot_be_chosen_by_the_owner(org_a):
    organization, owner = org_a
    colleague = colleague_of(organization)
    private = linked_account(organization, colleague, name="Private")
    with pytest.raises(actions.InvalidWorkflow, match="not one of Acme Owner's linked accounts"):
        outbound_workflow(organization, owner, private)
    private.shared_with_organization = True
    private.save()
    assert (
        outbound_workflow(organization, owner, private).event_config["account"] == private.public_id
    )


def test_a_dry_run_takes_an_outbound_message(client, org_a):
    organization, owner = org_a
    workflow = outbound_workflow(organization, owner, linked_account(organization, owner))
    rules = {
        "match": "all",
        "groups": [{"rules": [{"field": "Case.IsClosed", "operator": "equals", "value": "true"}]}],
    }
    actions.update_workflow(workflow, owner, {"conditions": rules})
    client.force_login(owner)
    page = client.get(f"/workflows/{workflow.public_id}/").content.decode()
    assert "Sample payload (an outbound message" in page
    message = (FIXTURES / "case_closed.xml").read_text()
    report = client.post(
        f"/workflows/{workflow.public_id}/dry-run", {"sample": message}
    ).content.decode()
    assert "maria.lopez@example.com" in report and "Case.ContactEmail" in report
    assert "The conditions are met" in report
    refused = client.post(f"/workflows/{workflow.public_id}/dry-run", {"sample": '{"a": 1}'})
    assert "not well-formed XML" in refused.content.decode()
    assert not workflow.runs.exists()
