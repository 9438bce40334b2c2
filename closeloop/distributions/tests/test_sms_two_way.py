"""Two-way SMS surveys through the fake Twilio: signed inbound webhooks, TwiML replies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from closeloop.directory import actions as directory_actions
from closeloop.distributions import actions
from closeloop.distributions.actions import DistributionError
from closeloop.distributions.channels import sms2way
from closeloop.distributions.models import Delivery, DeliveryStatus, SmsSession
from closeloop.distributions.tests import helpers
from closeloop.distributions.tests.conftest import make_survey
from closeloop.distributions.tests.test_sms import BASE, fake_twilio, sms_list, twilio_org  # noqa: F401
from closeloop.surveys import actions as survey_actions
from closeloop.surveys.models import Response
from closeloop.surveys.tests.sample import sample, simple

pytestmark = pytest.mark.django_db

PHONE = "+14155552671"
INBOUND = f"{BASE}/t/twilio/inbound"


def sms_survey(organization, user):
    definition = simple("mc", "nps", "text")
    elements = definition["blocks"][0]["elements"]
    elements[0]["text"] = "Which store, ${m://FirstName}?"
    elements[0]["required"] = True
    elements[1]["required"] = True
    definition["flow"].insert(
        0,
        {"type": "embedded_data", "fields": [{"name": "Tier", "source": "contact", "value": ""}]},
    )
    survey = survey_actions.create_survey(organization, user, "SMS survey", definition)
    survey_actions.publish(survey, user)
    return survey


def reply_text(response) -> str:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    return response.content.decode()


def start(org_a, twilio_org, fake_twilio):  # noqa: F811
    _organization, user = org_a
    survey = sms_survey(twilio_org, user)
    mailing_list, (contact,) = sms_list(twilio_org, [PHONE])
    contact.embedded_data = {"Tier": "Gold"}
    contact.save(update_fields=["embedded_data"])
    distribution = actions.create_distribution(
        twilio_org, survey, owner=user, channel="sms2way", mailing_list=mailing_list
    )
    helpers.run_jobs()
    return survey, distribution, contact


def test_a_full_survey_answered_by_sms(org_a, twilio_org, fake_twilio):  # noqa: F811
    survey, distribution, contact = start(org_a, twilio_org, fake_twilio)
    (invitation,) = fake_twilio.messages
    assert invitation["to"] == PHONE
    assert "Texter0, please answer a few questions by text" in invitation["body"]
    assert "Which store, Texter0?\n1. Option 1\n2. Option 2\n" in invitation["body"]
    delivery = Delivery.objects.get(distribution=distribution)
    assert delivery.status == DeliveryStatus.SURVEY_STARTED
    client = Client()
    second = reply_text(fake_twilio.inbound(client, INBOUND, PHONE, " 2 "))
    assert "Reply with a number from 0 to 10." in second
    third = reply_text(fake_twilio.inbound(client, INBOUND, PHONE, "9"))
    assert "Tell us more. (Reply SKIP to skip.)" in third
    done = reply_text(fake_twilio.inbound(client, INBOUND, PHONE, "Quick & friendly <3"))
    assert "Thank you" in done
    response = Response.objects.get(survey=survey)
    assert response.finished
    assert response.contact == contact
    assert response.answers == {
        "QID1": {"choices": ["2"]},
        "QID2": 9,
        "QID3": "Quick & friendly <3",
    }
    assert response.embedded_data == {"Tier": "Gold"}
    assert response.delivery_id == delivery.public_id
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SURVEY_FINISHED
    assert delivery.response_id == response.public_id
    # A later message from the number starts nothing and changes nothing.
    assert reply_text(fake_twilio.inbound(client, INBOUND, PHONE, "5")) == (
        '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    )


def test_an_invalid_answer_gets_a_validation_reply(org_a, twilio_org, fake_twilio):  # noqa: F811
    survey, _distribution, _contact = start(org_a, twilio_org, fake_twilio)
    client = Client()
    wrong = reply_text(fake_twilio.inbound(client, INBOUND, PHONE, "7"))
    assert "Please reply with a number from 1 to 2." in wrong
    assert "1. Option 1" in wrong
    reply_text(fake_twilio.inbound(client, INBOUND, PHONE, "1"))
    wrong = reply_text(fake_twilio.inbound(client, INBOUND, PHONE, "eleven"))
    assert "Please choose a value from 0 to 10." in wrong
    response = Response.objects.get(survey=survey)
    assert response.answers == {"QID1": {"choices": ["1"]}}
    assert not response.finished


def test_an_expired_session(org_a, twilio_org, fake_twilio, settings):  # noqa: F811
    survey, distribution, _contact = start(org_a, twilio_org, fake_twilio)
    client = Client()
    reply_text(fake_twilio.inbound(client, INBOUND, PHONE, "1"))
    SmsSession.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    expired = reply_text(fake_twilio.inbound(client, INBOUND, PHONE, "9"))
    assert "this survey has expired" in expired
    response = Response.objects.get(survey=survey)
    assert response.finished_at is not None and not response.finished
    assert response.answers == {"QID1": {"choices": ["1"]}}
    delivery = Delivery.objects.get(distribution=distribution)
    assert delivery.status == DeliveryStatus.SESSION_EXPIRED


def test_the_expiry_job_closes_idle_sessions(org_a, twilio_org, fake_twilio, settings):  # noqa: F811
    settings.CLOSELOOP_SMS_SESSION_HOURS = 1
    _survey, distribution, _contact = start(org_a, twilio_org, fake_twilio)
    session = SmsSession.objects.get()
    assert timedelta(minutes=59) < session.expires_at - timezone.now() <= timedelta(hours=1)
    assert sms2way.expire_due() == 0
    assert sms2way.expire_due(timezone.now() + timedelta(hours=2)) == 1
    delivery = Delivery.objects.get(distribution=distribution)
    assert delivery.status == DeliveryStatus.SESSION_EXPIRED


def test_stop_during_a_session_unsubscribes(org_a, twilio_org, fake_twilio):  # noqa: F811
    _survey, _distribution, contact = start(org_a, twilio_org, fake_twilio)
    stop = reply_text(fake_twilio.inbound(Client(), INBOUND, PHONE, "STOP"))
    assert "You are unsubscribed" in stop
    contact.refresh_from_db()
    assert contact.unsubscribed
    delivery = Delivery.objects.get(distribution=_distribution)
    assert (delivery.status, delivery.reason) == (
        DeliveryStatus.SESSION_EXPIRED,
        "The respondent replied STOP.",
    )
    assert Response.objects.get().finished_at is not None
    # No more questions: a later reply finds no open session.
    assert "Which store" not in reply_text(fake_twilio.inbound(Client(), INBOUND, PHONE, "1"))


def test_yes_during_a_session_is_an_answer(org_a, twilio_org, fake_twilio):  # noqa: F811
    survey, _distribution, contact = start(org_a, twilio_org, fake_twilio)
    # Another contact shares the number and opted out: a survey answer must not opt it back in.
    opted_out, _created = directory_actions.upsert_contact(
        contact.directory, {"email": "shared@example.com", "phone": PHONE, "unsubscribed": True}
    )
    assert opted_out.pk != contact.pk and opted_out.unsubscribed
    client = Client()
    reply_text(fake_twilio.inbound(client, INBOUND, PHONE, "1"))
    reply_text(fake_twilio.inbound(client, INBOUND, PHONE, "9"))
    done = reply_text(fake_twilio.inbound(client, INBOUND, PHONE, "Yes"))
    assert "Thank you" in done and "resubscribed" not in done
    response = Response.objects.get(survey=survey)
    assert response.finished
    assert response.answers["QID3"] == "Yes"
    opted_out.refresh_from_db()
    assert opted_out.unsubscribed
    # Once the session is over, YES is the opt-in keyword again.
    again = reply_text(fake_twilio.inbound(client, INBOUND, PHONE, "YES"))
    assert "You are resubscribed" in again
    opted_out.refresh_from_db()
    assert not opted_out.unsubscribed


def test_forged_inbound_is_refused(org_a, twilio_org, fake_twilio):  # noqa: F811
    survey, _distribution, _contact = start(org_a, twilio_org, fake_twilio)
    params = {"AccountSid": fake_twilio.account_sid, "From": PHONE, "Body": "1"}
    forged = fake_twilio.sign(INBOUND, params, token="guess")
    response = fake_twilio.webhook(Client(), INBOUND, params, signature=forged)
    assert response.status_code == 403
    assert Response.objects.get(survey=survey).answers == {}


def test_surveys_with_other_question_types_are_refused(org_a):
    organization, user = org_a
    survey = survey_actions.create_survey(organization, user, "Full", sample())
    survey_actions.publish(survey, user)
    mailing_list, _contacts = sms_list(organization, [PHONE])
    with pytest.raises(DistributionError) as error:
        actions.create_distribution(
            organization, survey, owner=user, channel="sms2way", mailing_list=mailing_list
        )
    message = str(error.value)
    assert "only multiple choice (single answer), NPS and text entry" in message
    assert "QID2 is a multiple choice question with several answers" in message
    assert "QID3 is a rating question" in message
    assert "QID4 is a matrix question" in message
    make_survey(organization, user)  # the NPS-only survey is fine


def test_the_simulator_plays_the_respondent_through_the_outbox(org_a):
    organization, user = org_a
    survey = sms_survey(organization, user)
    mailing_list, _contacts = sms_list(organization, [PHONE])
    actions.create_distribution(
        organization, survey, owner=user, channel="sms2way", mailing_list=mailing_list
    )
    helpers.run_jobs()
    client = Client()
    client.force_login(user)
    page = client.get(f"/distributions/sms-simulator/?phone={PHONE}").content.decode()
    assert "Which store, Texter0?" in page
    for body in ("2", "10", "SKIP"):
        assert (
            client.post("/distributions/sms-simulator/", {"phone": PHONE, "body": body}).status_code
            == 302
        )
    page = client.get(f"/distributions/sms-simulator/?phone={PHONE}").content.decode()
    assert "Reply with a number from 0 to 10." in page
    assert "Thank you" in page
    response = Response.objects.get(survey=survey)
    assert response.finished
    assert response.answers == {"QID1": {"choices": ["2"]}, "QID2": 10}
    bad = client.post("/distributions/sms-simulator/", {"phone": "12", "body": "hi"})
    assert "E.164" in bad.content.decode()
