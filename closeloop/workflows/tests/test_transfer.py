"""Ownership transfer of a survey and its workflows (closeloop.workflows.transfer), without any
integration: who may transfer, what moves, the revisions and audit events, one transaction;
and re-pointing through the registry's linked-account hooks, shown with a test task type
whose accounts live in a dict (workflows know no Salesforce)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from django.urls import reverse

from closeloop.accounts import audit
from closeloop.accounts.models import AuditEvent
from closeloop.api.errors import NotFound, NotPermitted
from closeloop.surveys import actions as survey_actions
from closeloop.surveys.tests.sample import simple
from closeloop.workflows import registry, transfer
from closeloop.workflows.models import Workflow
from closeloop.workflows.registry import LinkedAccount, TaskContext, TaskType
from closeloop.workflows.tests.conftest import make_workflow
from conftest import add_member

pytestmark = pytest.mark.django_db

# account id → (the email of the user who linked it, the external org it is on)
ACCOUNTS = {
    "ACC_ana": ("ana@acme.test", "org-1"),
    "ACC_bea": ("bea@acme.test", "org-1"),
    "ACC_bea_other": ("bea@acme.test", "org-2"),
    "ACC_cara": ("cara@acme.test", "org-1"),
}


class LinkedTask(TaskType):
    """Writes to an imaginary system as the account in its config."""

    key = "test.linked"
    label = "Linked (test)"
    account_system = "Elsewhere"

    def run(self, context: TaskContext) -> dict:
        return {}

    def linked_accounts(self, config: Mapping) -> set[str]:
        return {config["account"]} if config.get("account") else set()

    def account_usable(self, organization, owner, account_id: str) -> bool:
        return account_id in ACCOUNTS and ACCOUNTS[account_id][0] == owner.email

    def describe_account(self, organization, account_id: str) -> LinkedAccount:
        return LinkedAccount(account_id, f"{account_id} login", ACCOUNTS[account_id][0])

    def repoint_choices(self, organization, user, account_id: str) -> list[tuple[str, str]]:
        org = ACCOUNTS[account_id][1]
        return [
            (other, f"{other} login")
            for other, (email, other_org) in ACCOUNTS.items()
            if email == user.email and other_org == org
        ]

    def repoint(self, config: Mapping, old_id: str, new_id: str) -> dict:
        return {
            **config,
            "account": new_id if config.get("account") == old_id else config["account"],
        }


registry.register_task(LinkedTask())


def linked_task(account: str, name: str = "Sync") -> dict:
    return {"type": "test.linked", "name": name, "config": {"account": account}}


@pytest.fixture
def setting(org_a):
    organization, admin = org_a
    ana = add_member(organization, "ana@acme.test")
    bea = add_member(organization, "bea@acme.test")
    cara = add_member(organization, "cara@acme.test")
    survey = survey_actions.create_survey(organization, ana, "Support CSAT", simple("nps"))
    survey_actions.publish(survey, ana)
    survey_actions.share_survey(survey, ana, user=cara, permissions=["view", "edit"])
    plain = make_workflow(organization, ana, tasks=[], survey=survey.public_id, name="Plain")
    linked = make_workflow(
        organization, ana, tasks=[linked_task("ACC_ana")], survey=survey.public_id, name="Linked"
    )
    by_cara = make_workflow(organization, cara, tasks=[], survey=survey.public_id, name="Cara's")
    elsewhere = make_workflow(organization, ana, tasks=[linked_task("ACC_ana")], name="No survey")
    return {
        "organization": organization,
        "admin": admin,
        "ana": ana,
        "bea": bea,
        "cara": cara,
        "survey": survey,
        "plain": plain,
        "linked": linked,
        "by_cara": by_cara,
        "elsewhere": elsewhere,
    }


def fresh(workflow) -> Workflow:
    return Workflow.objects.select_related("owner").get(pk=workflow.pk)


@pytest.mark.parametrize("by", ["ana", "admin"])
def test_the_owner_or_an_admin_transfers_the_survey_and_all_its_workflows(setting, by):
    stale = transfer.transfer_survey(setting["survey"], setting["bea"], setting[by])
    setting["survey"].refresh_from_db()
    assert setting["survey"].owner == setting["bea"]
    for name in ("plain", "linked", "by_cara"):
        workflow = fresh(setting[name])
        assert workflow.owner == setting["bea"], name
        revision = workflow.revisions.order_by("-number").first()
        assert revision.number == workflow.revision == 2 and revision.author == setting[by]
        assert revision.summary.startswith("Owner changed from ") and "bea@acme.test" in (
            revision.summary
        )
        assert AuditEvent.objects.filter(
            action="workflow.changed", target_id=workflow.public_id, actor=setting[by]
        ).exists()
    assert fresh(setting["elsewhere"]).owner == setting["ana"]  # not the survey's: stays
    assert AuditEvent.objects.filter(action="survey.transferred", actor=setting[by]).count() == 1
    (use,) = stale
    assert use.workflow == setting["linked"] and use.account.account_id == "ACC_ana"
    assert use.account.holder == "ana@acme.test" and use.steps == ("task “Sync”",)
    assert use.choices == [("ACC_bea", "ACC_bea login")]  # not Bea's account on org-2


def test_who_may_not_transfer(setting, org_b):
    survey = setting["survey"]
    with pytest.raises(NotPermitted, match="Only Ana Member"):
        transfer.transfer_survey(survey, setting["bea"], setting["cara"])  # may edit, not share
    with pytest.raises(NotFound):
        transfer.transfer_survey(survey, setting["bea"], setting["bea"])  # not shared with her
    with pytest.raises(NotFound):
        transfer.transfer_survey(survey, setting["bea"], org_b[1])  # another organization
    with pytest.raises(transfer.TransferError, match="not a member"):
        transfer.transfer_survey(survey, org_b[1], setting["ana"])
    with pytest.raises(transfer.TransferError, match="already owns"):
        transfer.transfer_survey(survey, setting["ana"], setting["ana"])
    survey.refresh_from_db()
    assert survey.owner == setting["ana"]
    assert {fresh(setting[name]).owner for name in ("plain", "linked")} == {setting["ana"]}


def test_the_pages_refuse_with_the_reason(client, setting, org_b):
    url = reverse("workflows:transfer", args=[setting["survey"].public_id])
    data = {"op": "transfer", "new_owner": setting["bea"].public_id, "confirm": "yes"}
    client.force_login(setting["cara"])
    page = client.get(url).content.decode()
    assert "Only Ana Member (owner) or an administrator" in page and 'name="confirm"' not in page
    refused = client.post(url, data)
    assert refused.status_code == 403 and "Only Ana Member (owner)" in refused.content.decode()
    client.force_login(setting["bea"])
    assert client.get(url).status_code == 404 and client.post(url, data).status_code == 404
    client.force_login(org_b[1])
    assert client.get(url).status_code == 404 and client.post(url, data).status_code == 404
    setting["survey"].refresh_from_db()
    assert setting["survey"].owner == setting["ana"]


def test_the_page_transfers_after_review(client, setting):
    url = reverse("workflows:transfer", args=[setting["survey"].public_id])
    client.force_login(setting["admin"])
    page = client.get(url, {"new_owner": setting["bea"].public_id}).content.decode()
    assert "The survey and its 3 workflows move to Bea Member" in page
    assert "“Linked” uses ana@acme.test's Elsewhere account ACC_ana login" in page
    data = {"op": "transfer", "new_owner": setting["bea"].public_id, "confirm": "yes"}
    assert client.post(url, data).status_code == 302  # an admin still sees it
    page = client.get(url).content.decode()
    assert "Re-point linked accounts" in page and "ACC_bea login" in page


def test_the_transfer_is_one_transaction(setting, monkeypatch):
    calls = []
    original = audit.record

    def failing(*arguments, **options):
        calls.append(arguments[2])
        if len(calls) == 3:  # survey.transferred, the first workflow, then the second
            raise RuntimeError("the database went away")
        return original(*arguments, **options)

    monkeypatch.setattr(audit, "record", failing)
    with pytest.raises(RuntimeError):
        transfer.transfer_survey(setting["survey"], setting["bea"], setting["ana"])
    setting["survey"].refresh_from_db()
    assert setting["survey"].owner == setting["ana"]
    for name in ("plain", "linked", "by_cara"):
        assert fresh(setting[name]).revision == 1, name
    assert calls == ["survey.transferred", "workflow.changed", "workflow.changed"]
    assert not AuditEvent.objects.filter(action="survey.transferred").exists()


def test_repoint_through_the_hooks(setting):
    organization = setting["organization"]
    transfer.transfer_survey(setting["survey"], setting["bea"], setting["ana"])
    workflow = fresh(setting["linked"])
    (needing,) = transfer.workflows_needing_repoint(organization, setting["bea"])
    assert needing.workflow == workflow
    everything = transfer.workflows_needing_repoint(organization, setting["admin"])
    assert {use.workflow.name for use in everything} == {"Linked"}  # Ana's own are fine
    assert transfer.workflows_needing_repoint(organization, setting["cara"]) == []

    with pytest.raises(NotPermitted, match="Only Bea Member, the workflow's owner, or an admin"):
        transfer.repoint_workflow(workflow, setting["cara"], {"ACC_ana": "ACC_bea"})
    for hostile in ("ACC_cara", "ACC_bea_other", "ACC_ana", "nope"):
        with pytest.raises(transfer.TransferError, match="is not one of Bea Member's Elsewhere"):
            transfer.repoint_workflow(workflow, setting["bea"], {"ACC_ana": hostile})
    with pytest.raises(transfer.TransferError, match="does not need re-pointing"):
        transfer.repoint_workflow(workflow, setting["bea"], {"ACC_bea": "ACC_bea"})
    with pytest.raises(transfer.TransferError, match="Choose the account"):
        transfer.repoint_workflow(workflow, setting["bea"], {})
    assert fresh(workflow).revision == workflow.revision

    repointed = transfer.repoint_workflow(workflow, setting["admin"], {"ACC_ana": "ACC_bea"})
    assert repointed.tasks[0]["config"] == {"account": "ACC_bea"}
    assert repointed.owner == setting["bea"] and repointed.revision == workflow.revision + 1
    revision = repointed.revisions.get(number=repointed.revision)
    assert revision.author == setting["admin"]
    assert revision.summary == "Re-pointed Elsewhere account ACC_ana login → ACC_bea login"
    assert revision.definition["tasks"][0]["config"] == {"account": "ACC_bea"}
    assert transfer.workflows_needing_repoint(organization, setting["bea"]) == []
