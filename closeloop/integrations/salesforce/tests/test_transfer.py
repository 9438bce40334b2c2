"""Ownership transfer of a survey whose workflow writes to Salesforce: the transfer page warns,
the next run fails with where to re-point, the new owner re-points to their account on the
same org, and the next run writes with it (the fake Salesforce sees the new account's token)."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from closeloop.distributions.secrets import decrypt
from closeloop.integrations.salesforce.tests.helpers import (
    finished,
    linked,
    response_workflow,
    salesforce_task,
    start,
    task_runs,
)
from closeloop.surveys import actions as survey_actions
from closeloop.surveys.tests.sample import simple
from closeloop.workflows import lookup_cache
from closeloop.workflows.models import RunStatus, Workflow
from conftest import add_member

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_lookups():
    lookup_cache.forget_all()
    yield
    lookup_cache.forget_all()


@pytest.fixture
def setting(fake_salesforce, org_a):
    """Ana owns the survey and its workflow, writing as her account; Bea has one on the same
    Salesforce org."""
    organization, admin = org_a
    ana = add_member(organization, "ana@acme.test")
    bea = add_member(organization, "bea@acme.test")
    survey = survey_actions.create_survey(organization, ana, "Support CSAT", simple("nps"))
    survey_actions.publish(survey, ana)
    anas = linked(fake_salesforce, organization, ana, name="Ana's org login")
    beas = linked(fake_salesforce, organization, bea, name="Bea's org login")
    workflow = response_workflow(
        organization, ana, [salesforce_task(anas)], survey=survey.public_id
    )
    return {
        "organization": organization,
        "admin": admin,
        "ana": ana,
        "bea": bea,
        "survey": survey,
        "anas": anas,
        "beas": beas,
        "workflow": workflow,
    }


def page_url(setting) -> str:
    return reverse("workflows:transfer", args=[setting["survey"].public_id])


def transfer(client, setting, by, to, confirm="yes"):
    client.force_login(by)
    return client.post(
        page_url(setting), {"op": "transfer", "new_owner": to.public_id, "confirm": confirm}
    )


def repoint(client, setting, by, new_account_id):
    client.force_login(by)
    return client.post(
        page_url(setting),
        {
            "op": "repoint",
            "workflow": setting["workflow"].public_id,
            f"account:{setting['anas'].public_id}": new_account_id,
        },
    )


def insert_tokens(fake) -> list[str]:
    with fake.lock:
        return [
            token
            for method, path, token in fake.bearers
            if method == "POST" and "sobjects/Survey_Response__c" in path
        ]


def test_the_page_warns_what_changes(client, setting):
    client.force_login(setting["ana"])
    page = html.unescape(client.get(page_url(setting)).content.decode())
    assert "The survey and its 1 workflow move to the new owner" in page
    assert "“Responses to Salesforce” uses Ana Member's Salesforce account Ana's org login" in page
    assert "stops writing to Salesforce until the new owner re-points it" in page


def test_transfer_then_repoint_and_the_next_run_uses_the_new_account(
    client, setting, fake_salesforce
):
    before = finished(start(setting["workflow"]))
    assert before.status == RunStatus.SUCCEEDED
    assert insert_tokens(fake_salesforce) == [decrypt(setting["anas"].access_token_encrypted)]

    response = transfer(client, setting, setting["ana"], setting["bea"])
    assert response.status_code == 302 and response["Location"] == reverse("surveys:list")
    workflow = Workflow.objects.get(pk=setting["workflow"].pk)
    setting["survey"].refresh_from_db()
    assert setting["survey"].owner == setting["bea"] and workflow.owner == setting["bea"]
    assert workflow.revisions.order_by("-number").first().summary.startswith("Owner changed")

    client.force_login(setting["bea"])
    editor = html.unescape(
        client.get(reverse("workflows:edit", args=[workflow.public_id])).content.decode()
    )
    assert "This workflow needs a new Salesforce account" in editor
    assert f'href="{page_url(setting)}">Re-point it' in editor

    failed = finished(start(workflow))
    (task_run,) = task_runs(failed)
    assert failed.status == RunStatus.FAILED
    assert "This workflow runs as Bea Member" in task_run.error
    assert f"re-point it on {page_url(setting)}" in task_run.error

    client.force_login(setting["bea"])
    page = client.get(page_url(setting)).content.decode()
    assert "Re-point linked accounts" in page and "Bea&#x27;s org login" in page
    assert repoint(client, setting, setting["bea"], setting["beas"].public_id).status_code == 302
    workflow.refresh_from_db()
    assert workflow.tasks[0]["config"]["account"] == setting["beas"].public_id

    after = finished(start(workflow))
    assert after.status == RunStatus.SUCCEEDED, task_runs(after)[0].error
    assert insert_tokens(fake_salesforce)[-1] == decrypt(setting["beas"].access_token_encrypted)
    assert "Re-point linked accounts" not in client.get(page_url(setting)).content.decode()


def test_an_admin_may_transfer_and_only_the_new_owner_repoints(client, setting):
    assert transfer(client, setting, setting["admin"], setting["bea"]).status_code == 302
    refused = repoint(client, setting, setting["admin"], setting["beas"].public_id)
    assert refused.status_code == 400
    assert "Only Bea Member, the workflow&#x27;s owner, can choose its accounts" in (
        refused.content.decode()
    )
    refused = repoint(client, setting, setting["ana"], setting["beas"].public_id)
    assert refused.status_code == 404  # Ana no longer sees the survey


def test_hostile_repoints_change_nothing(client, setting, fake_salesforce):
    organization = setting["organization"]
    cara = add_member(organization, "cara@acme.test")
    caras = linked(fake_salesforce, organization, cara, name="Cara's login")
    other_org = linked(
        fake_salesforce,
        organization,
        setting["bea"],
        name="Bea's sandbox",
        org_id="00D000000000XYZ",
    )
    transfer(client, setting, setting["ana"], setting["bea"])
    for account_id in (caras.public_id, other_org.public_id, "SFA_nonexistent", ""):
        response = repoint(client, setting, setting["bea"], account_id)
        assert response.status_code == 400, account_id
        assert "is not one of your Salesforce accounts on the same org" in response.content.decode()
    workflow = Workflow.objects.get(pk=setting["workflow"].pk)
    assert workflow.tasks[0]["config"]["account"] == setting["anas"].public_id


def test_who_may_transfer(client, setting, org_b):
    organization = setting["organization"]
    editor = add_member(organization, "ed@acme.test")
    stranger = add_member(organization, "dan@acme.test")
    survey_actions.share_survey(
        setting["survey"], setting["ana"], user=editor, permissions=["edit"]
    )

    refused = transfer(client, setting, editor, setting["bea"])
    assert refused.status_code == 403
    assert "Only Ana Member (owner) or an administrator" in refused.content.decode()
    assert transfer(client, setting, stranger, setting["bea"]).status_code == 404
    assert transfer(client, setting, org_b[1], setting["bea"]).status_code == 404
    assert transfer(client, setting, setting["ana"], org_b[1]).status_code == 400  # not a member
    assert transfer(client, setting, setting["ana"], setting["bea"], confirm="").status_code == 400
    setting["survey"].refresh_from_db()
    assert setting["survey"].owner == setting["ana"]
