# ruff: noqa: F811 - the Twilio fixtures are imported from test_sms
"""A distribution's page: SMS segments and cost totals, follow-ups (reminders and thank-yous)
from the page, and the same facts through the v3 API, each tried from two organizations."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client

from closeloop.accounts import actions as accounts_actions
from closeloop.distributions import actions
from closeloop.distributions.costs import describe_cost, total_cost
from closeloop.distributions.models import Distribution, Kind
from closeloop.distributions.tests import helpers
from closeloop.distributions.tests.conftest import make_list
from closeloop.distributions.tests.test_sms import TEXT, fake_twilio, sms_list, twilio_org  # noqa: F401

pytestmark = pytest.mark.django_db

PHONES = ["+14155552671", "+14155552672"]


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api(client: Client, token: str, path: str):
    return client.get(f"/API/v3/distributions{path}", headers={"X-API-TOKEN": token})


@pytest.fixture
def sms_sent(org_a, survey_a, twilio_org, fake_twilio):
    mailing_list, _contacts = sms_list(twilio_org, PHONES)
    distribution = actions.create_distribution(
        twilio_org,
        survey_a,
        owner=org_a[1],
        channel="sms",
        mailing_list=mailing_list,
        text_body=TEXT,
    )
    helpers.run_jobs()
    return distribution


def test_total_cost_adds_what_twilio_charged():
    totals = total_cost(["-0.00790 USD", "-0.00790 USD", "", "n/a", "-0.05 EUR"])
    assert totals == {"USD": Decimal("0.01580"), "EUR": Decimal("0.05")}
    assert describe_cost(totals) == "0.05 EUR + 0.0158 USD"
    assert describe_cost({}) == ""


def test_the_page_totals_sms_segments_and_cost(org_a, org_b, sms_sent):
    page = logged_in(org_a[1]).get(f"/distributions/{sms_sent.public_id}/").content.decode()
    assert '<dd data-stat="segments">2</dd>' in page
    assert '<dd data-stat="cost">0.0158 USD</dd>' in page
    assert f"<h1>{sms_sent.title}</h1>" in page and sms_sent.title.startswith("Hi ${m://FirstName}")
    outsider = logged_in(org_b[1])
    assert outsider.get(f"/distributions/{sms_sent.public_id}/").status_code == 404


def test_the_api_shows_channel_message_and_sms_history(org_a, org_b, sms_sent):
    client = Client()
    token_a = accounts_actions.create_api_token(*org_a, "tests")[1]
    token_b = accounts_actions.create_api_token(*org_b, "tests")[1]
    element = api(client, token_a, f"/{sms_sent.public_id}").json()["result"]
    assert element["channel"] == "sms"
    assert element["message"] == {"messageId": None, "messageText": TEXT}
    history = api(client, token_a, f"/{sms_sent.public_id}/history").json()["result"]
    rows = sorted(history["elements"], key=lambda row: row["phoneNumber"])
    assert [(r["phoneNumber"], r["smsSegments"], r["smsCost"]) for r in rows] == [
        (PHONES[0], 1, "-0.00790 USD"),
        (PHONES[1], 1, "-0.00790 USD"),
    ]
    assert api(client, token_b, f"/{sms_sent.public_id}/history").status_code == 404


def test_an_sms_reminder_from_the_page(org_a, org_b, sms_sent, fake_twilio):
    form = {
        "kind": "reminder:notStarted",
        "message": "",
        "text_body": "Last call: ${l://SurveyURL}",
    }
    outsider = logged_in(org_b[1])
    assert outsider.post(f"/distributions/{sms_sent.public_id}/followup/", form).status_code == 404
    response = logged_in(org_a[1]).post(f"/distributions/{sms_sent.public_id}/followup/", form)
    reminder = Distribution.objects.get(parent=sms_sent)
    assert response["Location"] == f"/distributions/{reminder.public_id}/"
    assert (reminder.kind, reminder.channel, reminder.recipient_filter) == (
        Kind.REMINDER,
        "sms",
        "notStarted",
    )
    helpers.run_jobs()
    reminders = [m for m in fake_twilio.messages if m["body"].startswith("Last call: http")]
    assert sorted(m["to"] for m in reminders) == PHONES


def test_a_follow_up_with_bad_input_names_the_rule_and_stores_nothing(org_a, sms_sent):
    client = logged_in(org_a[1])
    form = {"kind": "thankyou:finished", "message": "", "text_body": " "}
    page = client.post(f"/distributions/{sms_sent.public_id}/followup/", form, follow=True)
    assert "The SMS message is empty: give a message text." in page.content.decode()
    assert not Distribution.objects.filter(parent=sms_sent).exists()


def test_an_email_thank_you_from_a_library_message(org_a, survey_a, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    organization, user = org_a
    mailing_list, contacts = make_list(organization, 2)
    parent = actions.create_distribution(
        organization,
        survey_a,
        mailing_list=mailing_list,
        subject="Invitation",
        text_body="${l://SurveyURL}",
    )
    helpers.run_jobs()
    finished = parent.deliveries.get(contact=contacts[0])
    actions.record_survey_event(finished.public_id, "finished")
    thanks = actions.create_message(
        organization, name="Thanks", category="thankyou", subject="Thank you", text_body="Bye"
    )
    form = {
        "kind": "thankyou:finished",
        "message": thanks.public_id,
        "subject": "",
        "text_body": "",
    }
    logged_in(user).post(f"/distributions/{parent.public_id}/followup/", form)
    mail.outbox.clear()
    helpers.run_jobs()
    (message,) = mail.outbox
    assert (message.to, message.subject) == ([contacts[0].email], "Thank you")
    assert Distribution.objects.get(parent=parent).library_message == thanks


def test_blocked_is_counted_apart_from_skipped(org_a, survey_a, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    organization, user = org_a
    mailing_list, contacts = make_list(organization, 3)
    actions.suppress_address(organization.pk, contacts[0].email, "hard bounce earlier")
    from closeloop.directory import actions as directory_actions

    directory_actions.unsubscribe_contact(contacts[1])
    distribution = actions.create_distribution(
        organization, survey_a, mailing_list=mailing_list, subject="Hi", text_body="x"
    )
    helpers.run_jobs()
    token = accounts_actions.create_api_token(*org_a, "tests")[1]
    stats = api(Client(), token, f"/{distribution.public_id}").json()["result"]["stats"]
    assert (stats["sent"], stats["skipped"], stats["blocked"]) == (1, 1, 1)
    page = logged_in(user).get(f"/distributions/{distribution.public_id}/").content.decode()
    assert '<dd data-stat="blocked">1</dd>' in page and '<dd data-stat="skipped">1</dd>' in page


def test_an_sms_reminder_through_the_api(org_a, org_b, sms_sent, fake_twilio):
    client = Client()
    token_a = accounts_actions.create_api_token(*org_a, "tests")[1]
    token_b = accounts_actions.create_api_token(*org_b, "tests")[1]
    body = {"message": {"messageText": "Last call: ${l://SurveyURL}"}, "recipientFilter": ""}
    path = f"/API/v3/distributions/{sms_sent.public_id}/reminders"

    def post(token, data):
        return client.post(
            path, data, content_type="application/json", headers={"X-API-TOKEN": token}
        )

    assert post(token_b, body).status_code == 404
    refused = post(token_a, {**body, "recipientFilter": "finished"})
    assert refused.status_code == 400
    assert "A reminder goes to notStarted or notFinished recipients." in refused.content.decode()
    created = post(token_a, body)
    assert created.status_code == 200, created.content
    reminder = Distribution.objects.get(public_id=created.json()["result"]["distributionId"])
    assert (reminder.channel, reminder.text_body, reminder.subject) == (
        "sms",
        "Last call: ${l://SurveyURL}",
        "",
    )
    helpers.run_jobs()
    assert sum(m["body"].startswith("Last call: http") for m in fake_twilio.messages) == 2
