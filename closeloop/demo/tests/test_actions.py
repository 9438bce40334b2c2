"""Creating and removing the demo workspace: what it makes, once per organization, and that
removing it deletes exactly the demo's rows."""

from __future__ import annotations

import pytest

from closeloop.demo import actions, queries
from closeloop.demo.models import DemoItem, DemoWorkspace, ItemKind
from closeloop.directory import actions as directory_actions
from closeloop.directory.models import Contact, Directory, MailingList
from closeloop.distributions.secrets import encrypt
from closeloop.integrations.salesforce.demo_models import DemoRecord
from closeloop.integrations.salesforce.models import ConnectedAccount, Environment
from closeloop.integrations.segment import queries as segment_queries
from closeloop.surveys import actions as survey_actions
from closeloop.surveys.models import Survey, SurveyStatus
from closeloop.workflows import actions as workflow_actions
from closeloop.workflows.models import Workflow

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_directory_survey_account_and_three_workflows(org_a, demo_a):
    organization, user = org_a
    demo = queries.demo_of(demo_a)
    assert demo.survey.name == "Support CSAT"
    assert demo.survey.status == SurveyStatus.ACTIVE and demo.survey.owner == user
    questions = demo.survey.current_version.definition["blocks"][0]["elements"]
    assert [q["type"] for q in questions] == ["nps", "text"]
    embedded = demo.survey.definition["flow"][0]
    assert embedded["type"] == "embedded_data"
    assert "CaseNumber" in [field["name"] for field in embedded["fields"]]

    directory = Directory.objects.get(organization=organization)
    assert directory.name == "Demo directory" and not directory.is_default
    contacts = Contact.objects.filter(directory=directory)
    assert {c.email for c in contacts} == {p.email for p in actions.PEOPLE}
    account = demo.account
    assert account.environment == Environment.DEMO and account.owner == user
    assert account.shared_with_organization
    for contact in contacts:  # each is a Contact of the demo Salesforce org too
        record = DemoRecord.objects.get(account=account, record_id=contact.ext_ref)
        assert record.sobject == "Contact" and record.values["Email"] == contact.email

    case = demo.case_workflow
    assert case.event_type == "salesforce_outbound" and case.owner == user
    assert case.event_config["account"] == account.public_id
    assert case.event_config["object"] == "Case"
    assert case.conditions["groups"][0]["rules"] == [
        {"field": "Case.IsClosed", "operator": "equals", "value": "true"}
    ]
    assert [task["type"] for task in case.tasks] == ["xm_directory", "distribute_survey"]
    assert case.tasks[0]["config"]["directory"] == directory.public_id
    segment = demo.segment_workflow
    assert segment.event_type == "segment"
    assert isinstance(segment_queries.secret_of(segment), str)
    assert [task["type"] for task in segment.tasks] == ["xm_directory", "distribute_survey"]
    response = demo.response_workflow
    assert response.event_type == "survey_response" and response.survey == demo.survey
    (task,) = response.tasks
    assert task["type"] == "salesforce" and task["config"]["account"] == account.public_id
    assert {case.survey, segment.survey} == {demo.survey}

    kinds = sorted(DemoItem.objects.filter(workspace=demo_a).values_list("kind", flat=True))
    assert kinds == sorted(
        [ItemKind.DIRECTORY, ItemKind.MAILING_LIST, ItemKind.SALESFORCE_ACCOUNT, ItemKind.SURVEY]
        + [ItemKind.CONTACT] * 3
        + [ItemKind.WORKFLOW] * 3
    )


def test_creating_it_twice_is_refused_clearly(org_a, demo_a):
    organization, user = org_a
    with pytest.raises(actions.DemoExists, match="already has a demo workspace"):
        actions.create_demo_workspace(organization, user)
    assert DemoWorkspace.objects.count() == 1
    assert Survey.objects.filter(organization=organization).count() == 1
    assert Workflow.objects.filter(organization=organization).count() == 3


def test_a_failure_half_way_leaves_nothing(org_a, monkeypatch):
    organization, user = org_a

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(actions, "_response_workflow", broken)
    with pytest.raises(RuntimeError):
        actions.create_demo_workspace(organization, user)
    assert not DemoWorkspace.objects.exists()
    assert not Survey.objects.exists() and not Workflow.objects.exists()
    assert not Directory.objects.exists() and not ConnectedAccount.objects.exists()


def own_things(organization, user):
    """What a user made themselves beside the demo."""
    directory = directory_actions.default_directory(organization)
    contact, _ = directory_actions.upsert_contact(
        directory, {"firstName": "Own", "lastName": "Person", "email": "maria.lopez@example.com"}
    )
    mailing_list = directory_actions.create_mailing_list(directory, "Own list")
    survey = survey_actions.create_survey(organization, user, "Own survey")
    workflow, _ = workflow_actions.create_workflow(
        organization, user, {"name": "Own workflow", "event": {"type": "json"}}
    )
    account = ConnectedAccount.objects.create(
        organization=organization,
        owner=user,
        name="Own org",
        environment=Environment.PRODUCTION,
        login_url="https://login.salesforce.com",
        instance_url="https://own.my.salesforce.com",
        salesforce_organization_id="00D5g000004ClXkEAK",
        access_token_encrypted=encrypt("a"),
        refresh_token_encrypted=encrypt("r"),
    )
    return [directory, contact, mailing_list, survey, workflow, account]


def test_remove_deletes_the_demo_and_nothing_of_the_users_own(org_a, demo_a):
    organization, user = org_a
    own = own_things(organization, user)
    removed = actions.remove_demo_workspace(organization, user)
    assert removed == 10
    assert not DemoWorkspace.objects.exists() and not DemoItem.objects.exists()
    for thing in own:
        assert type(thing).objects.filter(pk=thing.pk).exists(), thing
    assert list(Survey.objects.values_list("name", flat=True)) == ["Own survey"]
    assert list(Workflow.objects.values_list("name", flat=True)) == ["Own workflow"]
    assert list(ConnectedAccount.objects.values_list("name", flat=True)) == ["Own org"]
    assert list(MailingList.objects.values_list("name", flat=True)) == ["Own list"]
    assert list(Contact.objects.values_list("first_name", flat=True)) == ["Own"]
    assert not DemoRecord.objects.exists()
    assert not queries.has_demo(organization)
    with pytest.raises(actions.DemoError, match="has no demo workspace"):
        actions.remove_demo_workspace(organization, user)


def test_remove_skips_what_the_user_already_deleted_and_it_can_be_made_again(org_a, demo_a):
    organization, user = org_a
    demo = queries.demo_of(demo_a)
    workflow_actions.delete_workflow(demo.segment_workflow, user)
    assert actions.remove_demo_workspace(organization, user) == 9
    again = actions.create_demo_workspace(organization, user)
    assert queries.demo_of(again).account.name == "Demo Salesforce"


def test_two_organizations_have_their_own_demo(org_a, org_b, demo_a):
    organization_b, user_b = org_b
    demo_b = actions.create_demo_workspace(organization_b, user_b)
    a, b = queries.demo_of(demo_a), queries.demo_of(demo_b)
    assert a.account.salesforce_organization_id != b.account.salesforce_organization_id
    assert {w.organization_id for w in [a.case_workflow, a.segment_workflow]} == {org_a[0].pk}
    b_workflows = [item.object_id for item in b.items if item.kind == ItemKind.WORKFLOW]
    assert set(
        Workflow.objects.filter(pk__in=b_workflows).values_list("organization", flat=True)
    ) == {organization_b.pk}
    actions.remove_demo_workspace(organization_b, user_b)
    assert queries.has_demo(org_a[0]) and not queries.has_demo(organization_b)
    a = queries.demo_of(demo_a)
    assert a.survey and a.account and a.case_workflow and a.response_workflow
    assert len(a.contacts) == 3
    assert Workflow.objects.filter(organization=organization_b).count() == 0


def test_the_home_page_offers_the_demo_only_to_an_empty_organization(org_a):
    organization, user = org_a
    assert queries.offer_demo(organization)
    survey_actions.create_survey(organization, user, "Own survey")
    assert not queries.offer_demo(organization)
