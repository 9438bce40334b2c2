"""Sending SMS through Twilio's REST API with the organization's own account.

`configured_backend(organization)` returns a TwilioSmsBackend when the organization configured
Twilio (closeloop.distributions.models.TwilioSettings), else None: apps.py registers it as an
SMS provider of distributions (closeloop.distributions.extensions), whose sms_backend_for falls
back to the project's CLOSELOOP_SMS_BACKEND (the Outbox by default). The backend answers
`send(organization=, to=, body=, sender=)` with an SmsResult, asks Twilio to call back with the
message's statuses (webhooks.status_callback) and says what a failed send means
(classify_error).

settings.CLOSELOOP_TWILIO_API_BASE_URL (default https://api.twilio.com) points the client at
another server: tests use the fake Twilio in tests/fakes/twilio.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from twilio.base.exceptions import TwilioRestException

from closeloop.distributions.models import TwilioSettings
from closeloop.integrations.twilio.webhooks import status_url
from closeloop.outbox.backends import SmsResult
from closeloop.outbox.segments import count_segments

DEFAULT_API_BASE_URL = "https://api.twilio.com"


@dataclass
class TwilioSmsResult(SmsResult):
    price: str = ""


class TwilioSmsBackend:
    def __init__(self, twilio_settings):
        self.settings = twilio_settings
        self.status_callback = status_url()  # reverse() once, not once per message

    def client(self):
        # twilio.rest (with requests) loads when the first message leaves: ~100 ms at start-up.
        from twilio.rest import Client

        client = Client(self.settings.account_sid, self.settings.auth_token)
        client.api.base_url = api_base_url()
        return client

    def send(
        self, *, organization, to: str, body: str, sender: str = "", status_callback: str = ""
    ) -> TwilioSmsResult:
        """Raises twilio.base.exceptions.TwilioRestException when Twilio refuses the message
        (an HTTP error reply), requests' exceptions when the connection fails."""
        kwargs = {"to": to, "body": body}
        if sender:
            kwargs["from_"] = sender
        elif self.settings.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.settings.messaging_service_sid
        else:
            kwargs["from_"] = self.settings.from_number
        kwargs["status_callback"] = status_callback or self.status_callback
        message = self.client().messages.create(**kwargs)
        price = ""
        if message.price:
            price = f"{message.price} {message.price_unit or ''}".strip()
        segments = int(message.num_segments or 0) or count_segments(body)
        return TwilioSmsResult(
            sid=message.sid, status=message.status or "queued", segments=segments, price=price
        )

    def classify_error(self, error: Exception) -> str:
        """refused (certainly not sent, final), retry (certainly not sent) or ambiguous."""
        # requests is loaded already: the client that raised uses it.
        import requests

        if isinstance(error, TwilioRestException):
            if error.status == 429 or error.status >= 500:
                return "retry"
            return "refused"
        if isinstance(error, requests.exceptions.ConnectionError) and not isinstance(
            error, requests.exceptions.ReadTimeout
        ):
            return "retry"
        return "ambiguous"


def api_base_url() -> str:
    return getattr(settings, "CLOSELOOP_TWILIO_API_BASE_URL", "") or DEFAULT_API_BASE_URL


def settings_for(organization):
    return TwilioSettings.objects.filter(organization=organization).first()


def configured_backend(organization) -> TwilioSmsBackend | None:
    """The organization's Twilio account as an SMS backend, if it configured one."""
    found = settings_for(organization)
    return TwilioSmsBackend(found) if found is not None else None


def is_twilio(backend) -> bool:
    return isinstance(backend, TwilioSmsBackend)
