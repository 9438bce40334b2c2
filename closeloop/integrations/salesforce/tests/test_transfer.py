"""Ownership transfer of a survey whose workflow writes to Salesforce: the transfer page warns,
the next run fails with where to re-point, the new owner (or an admin) re-points to one of the
new owner's accounts on the same org, and the next run writes with it (the fake Salesforce
sees the new account's token)."""

from __future__ import annotations

import html

import pytest
from django.conf import settings
from django.urls import reverse

from closeloop.accounts.models import AuditEvent
from closeloop.distributions.secrets import decrypt
from closeloop.integrations.salesforce.tests.helpers import (
    finished,
    linked,
    response_workflow,
    run_jobs,
    salesforce_task,
    start,
    task_runs,
)
from closeloop.integrations.salesforce.tests.test_receiver import (
    CASE_FIELDS,
    assert_ack,
    post,
    sample,
)
from closeloop.surveys import actions as survey_actions
from closeloop.surveys.tests.sample import simple
from closeloop.workflows import actions, lookup_cache, transfer
from closeloop.workflows.models import RunStatus, Workflow, WorkflowRun
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
    Salesforce org; Cara has none."""
    organization, admin = org_a
    ana = add_member(organization, "ana@acme.test")
    bea = add_member(organization, "bea@acme.test")
    cara = add_member(organization, "cara@acme.test")
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
        "cara": cara,
        "survey": survey,
        "anas": anas,
        "beas": beas,
        "workflow": workflow,
    }


def page_url(setting) -> str:
    return reverse("workflows:transfer", args=[setting["survey"].public_id])


def page(client, url) -> str:
    return html.unescape(client.get(url).content.decode())


def transfer_as(client, setting, by, to, confirm="yes"):
    client.force_login(by)
    return client.post(
        page_url(setting), {"op": "transfer", "new_owner": to.public_id, "confirm": confirm}
    )


def repoint(client, setting, by, new_account_id, old=None, workflow=None):
    client.force_login(by)
    return client.post(
        page_url(setting),
        {
            "op": "repoint",
            "workflow": (workflow or setting["workflow"]).public_id,
            f"account:{old or setting['anas'].public_id}": new_account_id,
        },
    )


def insert_tokens(fake) -> list[str]:
    with fake.lock:
        return [
            token
            for method, path, token in fake.bearers
            if method == "POST" and "sobjects/Survey_Response__c" in path
        ]


def token_of(account) -> str:
    return decrypt(account.access_token_encrypted)


def test_the_page_warns_what_changes(client, setting):
    client.force_login(setting["ana"])
    text = page(client, page_url(setting))
    assert "The survey and its 1 workflow move to the new owner" in text
    assert "Ana Member loses access unless the new owner or an admin shares" in text
    assert "“Responses to Salesforce” uses Ana Member's Salesforce account Ana's org login" in text
    assert "stops writing to Salesforce until the new owner re-points it" in text
    assert 'name="confirm"' not in text  # choose and review first

    text = page(client, page_url(setting) + f"?new_owner={setting['bea'].public_id}")
    assert "What changes when Bea Member becomes the owner" in text
    assert "Bea Member may not use it, so it stops writing to Salesforce until re-pointed" in text
    assert "(they have 1)" in text and 'name="confirm"' in text

    text = page(client, page_url(setting) + f"?new_owner={setting['cara'].public_id}")
    assert "they have none yet and must link one on Extensions → Salesforce first" in text


def test_an_account_shared_with_the_organization_needs_no_repointing(
    client, setting, fake_salesforce
):
    setting["anas"].shared_with_organization = True
    setting["anas"].save()
    client.force_login(setting["ana"])
    text = page(client, page_url(setting) + f"?new_owner={setting['bea'].public_id}")
    assert "Ana's org login" not in text.split('id="transfer-warning"')[1].split("</div>")[0]

    assert transfer_as(client, setting, setting["ana"], setting["bea"]).status_code == 302
    assert transfer.workflows_needing_repoint(setting["organization"], setting["bea"]) == []
    run = finished(start(Workflow.objects.get(pk=setting["workflow"].pk)))
    assert run.status == RunStatus.SUCCEEDED
    assert insert_tokens(fake_salesforce)[-1] == token_of(setting["anas"])


def test_transfer_then_repoint_and_the_next_run_uses_the_new_account(
    client, setting, fake_salesforce
):
    before = finished(start(setting["workflow"]))
    assert before.status == RunStatus.SUCCEEDED
    assert insert_tokens(fake_salesforce) == [token_of(setting["anas"])]

    response = transfer_as(client, setting, setting["ana"], setting["bea"])
    assert response.status_code == 302 and response["Location"] == reverse("surveys:list")
    workflow = Workflow.objects.get(pk=setting["workflow"].pk)
    setting["survey"].refresh_from_db()
    assert setting["survey"].owner == setting["bea"] and workflow.owner == setting["bea"]
    revision = workflow.revisions.order_by("-number").first()
    assert revision.summary.startswith("Owner changed from ana@acme.test to bea@acme.test")
    assert revision.author == setting["ana"] and revision.definition["tasks"] == workflow.tasks
    assert AuditEvent.objects.filter(action="survey.transferred").count() == 1
    assert AuditEvent.objects.filter(
        action="workflow.changed", target_id=workflow.public_id, summary__contains="Owner changed"
    ).exists()

    client.force_login(setting["bea"])
    editor = page(client, reverse("workflows:edit", args=[workflow.public_id]))
    assert "This workflow needs a new Salesforce account" in editor
    assert f'href="{page_url(setting)}#repoint">Re-point it' in editor
    listing = page(client, reverse("workflows:list"))
    assert "Responses to Salesforce</a> needs a new Salesforce account" in listing
    (needing,) = transfer.workflows_needing_repoint(setting["organization"], setting["bea"])
    assert needing.workflow == workflow and needing.account.account_id == setting["anas"].public_id
    assert transfer.workflows_needing_repoint(setting["organization"], setting["cara"]) == []

    failed = finished(start(workflow))
    (task_run,) = task_runs(failed)
    assert failed.status == RunStatus.FAILED and task_run.attempts == 1  # no retries
    assert task_run.error == (
        "This workflow runs as Bea Member; its Salesforce account Ana's org login belongs to "
        "Ana Member and is not shared with the organization: re-point it on "
        f"{settings.CLOSELOOP_BASE_URL}{page_url(setting)}"
    )
    assert len(insert_tokens(fake_salesforce)) == 1  # nothing written as Ana

    text = page(client, page_url(setting))
    assert "Re-point linked accounts" in text and "Your Salesforce account on the same org" in text
    assert "Bea's org login" in text
    assert repoint(client, setting, setting["bea"], setting["beas"].public_id).status_code == 302
    workflow.refresh_from_db()
    assert workflow.tasks[0]["config"]["account"] == setting["beas"].public_id
    revision = workflow.revisions.order_by("-number").first()
    assert revision.number == workflow.revision and revision.author == setting["bea"]
    assert revision.summary.startswith("Re-pointed Salesforce account Ana's org login")

    after = finished(start(workflow))
    assert after.status == RunStatus.SUCCEEDED, task_runs(after)[0].error
    assert insert_tokens(fake_salesforce)[-1] == token_of(setting["beas"])
    assert "Re-point linked accounts" not in page(client, page_url(setting))
    assert "needs a new Salesforce account" not in page(client, reverse("workflows:list"))


def test_an_admin_transfers_and_repoints_to_an_account_of_the_new_owner(
    client, setting, fake_salesforce
):
    admin = setting["admin"]
    assert transfer_as(client, setting, admin, setting["bea"]).status_code == 302
    text = page(client, page_url(setting))
    assert "Bea Member's Salesforce account on the same org" in text
    assert "needs a new Salesforce account" in page(client, reverse("workflows:list"))

    assert repoint(client, setting, admin, setting["beas"].public_id).status_code == 302
    workflow = Workflow.objects.get(pk=setting["workflow"].pk)
    assert workflow.owner == setting["bea"]  # still runs as Bea, not as the admin
    assert workflow.tasks[0]["config"]["account"] == setting["beas"].public_id
    assert workflow.revisions.order_by("-number").first().author == admin
    assert AuditEvent.objects.filter(
        action="workflow.changed", actor=admin, summary__contains="Re-pointed"
    ).exists()
    run = finished(start(workflow))
    assert run.status == RunStatus.SUCCEEDED
    assert insert_tokens(fake_salesforce)[-1] == token_of(setting["beas"])


def test_only_the_owner_or_an_admin_repoints(client, setting):
    viewer = add_member(setting["organization"], "vic@acme.test")
    survey_actions.share_survey(
        setting["survey"], setting["ana"], user=viewer, permissions=["view", "edit"]
    )
    transfer_as(client, setting, setting["ana"], setting["bea"])

    client.force_login(viewer)
    text = page(client, page_url(setting))
    assert "Only Bea Member, the workflow's owner, or an administrator can choose" in text
    refused = repoint(client, setting, viewer, setting["beas"].public_id)
    assert refused.status_code == 403
    assert "Only Bea Member, the workflow&#x27;s owner, or an administrator" in (
        refused.content.decode()
    )
    assert repoint(client, setting, setting["ana"], setting["beas"].public_id).status_code == 404
    workflow = Workflow.objects.get(pk=setting["workflow"].pk)
    assert workflow.tasks[0]["config"]["account"] == setting["anas"].public_id


def test_hostile_repoints_change_nothing(client, setting, fake_salesforce, org_b):
    organization = setting["organization"]
    caras = linked(fake_salesforce, organization, setting["cara"], name="Cara's login")
    other_salesforce_org = linked(
        fake_salesforce, organization, setting["bea"], name="Bea's sandbox", org_id="00D0XYZ"
    )
    other_tenant = linked(fake_salesforce, org_b[0], org_b[1], name="Other tenant's login")
    transfer_as(client, setting, setting["ana"], setting["bea"])
    workflow = Workflow.objects.get(pk=setting["workflow"].pk)
    revision = workflow.revision
    for account_id in (
        caras.public_id,  # another user's
        other_salesforce_org.public_id,  # Bea's, on another Salesforce org
        other_tenant.public_id,  # another organization's
        setting["anas"].public_id,  # the stale one itself
        "SFA_nonexistent",
        "",
    ):
        response = repoint(client, setting, setting["bea"], account_id)
        assert response.status_code == 400, account_id
        assert "is not one of Bea Member&#x27;s Salesforce accounts on the same org" in (
            response.content.decode()
        )
    response = repoint(client, setting, setting["bea"], setting["beas"].public_id, old="SFA_x")
    assert response.status_code == 400 and "does not need re-pointing" in response.content.decode()
    other = response_workflow(organization, setting["ana"], [salesforce_task(setting["anas"])])
    response = repoint(client, setting, setting["bea"], setting["beas"].public_id, workflow=other)
    assert response.status_code == 400 and "not one of this survey" in response.content.decode()

    workflow.refresh_from_db()
    assert workflow.tasks[0]["config"]["account"] == setting["anas"].public_id
    assert workflow.revision == revision
    # Bea's sandbox is not even offered: only accounts on the stale one's org are.
    text = page(client, page_url(setting))
    assert "Bea's org login" in text and "Bea's sandbox" not in text and "Cara's" not in text


def test_who_may_transfer(client, setting, org_b):
    organization = setting["organization"]
    editor = add_member(organization, "ed@acme.test")
    stranger = add_member(organization, "dan@acme.test")
    survey_actions.share_survey(
        setting["survey"], setting["ana"], user=editor, permissions=["edit"]
    )

    refused = transfer_as(client, setting, editor, setting["bea"])
    assert refused.status_code == 403
    assert "Only Ana Member (owner) or an administrator" in refused.content.decode()
    assert transfer_as(client, setting, stranger, setting["bea"]).status_code == 404
    assert transfer_as(client, setting, org_b[1], setting["bea"]).status_code == 404
    assert transfer_as(client, setting, setting["ana"], org_b[1]).status_code == 400  # no member
    assert (
        transfer_as(client, setting, setting["ana"], setting["bea"], confirm="").status_code == 400
    )
    setting["survey"].refresh_from_db()
    assert setting["survey"].owner == setting["ana"]
    assert Workflow.objects.get(pk=setting["workflow"].pk).owner == setting["ana"]


def test_a_new_owner_without_an_account_on_the_org_is_sent_to_link_one(
    client, setting, fake_salesforce
):
    transfer_as(client, setting, setting["ana"], setting["cara"])
    client.force_login(setting["cara"])
    text = page(client, page_url(setting))
    assert "You have no Salesforce account on the org of Ana's org login (" in text
    assert "Production (OAuth)) yet: " in text
    assert f'href="{reverse("salesforce:accounts")}">link one on Extensions → Salesforce' in text

    caras = linked(fake_salesforce, setting["organization"], setting["cara"], name="Cara's login")
    assert "Cara's login" in page(client, page_url(setting))
    assert repoint(client, setting, setting["cara"], caras.public_id).status_code == 302


@pytest.mark.django_db(transaction=True)
def test_outbound_messages_are_accepted_until_the_event_is_repointed_with_the_tasks(
    client, setting, fake_salesforce
):
    """The receiver checks the message's org id against the account's org, which a
    replacement shares: messages keep starting runs, whose Salesforce tasks fail until the
    new owner re-points the event and the tasks (one revision)."""
    anas, beas = setting["anas"], setting["beas"]
    task = salesforce_task(anas)
    task["config"]["fields"] = [{"field": "Comment__c", "value": "~{ch://EV_case/Case.Id}"}]
    workflow, _ = actions.create_workflow(
        setting["organization"],
        setting["ana"],
        {
            "name": "Closed cases",
            "survey": setting["survey"].public_id,
            "event": {
                "id": "EV_case",
                "type": "salesforce_outbound",
                "config": {"account": anas.public_id, "object": "Case", "fields": CASE_FIELDS},
            },
            "tasks": [task],
        },
    )
    endpoint = f"/inbound/salesforce/{workflow.trigger_token}"
    transfer_as(client, setting, setting["ana"], setting["bea"])
    workflow.refresh_from_db()
    (use,) = transfer.stale_uses([workflow])
    assert use.steps == ("the event", "task “Write back”")

    assert_ack(post(client, endpoint, sample("case_closed.xml")))
    run_jobs()
    run = WorkflowRun.objects.get(workflow=workflow)
    assert run.status == RunStatus.FAILED
    assert "re-point it on" in task_runs(run)[0].error

    client.force_login(setting["bea"])
    response = client.post(
        page_url(setting),
        {
            "op": "repoint",
            "workflow": workflow.public_id,
            f"account:{anas.public_id}": beas.public_id,
        },
    )
    assert response.status_code == 302
    workflow.refresh_from_db()
    assert workflow.event_config["account"] == beas.public_id
    assert workflow.tasks[0]["config"]["account"] == beas.public_id
    assert workflow.revisions.filter(summary__startswith="Re-pointed").count() == 1

    body = sample("case_closed.xml").replace(b"04l5g00000HkT2mAAF", b"04l5g00000HkT2nAAF")
    assert_ack(post(client, endpoint, body))
    run_jobs()
    latest = WorkflowRun.objects.filter(workflow=workflow).order_by("-pk").first()
    assert latest.status == RunStatus.SUCCEEDED, task_runs(latest)[0].error
    assert insert_tokens(fake_salesforce)[-1] == token_of(beas)
