"""The Distribute survey workflow task: the contact from an earlier task gets one invitation."""

from __future__ import annotations

import json

import pytest
from django.core import mail

import closeloop.distributions.jobs  # noqa: F401 - registers the job handlers
from closeloop.distributions.models import Delivery, DeliveryStatus, Distribution, RecipientKind
from closeloop.distributions.tests.conftest import make_survey
from closeloop.distributions.tests.helpers import run_jobs
from closeloop.workflows import actions as workflow_actions
from closeloop.workflows import mapping
from closeloop.workflows.actions import InvalidWorkflow
from closeloop.workflows.models import RunStatus, TaskRun
from closeloop.workflows.tests.conftest import SAMPLE, directory_task, make_workflow

pytestmark = pytest.mark.django_db


def distribute_task(**config) -> dict:
    return {"type": "distribute_survey", "name": "Invite", "id": "TA_invite", "config": config}


def start(workflow):
    values, _errors = mapping.extract(SAMPLE, workflow.event_config["fields"])
    run, _ = workflow_actions.start_run(workflow, payload=json.dumps(SAMPLE), fields=values)
    return run


def test_the_contact_of_an_earlier_task_gets_one_invitation(org_a, survey_a, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    save = {**directory_task(), "id": "TA_save"}
    invite = distribute_task(
        survey=survey_a.public_id,
        contactId="~{ch://TA_save/contactId}",
        subject="How was your order, ${m://FirstName}?",
        body="Tell us: ${l://SurveyURL} (${e://Field/Store})",
    )
    workflow = make_workflow(*org_a, tasks=[save, invite])
    run = start(workflow)
    run_jobs()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    output = TaskRun.objects.get(run=run, task_id="TA_invite").output
    distribution = Distribution.objects.get(public_id=output["distributionId"])
    assert distribution.recipient_kind == RecipientKind.WORKFLOW
    (message,) = mail.outbox
    assert message.to == ["ada@example.com"]
    assert message.subject == "How was your order, Ada?"
    assert "(Soho)" in message.body and "/jfe/l/" in message.body
    delivery = Delivery.objects.get(distribution=distribution)
    assert delivery.status == DeliveryStatus.SUCCESS
    assert delivery.contact.public_id == output["contactId"]


def test_an_email_from_the_event_fields_is_enough(org_a, survey_a, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    invite = distribute_task(
        survey=survey_a.public_id, email="~{ch://event/email}", firstName="~{ch://event/first}"
    )
    run = start(make_workflow(*org_a, tasks=[invite]))
    run_jobs()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    (message,) = mail.outbox
    assert message.to == ["ada@example.com"] and "Hello Ada" in message.body


def test_saving_refuses_an_unpublished_survey_and_an_unverified_sender(org_a):
    draft = make_survey(*org_a, publish=False)
    invite = distribute_task(
        survey=draft.public_id, email="~{ch://event/email}", fromEmail="x@unverified.example"
    )
    with pytest.raises(InvalidWorkflow) as raised:
        make_workflow(*org_a, tasks=[invite])
    text = str(raised.value) + " ".join(getattr(raised.value, "problems", []) or [])
    assert "publish it first" in text
    assert "not verified" in text


def test_an_sms_invitation_to_a_mobile_number(org_a, survey_a):
    from closeloop.outbox.models import OutboxMessage

    invite = distribute_task(
        survey=survey_a.public_id,
        channel="sms",
        phone="+14155552671",
        firstName="~{ch://event/first}",
        body="${m://FirstName}, rate us: ${l://SurveyURL}",
    )
    run = start(make_workflow(*org_a, tasks=[invite]))
    run_jobs()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    (sms,) = OutboxMessage.objects.filter(channel="sms")
    assert sms.recipients == "+14155552671"
    assert sms.text_body.startswith("Ada, rate us: http")
    assert Distribution.objects.get().channel == "sms"


def test_sms_channel_needs_a_number(org_a, survey_a):
    invite = distribute_task(survey=survey_a.public_id, channel="sms", body="Hi ${l://SurveyURL}")
    with pytest.raises(InvalidWorkflow, match="a mobile number"):
        make_workflow(*org_a, tasks=[invite])


def test_a_library_message_is_copied_when_the_task_runs(org_a, org_b, survey_a, settings):
    from closeloop.distributions import actions

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    organization, _user = org_a
    library = actions.create_message(
        organization, name="Order follow-up", subject="Hi ${m://FirstName}", text_body="Old"
    )
    invite = distribute_task(
        survey=survey_a.public_id,
        email="~{ch://event/email}",
        firstName="~{ch://event/first}",
        message=library.public_id,
    )
    workflow = make_workflow(*org_a, tasks=[invite])
    actions.update_message(
        library, name="Order follow-up", subject="Hi ${m://FirstName}", text_body="${l://SurveyURL}"
    )
    run = start(workflow)
    run_jobs()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    (message,) = mail.outbox
    assert message.subject == "Hi Ada" and "/jfe/l/" in message.body
    distribution = Distribution.objects.get()
    assert distribution.library_message == library
    assert distribution.text_body == "${l://SurveyURL}"


def test_saving_refuses_a_library_message_of_another_channel_or_organization(org_a, org_b):
    from closeloop.distributions import actions

    sms = actions.create_message(
        org_a[0], name="Text", channel="sms", text_body="Rate us ${l://SurveyURL}"
    )
    invite = distribute_task(email="~{ch://event/email}", message=sms.public_id)
    with pytest.raises(InvalidWorkflow, match="is an SMS message: choose an Email message"):
        make_workflow(*org_a, tasks=[invite])
    other = actions.create_message(org_b[0], name="Globex", subject="Hi", text_body="x")
    invite = distribute_task(email="~{ch://event/email}", message=other.public_id)
    with pytest.raises(InvalidWorkflow, match=f"no shared library message {other.public_id}"):
        make_workflow(*org_a, tasks=[invite])


def test_a_malformed_mobile_number_is_refused_naming_the_rule(org_a, survey_a):
    from closeloop.directory.models import Contact

    invite = distribute_task(survey=survey_a.public_id, channel="sms", phone="12-ab", body="Hi")
    with pytest.raises(InvalidWorkflow, match="'12-ab' is not a valid phone number"):
        make_workflow(*org_a, tasks=[invite])
    piped = distribute_task(
        survey=survey_a.public_id,
        channel="sms",
        phone="~{ch://event/first}",  # "Ada": not a number once piped
        body="Hi ${l://SurveyURL}",
    )
    run = start(make_workflow(*org_a, tasks=[piped]))
    run_jobs()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "'Ada' is not a valid phone number" in run.error
    assert not Contact.objects.exists()
    assert not Distribution.objects.exists()


def test_the_task_editor_offers_the_shared_library_only(org_a, org_b, survey_a):
    from django.test import Client

    from closeloop.distributions import actions

    organization, user = org_a
    shared = actions.create_message(organization, name="Shared note", subject="Hi", text_body="x")
    actions.create_message(
        organization, owner=user, name="Private note", subject="Hi", text_body="x"
    )
    actions.create_message(org_b[0], name="Globex note", subject="Hi", text_body="x")
    invite = distribute_task(
        survey=survey_a.public_id, email="~{ch://event/email}", message=shared.public_id
    )
    workflow = make_workflow(*org_a, tasks=[invite])
    client = Client()
    client.force_login(user)
    page = client.get(f"/workflows/{workflow.public_id}/").content.decode()
    assert f'<option value="{shared.public_id}" selected>Shared note</option>' in page
    assert "Private note" not in page and "Globex note" not in page
