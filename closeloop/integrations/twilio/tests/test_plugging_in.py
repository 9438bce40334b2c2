"""How Twilio plugs into distributions: the SMS provider it registers, the pages and webhooks it
adds under distributions' URL names, and what a failed send means."""

from __future__ import annotations

import requests
from django.urls import reverse
from twilio.base.exceptions import TwilioRestException

from closeloop.distributions.extensions import sms_backend_for
from closeloop.integrations.twilio import actions
from closeloop.integrations.twilio.backend import TwilioSmsBackend, is_twilio
from closeloop.outbox.backends import OutboxSmsBackend

ACCOUNT_SID = "AC" + "0" * 32


def test_an_organization_with_a_twilio_account_sends_through_it(org_a, settings):
    settings.CLOSELOOP_BASE_URL = "https://closeloop.example"
    organization, _user = org_a
    assert isinstance(sms_backend_for(organization), OutboxSmsBackend)
    actions.save_settings(
        organization, account_sid=ACCOUNT_SID, auth_token="secret", from_number="+15005550006"
    )
    backend = sms_backend_for(organization)
    assert is_twilio(backend)
    assert backend.status_callback == "https://closeloop.example/t/twilio/status"
    actions.delete_settings(organization)
    assert not is_twilio(sms_backend_for(organization))


def test_the_pages_and_webhooks_keep_their_url_names():
    assert reverse("distributions:sms-settings") == "/distributions/sms-settings/"
    assert reverse("distributions:sms-simulator") == "/distributions/sms-simulator/"
    assert reverse("tracking:twilio-status") == "/t/twilio/status"
    assert reverse("tracking:twilio-inbound") == "/t/twilio/inbound"


def test_what_a_failed_send_means():
    backend = TwilioSmsBackend(twilio_settings=None)  # classify_error reads no setting
    refused = TwilioRestException(400, "https://api.twilio.com", "invalid number", code=21211)
    throttled = TwilioRestException(429, "https://api.twilio.com", "too many requests")
    assert backend.classify_error(refused) == "refused"
    assert backend.classify_error(throttled) == "retry"
    assert backend.classify_error(requests.exceptions.ConnectionError("refused")) == "retry"
    assert backend.classify_error(requests.exceptions.ReadTimeout("no reply")) == "ambiguous"
    assert backend.classify_error(RuntimeError("lost")) == "ambiguous"
