"""SMS invitations through a fake Twilio (real HTTP, real X-Twilio-Signature webhooks)."""

from __future__ import annotations

import pytest
from django.test import Client

from closeloop.directory import actions as directory_actions
from closeloop.distributions import actions
from closeloop.distributions.actions import DistributionError
from closeloop.distributions.models import Delivery, DeliveryStatus, TwilioSettings
from closeloop.distributions.tests import helpers
from closeloop.integrations.twilio import actions as twilio_actions
from tests.fakes.twilio import FakeTwilio

pytestmark = pytest.mark.django_db

BASE = "http://testserver"
TEXT = "Hi ${m://FirstName}, tell us how we did: ${l://SurveyURL}"


@pytest.fixture
def fake_twilio(settings):
    settings.CLOSELOOP_BASE_URL = BASE
    fake = FakeTwilio().start()
    settings.CLOSELOOP_TWILIO_API_BASE_URL = fake.base_url
    yield fake
    fake.stop()


@pytest.fixture
def twilio_org(org_a, fake_twilio):
    organization, _user = org_a
    twilio_actions.save_settings(
        organization,
        account_sid=fake_twilio.account_sid,
        auth_token=fake_twilio.auth_token,
        from_number=fake_twilio.phone_number,
    )
    return organization


def sms_list(organization, phones):
    directory = directory_actions.default_directory(organization)
    mailing_list = directory_actions.create_mailing_list(directory, "Texters")
    contacts = []
    for n, phone in enumerate(phones):
        fields = {"firstName": f"Texter{n}", "email": f"t{n}@example.com"}
        if phone:
            fields["phone"] = phone
        contact, _created = directory_actions.upsert_contact(
            directory, fields, mailing_list=mailing_list
        )
        contacts.append(contact)
    return mailing_list, contacts


def test_the_auth_token_is_encrypted_at_rest(twilio_org, fake_twilio):
    stored = TwilioSettings.objects.get(organization=twilio_org)
    assert fake_twilio.auth_token not in stored.auth_token_secret
    assert stored.auth_token == fake_twilio.auth_token


def test_sms_invitation_sent_delivered_and_called_back(org_a, survey_a, twilio_org, fake_twilio):
    _organization, user = org_a
    mailing_list, contacts = sms_list(twilio_org, ["+14155552671", "", "+14155552672"])
    distribution = actions.create_distribution(
        twilio_org, survey_a, owner=user, channel="sms", mailing_list=mailing_list, text_body=TEXT
    )
    helpers.run_jobs()
    helpers.run_jobs()  # a retried job sends nothing twice
    assert sorted(m["to"] for m in fake_twilio.messages) == ["+14155552671", "+14155552672"]
    first = next(m for m in fake_twilio.messages if m["to"] == "+14155552671")
    assert first["body"].startswith("Hi Texter0, tell us how we did: http://testserver/")
    assert first["from"] == fake_twilio.phone_number
    assert first["status_callback"] == f"{BASE}/t/twilio/status"
    skipped = Delivery.objects.get(distribution=distribution, contact=contacts[1])
    assert (skipped.status, skipped.reason) == (
        DeliveryStatus.SKIPPED,
        "The contact has no valid mobile number (E.164).",
    )
    sent = Delivery.objects.get(distribution=distribution, contact=contacts[0])
    assert sent.status == DeliveryStatus.SUCCESS
    assert sent.message_id == first["sid"]
    assert sent.phone == "+14155552671"
    assert sent.segments == 1
    assert sent.price == "-0.00790 USD"

    client = Client()
    assert fake_twilio.status_callback(client, first, "sent").status_code == 204
    assert fake_twilio.status_callback(client, first, "delivered").status_code == 204
    sent.refresh_from_db()
    assert sent.status == DeliveryStatus.SUCCESS
    assert sent.reason == "Delivered to the handset."

    other = next(m for m in fake_twilio.messages if m["to"] == "+14155552672")
    response = fake_twilio.status_callback(client, other, "undelivered", ErrorCode="30003")
    assert response.status_code == 204
    failed = Delivery.objects.get(distribution=distribution, contact=contacts[2])
    assert failed.status == DeliveryStatus.FAILURE
    assert failed.reason == "Twilio: undelivered (error 30003)"


def test_forged_and_unsigned_callbacks_are_refused(org_a, survey_a, twilio_org, fake_twilio):
    _organization, user = org_a
    mailing_list, _contacts = sms_list(twilio_org, ["+14155552671"])
    distribution = actions.create_distribution(
        twilio_org, survey_a, owner=user, channel="sms", mailing_list=mailing_list, text_body=TEXT
    )
    helpers.run_jobs()
    (message,) = fake_twilio.messages
    params = {
        "AccountSid": fake_twilio.account_sid,
        "MessageSid": message["sid"],
        "MessageStatus": "failed",
    }
    url = f"{BASE}/t/twilio/status"
    client = Client()
    forged = fake_twilio.sign(url, params, token="not-the-token")
    assert fake_twilio.webhook(client, url, params, signature=forged).status_code == 403
    assert fake_twilio.webhook(client, url, params, signature="").status_code == 403
    tampered = fake_twilio.sign(url, {**params, "MessageStatus": "delivered"})
    assert fake_twilio.webhook(client, url, params, signature=tampered).status_code == 403
    delivery = Delivery.objects.get(distribution=distribution)
    assert delivery.status == DeliveryStatus.SUCCESS
    assert delivery.reason == ""


def test_stop_unsubscribes_and_help_replies(org_a, twilio_org, fake_twilio):
    _mailing_list, (contact,) = sms_list(twilio_org, ["+14155552671"])
    client = Client()
    url = f"{BASE}/t/twilio/inbound"
    response = fake_twilio.inbound(client, url, "+14155552671", "help")
    assert response.status_code == 200
    assert b"Reply STOP to stop receiving messages" in response.content
    response = fake_twilio.inbound(client, url, "+14155552671", " Stop ")
    assert response.status_code == 200
    assert b"You are unsubscribed" in response.content
    contact.refresh_from_db()
    assert contact.unsubscribed


def send_sms(organization, user, survey, mailing_list):
    distribution = actions.create_distribution(
        organization, survey, owner=user, channel="sms", mailing_list=mailing_list, text_body=TEXT
    )
    helpers.run_jobs()
    return Delivery.objects.get(distribution=distribution)


@pytest.mark.parametrize("keyword", ["START", " unstop ", "Yes"])
def test_start_after_stop_resubscribes(org_a, survey_a, twilio_org, fake_twilio, keyword):
    _organization, user = org_a
    mailing_list, (contact,) = sms_list(twilio_org, ["+14155552671"])
    client = Client()
    url = f"{BASE}/t/twilio/inbound"
    fake_twilio.inbound(client, url, "+14155552671", "STOP")
    assert send_sms(twilio_org, user, survey_a, mailing_list).status == DeliveryStatus.SKIPPED
    assert fake_twilio.messages == []

    response = fake_twilio.inbound(client, url, "+14155552671", keyword)
    assert response.status_code == 200
    assert (
        b"<Message>You are resubscribed to Acme Corp messages. Reply STOP to unsubscribe."
        b"</Message>" in response.content
    )
    contact.refresh_from_db()
    assert (contact.unsubscribed, contact.unsubscribed_at) == (False, None)
    assert send_sms(twilio_org, user, survey_a, mailing_list).status == DeliveryStatus.SUCCESS
    assert [m["to"] for m in fake_twilio.messages] == ["+14155552671"]


def test_stop_and_start_stay_within_the_organization(org_a, org_b, twilio_org, fake_twilio):
    organization_b, _user = org_b
    other_twilio = FakeTwilio()  # only signs webhooks: org B's own Twilio account
    twilio_actions.save_settings(
        organization_b,
        account_sid=other_twilio.account_sid,
        auth_token=other_twilio.auth_token,
        from_number=other_twilio.phone_number,
    )
    _list_a, (contact_a,) = sms_list(twilio_org, ["+14155552671"])
    _list_b, (contact_b,) = sms_list(organization_b, ["+14155552671"])
    client = Client()
    url = f"{BASE}/t/twilio/inbound"
    fake_twilio.inbound(client, url, "+14155552671", "STOP")
    other_twilio.inbound(client, url, "+14155552671", "STOP")
    fake_twilio.inbound(client, url, "+14155552671", "START")
    contact_a.refresh_from_db()
    contact_b.refresh_from_db()
    assert not contact_a.unsubscribed
    assert contact_b.unsubscribed and contact_b.unsubscribed_at is not None


def test_a_refused_number_fails_and_the_rest_goes_out(org_a, survey_a, twilio_org, fake_twilio):
    _organization, user = org_a
    fake_twilio.refuse["+14155552671"] = (400, 21211, "The 'To' number is not a valid number.")
    mailing_list, contacts = sms_list(twilio_org, ["+14155552671", "+14155552672"])
    distribution = actions.create_distribution(
        twilio_org, survey_a, owner=user, channel="sms", mailing_list=mailing_list, text_body=TEXT
    )
    helpers.run_jobs()
    refused = Delivery.objects.get(distribution=distribution, contact=contacts[0])
    assert refused.status == DeliveryStatus.FAILURE
    assert "not a valid number" in refused.reason
    assert [m["to"] for m in fake_twilio.messages] == ["+14155552672"]


def test_unconfigured_organization_sends_to_the_outbox(org_a, survey_a, settings):
    from closeloop.outbox.models import OutboxMessage

    organization, user = org_a
    mailing_list, _contacts = sms_list(organization, ["+14155552671"])
    actions.create_distribution(
        organization, survey_a, owner=user, channel="sms", mailing_list=mailing_list, text_body=TEXT
    )
    helpers.run_jobs()
    (stored,) = OutboxMessage.objects.filter(organization=organization, channel="sms")
    assert stored.recipients == "+14155552671"
    assert stored.text_body.startswith("Hi Texter0, tell us how we did: http://")
    delivery = Delivery.objects.get(distribution__organization=organization)
    assert (delivery.status, delivery.segments) == (DeliveryStatus.SUCCESS, 1)


def test_bad_sms_distributions_are_refused(org_a, survey_a):
    organization, user = org_a
    mailing_list, (contact,) = sms_list(organization, [""])
    with pytest.raises(DistributionError, match="no valid mobile number"):
        actions.create_distribution(
            organization, survey_a, owner=user, channel="sms", contact=contact, text_body=TEXT
        )
    with pytest.raises(DistributionError, match="empty"):
        actions.create_distribution(
            organization, survey_a, owner=user, channel="sms", mailing_list=mailing_list
        )


def test_sms_settings_page_saves_encrypted_and_shows_the_webhooks(org_a, org_b, settings):
    settings.CLOSELOOP_BASE_URL = BASE
    organization, user = org_a
    client = Client()
    client.force_login(user)
    page = client.get("/distributions/sms-settings/")
    assert page.status_code == 200
    assert b"Not configured: SMS go to the outbox" in page.content
    assert f"{BASE}/t/twilio/inbound".encode() in page.content
    bad = client.post(
        "/distributions/sms-settings/",
        {"account_sid": "AC" + "1" * 32, "auth_token": "secret-token-1"},
    )
    assert b"Give a messaging service SID or a from number." in bad.content
    assert not TwilioSettings.objects.exists()
    saved = client.post(
        "/distributions/sms-settings/",
        {
            "account_sid": "AC" + "1" * 32,
            "auth_token": "secret-token-1",
            "from_number": "+14155550000",
        },
    )
    assert saved.status_code == 302
    stored = TwilioSettings.objects.get(organization=organization)
    assert stored.auth_token == "secret-token-1"
    assert "secret-token-1" not in stored.auth_token_secret
    page = client.get("/distributions/sms-settings/")
    assert b"secret-token-1" not in page.content
    assert b"Twilio connected" in page.content
    _other, other_user = org_b
    client.force_login(other_user)
    assert b"Not configured" in client.get("/distributions/sms-settings/").content


def test_sms_history_shows_segments_and_cost(org_a, survey_a, twilio_org, fake_twilio):
    _organization, user = org_a
    mailing_list, _contacts = sms_list(twilio_org, ["+14155552671"])
    distribution = actions.create_distribution(
        twilio_org, survey_a, owner=user, channel="sms", mailing_list=mailing_list, text_body=TEXT
    )
    helpers.run_jobs()
    client = Client()
    client.force_login(user)
    page = client.get(f"/distributions/{distribution.public_id}/").content.decode()
    assert "+14155552671" in page
    assert '<td class="sms-segments">1</td>' in page
    assert '<td class="sms-cost">-0.00790 USD</td>' in page
    csv_text = b"".join(
        client.get(f"/distributions/{distribution.public_id}/history.csv").streaming_content
    ).decode()
    header, row = csv_text.splitlines()[:2]
    assert header.endswith("phone,smsSegments,smsCost")
    assert row.endswith("+14155552671,1,-0.00790 USD")


def test_api_v3_creates_sms_distributions(org_a, survey_a, twilio_org, fake_twilio):
    from closeloop.accounts import actions as accounts_actions

    token = accounts_actions.create_api_token(*org_a, "tests")[1]
    mailing_list, _contacts = sms_list(twilio_org, ["+14155552671"])
    client = Client()
    created = client.post(
        "/API/v3/distributions/sms",
        {
            "method": "Invite",
            "surveyId": survey_a.public_id,
            "message": {"messageText": TEXT},
            "recipients": {"mailingListId": mailing_list.public_id},
        },
        content_type="application/json",
        headers={"X-API-TOKEN": token},
    )
    assert created.status_code == 200, created.content
    assert created.json()["result"]["id"].startswith("EMD_")
    helpers.run_jobs()
    assert [m["to"] for m in fake_twilio.messages] == ["+14155552671"]
    refused = client.post(
        "/API/v3/distributions/sms",
        {
            "method": "Interactive",
            "surveyId": survey_a.public_id,
            "recipients": {"mailingListId": mailing_list.public_id},
            "sendDate": "tomorrow",
        },
        content_type="application/json",
        headers={"X-API-TOKEN": token},
    )
    assert refused.status_code == 400
    assert "Invalid sendDate" in refused.json()["meta"]["error"]["errorMessage"]


def test_create_an_sms_distribution_from_the_form(org_a, survey_a):
    from closeloop.outbox.models import OutboxMessage

    organization, user = org_a
    mailing_list, _contacts = sms_list(organization, ["+14155552671", ""])
    client = Client()
    client.force_login(user)
    form = {
        "survey": survey_a.public_id,
        "mailing_list": mailing_list.public_id,
        "channel": "sms",
        "subject": "",
        "text_body": TEXT,
        "when": "now",
    }
    response = client.post("/distributions/new/", form)
    assert response.status_code == 302, response.content.decode()[-2000:]
    helpers.run_jobs()
    (sms,) = OutboxMessage.objects.filter(organization=organization, channel="sms")
    assert sms.recipients == "+14155552671"
    page = client.get(response.url).content.decode()
    assert "no valid mobile number" in page and "Mobile number" in page
