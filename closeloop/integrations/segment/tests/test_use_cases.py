"""The three use cases from one Segment source, through the receiver and the worker: identify
calls create and update a contact, a Transaction Created track adds a transaction to the right
contact, an onboarding track starts a workflow that emails a survey."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.core import mail

from closeloop.directory import actions as directory_actions
from closeloop.directory.models import Contact, Transaction
from closeloop.distributions.models import Delivery, DeliveryStatus
from closeloop.distributions.tests.helpers import run_jobs
from closeloop.integrations.segment import actions
from closeloop.integrations.segment.models import SourceWorkflow, UseCase
from closeloop.integrations.segment.tests.conftest import (
    post,
    sample,
    sample_json,
    segment_workflow,
    url_of,
)
from closeloop.workflows import lookup_cache
from closeloop.workflows.actions import InvalidWorkflow
from closeloop.workflows.models import RunStatus, TaskRun, WorkflowRun

pytestmark = pytest.mark.django_db

ALL = [UseCase.CONTACTS, UseCase.TRANSACTIONS, UseCase.WORKFLOW]


@pytest.fixture(autouse=True)
def _email(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def make_source(org, survey=None, use_case_list=ALL, **options):
    organization, user = org
    source = actions.create_source(
        organization, user, name="Web app", use_case_list=use_case_list, survey=survey, **options
    )
    lookup_cache.forget_all()
    return source, {link.use_case: link.workflow for link in source.links.all()}


def send(client, workflow, body: bytes | str):
    response = post(client, url_of(workflow), body)
    assert response.status_code in (200, 202), response.content
    return response


def contact_task(mode="contact", **config):
    return {
        "type": "segment_contact",
        "name": "Contact",
        "config": {"mode": mode, **config},
    }


def test_an_identify_creates_a_contact_and_a_second_one_updates_it(client, org_a):
    _, workflows = make_source(org_a, use_case_list=[UseCase.CONTACTS])
    workflow = workflows[UseCase.CONTACTS]
    send(client, workflow, sample("identify.json"))
    run_jobs()
    contact = Contact.objects.get()
    assert (contact.first_name, contact.last_name, contact.email) == (
        "Jane",
        "Doe",
        "jane.doe@example.com",
    )
    assert contact.ext_ref == "user_48213" and contact.phone
    assert contact.embedded_data == {"plan": "Pro", "onboarding_completed": "true", "seats": "12"}
    run = WorkflowRun.objects.get()
    assert run.status == RunStatus.SUCCEEDED, run.error
    output = TaskRun.objects.get(run=run).output
    assert output["created"] is True and output["contactId"] == contact.public_id

    # Segment sends the profile again with new traits (and a new messageId).
    again = sample_json("identify.json")
    again["messageId"] = "ajs-next-1763829999999-second"
    again["traits"] = {
        **again["traits"],
        "lastName": "Doe-Smith",
        "plan": "Enterprise",
        "company": {"name": "Initech", "size": 250},
    }
    send(client, workflow, json.dumps(again))
    run_jobs()
    contact = Contact.objects.get()  # still one contact: matched by extRef (the userId)
    assert contact.last_name == "Doe-Smith"
    assert contact.embedded_data["plan"] == "Enterprise"
    assert contact.embedded_data["company.name"] == "Initech"
    assert contact.embedded_data["company.size"] == "250"
    assert contact.embedded_data["seats"] == "12"  # kept: embedded data merges key by key
    second = WorkflowRun.objects.latest("id")
    assert TaskRun.objects.get(run=second).output["created"] is False


def test_a_transaction_created_track_adds_a_transaction_to_the_right_contact(client, org_a):
    organization, _user = org_a
    _, workflows = make_source(org_a, use_case_list=[UseCase.CONTACTS, UseCase.TRANSACTIONS])
    directory = directory_actions.default_directory(organization)
    other, _ = directory_actions.upsert_contact(
        directory, {"firstName": "Li", "lastName": "Wei", "email": "li.wei@example.com"}
    )
    for workflow in workflows.values():  # the same batch to both URLs, as two mappings would
        send(client, workflow, sample("webhooks_actions_batch.json"))
        send(client, workflow, sample("track_transaction_created.json"))
    run_jobs()
    jane = Contact.objects.get(email="jane.doe@example.com")
    (added,) = Transaction.objects.all()
    assert added.contact == jane and added.contact != other
    assert added.data == {
        "order_id": "SO-100482",
        "store": "Berlin Mitte",
        "total": 149.9,
        "currency": "EUR",
        "first_purchase": False,
    }
    assert added.transaction_date == datetime(2026, 11, 21, 10, 2, 44, 856000, tzinfo=UTC)
    # Each event ran once in each workflow; what did not match a workflow's filter is skipped.
    runs = WorkflowRun.objects.filter(workflow=workflows[UseCase.TRANSACTIONS]).order_by("id")
    assert [run.status for run in runs] == [RunStatus.SKIPPED] * 2 + [RunStatus.SUCCEEDED]
    assert "type" in runs[0].skip_reason
    contacts_runs = WorkflowRun.objects.filter(workflow=workflows[UseCase.CONTACTS])
    assert sorted(contacts_runs.values_list("status", flat=True)) == [
        RunStatus.SKIPPED,
        RunStatus.SKIPPED,
        RunStatus.SUCCEEDED,
    ]
    assert Contact.objects.count() == 2


def test_a_transaction_for_someone_new_creates_the_contact_first(client, org_a):
    _, workflows = make_source(org_a, use_case_list=[UseCase.TRANSACTIONS])
    send(client, workflows[UseCase.TRANSACTIONS], sample("track_transaction_created.json"))
    run_jobs()
    contact = Contact.objects.get()
    assert (contact.email, contact.ext_ref, contact.first_name) == (
        "jane.doe@example.com",
        "user_48213",
        "Jane",
    )
    assert contact.embedded_data == {}  # transaction mode keeps the traits off the contact
    assert Transaction.objects.get().contact == contact


def test_an_onboarding_track_starts_a_workflow_that_emails_a_survey(client, org_a, survey_a):
    _, workflows = make_source(org_a, survey=survey_a)
    workflow = workflows[UseCase.WORKFLOW]
    assert workflow.survey == survey_a
    assert workflow.conditions["groups"][0]["rules"][1]["value"] == "Onboarding Tour Completed"
    for each in workflows.values():
        send(client, each, sample("track_onboarding_completed.json"))
    run_jobs()
    run = WorkflowRun.objects.get(workflow=workflow)
    assert run.status == RunStatus.SUCCEEDED, run.error
    (message,) = mail.outbox
    assert message.to == ["li.wei@example.com"]
    assert "Hello Wei" in message.body and "/jfe/l/" in message.body
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.SUCCESS
    assert delivery.contact.ext_ref == "user_59034"
    # The contacts and transactions workflows skipped it: not an identify, not a transaction.
    others = WorkflowRun.objects.exclude(workflow=workflow).values_list("status", flat=True)
    assert set(others) == {RunStatus.SKIPPED}
    # Segment delivers it again: no second email.
    send(client, workflow, sample("track_onboarding_completed.json"))
    run_jobs()
    assert len(mail.outbox) == 1


def test_the_qualtrics_destination_starts_the_same_workflow(client, org_a, survey_a):
    from closeloop.accounts import actions as accounts_actions

    _, workflows = make_source(org_a, survey=survey_a, use_case_list=[UseCase.WORKFLOW])
    _row, token = accounts_actions.create_api_token(*org_a, "Segment")
    response = post(
        client,
        url_of(workflows[UseCase.WORKFLOW]),
        sample("qualtrics_destination_trigger_payload.json"),
        HTTP_X_API_TOKEN=token,
    )
    assert response.status_code == 202
    run_jobs()
    (message,) = mail.outbox
    assert message.to == ["li.wei@example.com"]


def test_a_source_is_all_or_nothing_and_needs_a_published_survey_for_a_workflow(org_a):
    from closeloop.distributions.tests.conftest import make_survey

    organization, user = org_a
    with pytest.raises(actions.SourceError, match="Choose the survey"):
        actions.create_source(organization, user, name="App", use_case_list=ALL)
    draft = make_survey(organization, user, publish=False)
    with pytest.raises(actions.SourceError, match="publish it first"):
        actions.create_source(organization, user, name="App", use_case_list=ALL, survey=draft)
    assert not SourceWorkflow.objects.exists()
    assert not WorkflowRun.objects.exists()


def test_the_source_secret_is_set_on_every_use_case_and_on_later_ones(client, org_a, survey_a):
    source, workflows = make_source(
        org_a, use_case_list=[UseCase.CONTACTS], secret="closeloop-example-secret"
    )
    added = actions.add_use_case(source, org_a[1], UseCase.TRANSACTIONS)
    lookup_cache.forget_all()
    for workflow in (workflows[UseCase.CONTACTS], added):
        response = post(client, url_of(workflow), sample("identify_compact.json"))
        assert response.status_code == 401
        response = post(
            client,
            url_of(workflow),
            sample("identify_compact.json"),
            HTTP_X_SIGNATURE="2c90d865a399cd7e3d6ab09714a8c87afa0f8877",
        )
        assert response.status_code == 202


def test_an_event_without_email_phone_or_user_id_fails_the_run_saying_why(client, org_a):
    workflow = segment_workflow(*org_a, tasks=[contact_task()])
    send(client, workflow, json.dumps({"type": "identify", "anonymousId": "a-1", "traits": {}}))
    run_jobs()
    run = WorkflowRun.objects.get()
    assert run.status == RunStatus.FAILED
    assert "no email, phone or userId" in run.error


def test_long_traits_are_left_out_and_named_in_the_output(client, org_a):
    workflow = segment_workflow(*org_a, tasks=[contact_task()])
    event = {
        "type": "identify",
        "userId": "u-1",
        "messageId": "m-1",
        "traits": {"email": "ann@example.com", "bio": "x" * 2000, "tags": ["a", "b"]},
    }
    send(client, workflow, json.dumps(event))
    run_jobs()
    run = WorkflowRun.objects.get()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert TaskRun.objects.get(run=run).output["leftOut"] == ["bio"]
    assert Contact.objects.get().embedded_data == {"tags": '["a","b"]'}


def test_the_task_checks_its_settings_when_saved(org_a, org_b):
    from closeloop.directory import actions as directory

    other_directory = directory.default_directory(org_b[0])
    with pytest.raises(InvalidWorkflow, match=f"there is no directory {other_directory.public_id}"):
        segment_workflow(*org_a, tasks=[contact_task(directory=other_directory.public_id)])
    with pytest.raises(InvalidWorkflow, match="mode must be contact or transaction"):
        segment_workflow(*org_a, tasks=[contact_task(mode="merge")])
    with pytest.raises(InvalidWorkflow, match="no setting 'contact'"):
        segment_workflow(*org_a, tasks=[contact_task(contact={"email": "x"})])
