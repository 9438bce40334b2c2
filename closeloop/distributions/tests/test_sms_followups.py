# ruff: noqa: F811 - the Twilio fixtures are imported from test_sms
"""Frequency rules on SMS invitations, and SMS reminders and thank-yous, through the fake
Twilio (real HTTP, real signed webhooks)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from closeloop.directory import actions as directory_actions
from closeloop.directory.models import Channel as ContactChannel
from closeloop.directory.models import ContactMessageLog
from closeloop.distributions import actions
from closeloop.distributions.actions import DistributionError
from closeloop.distributions.models import Delivery, DeliveryStatus, Distribution, SmsSession
from closeloop.distributions.tests import helpers
from closeloop.distributions.tests.test_sms import TEXT, fake_twilio, sms_list, twilio_org  # noqa: F401
from closeloop.distributions.tests.test_sms_two_way import INBOUND, sms_survey

pytestmark = pytest.mark.django_db

PHONES = ["+14155552671", "+14155552672", "+14155552673"]
RULE = "Frequency rule: at most 1 in 30 days — directory"
SMS_RULE = RULE + " (SMS)"


def texts_to(fake, phone: str) -> list[str]:
    return [message["body"] for message in fake.messages if message["to"] == phone]


def url_in(text: str) -> str:
    return re.search(r"https?://\S+", text).group(0)


def sms_rule(contact, channel=ContactChannel.SMS):
    return directory_actions.create_frequency_rule(
        contact.directory, channel=channel, max_messages=1, period_days=30
    )


def invite(organization, user, survey, mailing_list, channel="sms"):
    distribution = actions.create_distribution(
        organization, survey, owner=user, channel=channel, mailing_list=mailing_list, text_body=TEXT
    )
    helpers.run_jobs()
    return distribution


def statuses(distribution) -> dict[str, tuple[str, str]]:
    return {
        d.phone or d.contact.phone_e164: (d.status, d.reason)
        for d in Delivery.objects.filter(distribution=distribution).select_related("contact")
    }


def test_a_frequency_rule_skips_sms_invitations_with_the_rule(
    org_a, survey_a, twilio_org, fake_twilio
):
    _organization, user = org_a
    mailing_list, contacts = sms_list(twilio_org, PHONES)
    sms_rule(contacts[0])
    directory_actions.log_message(contacts[0], ContactChannel.SMS, survey_id="SV_other")
    # An email does not count against an SMS-only rule.
    directory_actions.log_message(contacts[1], ContactChannel.EMAIL, survey_id="SV_other")

    distribution = invite(twilio_org, user, survey_a, mailing_list)

    assert sorted(m["to"] for m in fake_twilio.messages) == PHONES[1:]
    found = statuses(distribution)
    assert found[PHONES[0]] == (DeliveryStatus.SKIPPED, SMS_RULE)
    assert found[PHONES[1]][0] == DeliveryStatus.SUCCESS
    assert found[PHONES[2]][0] == DeliveryStatus.SUCCESS
    sent_logs = ContactMessageLog.objects.filter(
        survey_id=survey_a.public_id, channel=ContactChannel.SMS, is_reminder=False
    )
    assert sorted(log.contact_id for log in sent_logs) == [contacts[1].pk, contacts[2].pk]


def test_an_any_channel_rule_counts_email_against_two_way_sms(org_a, twilio_org, fake_twilio):
    _organization, user = org_a
    survey = sms_survey(twilio_org, user)
    mailing_list, contacts = sms_list(twilio_org, PHONES[:2])
    sms_rule(contacts[0], channel=ContactChannel.ANY)
    directory_actions.log_message(contacts[0], ContactChannel.EMAIL, survey_id="SV_other")

    distribution = invite(twilio_org, user, survey, mailing_list, channel="sms2way")

    assert [m["to"] for m in fake_twilio.messages] == [PHONES[1]]
    found = statuses(distribution)
    assert found[PHONES[0]] == (DeliveryStatus.SKIPPED, RULE)
    assert found[PHONES[1]][0] == DeliveryStatus.SURVEY_STARTED


def test_sms_reminder_reuses_the_link_and_ignores_frequency_rules(
    org_a, survey_a, twilio_org, fake_twilio
):
    _organization, user = org_a
    mailing_list, contacts = sms_list(twilio_org, PHONES)
    sms_rule(contacts[0])  # the invitation itself fills everyone's quota
    parent = invite(twilio_org, user, survey_a, mailing_list)
    started = Delivery.objects.get(distribution=parent, contact=contacts[1])
    actions.record_survey_event(started.public_id, "started")

    reminder = actions.create_followup(
        parent, "reminder", owner=user, text_body="Still time, ${m://FirstName}: ${l://SurveyURL}"
    )
    helpers.run_jobs()

    assert reminder.channel == "sms"
    reminded = texts_to(fake_twilio, PHONES[0])
    assert len(reminded) == 2
    assert reminded[1].startswith("Still time, Texter0: ")
    assert url_in(reminded[1]) == url_in(reminded[0])  # the same personal link
    assert len(texts_to(fake_twilio, PHONES[1])) == 1  # started: no reminder
    assert len(texts_to(fake_twilio, PHONES[2])) == 2
    found = statuses(reminder)
    assert set(found) == {PHONES[0], PHONES[2]}
    assert {status for status, _reason in found.values()} == {DeliveryStatus.SUCCESS}
    assert ContactMessageLog.objects.filter(contact__in=contacts, is_reminder=True).count() == 2


def test_sms_thank_you_goes_to_those_who_finished(org_a, survey_a, twilio_org, fake_twilio):
    _organization, user = org_a
    mailing_list, contacts = sms_list(twilio_org, PHONES[:2])
    parent = invite(twilio_org, user, survey_a, mailing_list)
    finished = Delivery.objects.get(distribution=parent, contact=contacts[1])
    actions.record_survey_event(finished.public_id, "finished")

    actions.create_followup(parent, "thankyou", text_body="Thank you, ${m://FirstName}!")
    helpers.run_jobs()

    assert texts_to(fake_twilio, PHONES[1])[-1] == "Thank you, Texter1!"
    assert len(texts_to(fake_twilio, PHONES[0])) == 1


def test_two_way_reminder_repeats_the_pending_question(org_a, twilio_org, fake_twilio):
    _organization, user = org_a
    survey = sms_survey(twilio_org, user)
    mailing_list, _contacts = sms_list(twilio_org, PHONES[:2])
    parent = invite(twilio_org, user, survey, mailing_list, channel="sms2way")
    client = Client()
    fake_twilio.inbound(client, INBOUND, PHONES[0], "1")  # now on the NPS question
    for answer in ("2", "9", "Great"):
        fake_twilio.inbound(client, INBOUND, PHONES[1], answer)
    assert statuses(parent)[PHONES[1]][0] == DeliveryStatus.SURVEY_FINISHED

    reminder = actions.create_followup(
        parent, "reminder", recipient_filter="notFinished", text_body="A reminder:"
    )
    thanks = actions.create_followup(parent, "thankyou", text_body="Thanks, ${m://FirstName}!")
    helpers.run_jobs()

    nudge = texts_to(fake_twilio, PHONES[0])[-1]
    assert nudge.startswith("A reminder:\n\n")
    assert nudge.endswith("Reply with a number from 0 to 10.")
    assert texts_to(fake_twilio, PHONES[1])[-1] == "Thanks, Texter1!"
    assert set(statuses(reminder)) == {PHONES[0]}
    assert set(statuses(thanks)) == {PHONES[1]}
    # The reminded respondent carries on in the same session.
    reply = fake_twilio.inbound(client, INBOUND, PHONES[0], "10").content.decode()
    assert "Tell us more" in reply


def test_two_way_reminder_skips_stopped_and_expired_sessions(org_a, twilio_org, fake_twilio):
    _organization, user = org_a
    survey = sms_survey(twilio_org, user)
    mailing_list, contacts = sms_list(twilio_org, PHONES[:2])
    parent = invite(twilio_org, user, survey, mailing_list, channel="sms2way")
    fake_twilio.inbound(Client(), INBOUND, PHONES[0], "STOP")
    SmsSession.objects.filter(delivery__contact=contacts[1]).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    reminder = actions.create_followup(parent, "reminder", text_body="A reminder:")
    helpers.run_jobs()
    assert [len(texts_to(fake_twilio, phone)) for phone in PHONES[:2]] == [1, 1]
    # STOP closed the first session (its response recorded as partial): not a recipient.
    assert statuses(reminder) == {
        PHONES[1]: (DeliveryStatus.SKIPPED, "The two-way SMS session is no longer open.")
    }


def test_bad_sms_followups_are_refused_and_store_nothing(org_a, twilio_org, fake_twilio):
    _organization, user = org_a
    survey = sms_survey(twilio_org, user)
    mailing_list, _contacts = sms_list(twilio_org, PHONES[:1])
    parent = invite(twilio_org, user, survey, mailing_list, channel="sms2way")
    before = Distribution.objects.count()
    with pytest.raises(DistributionError, match="goes to notFinished recipients"):
        actions.create_followup(parent, "reminder", recipient_filter="notStarted", text_body="x")
    with pytest.raises(DistributionError, match="The SMS message is empty"):
        actions.create_followup(parent, "thankyou", text_body="  ")
    with pytest.raises(DistributionError, match="at most 1600 characters"):
        actions.create_followup(parent, "thankyou", text_body="x" * 1601)
    assert Distribution.objects.count() == before
