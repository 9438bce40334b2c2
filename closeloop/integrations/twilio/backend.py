"""Sending SMS through Twilio's REST API with the organization's own account.

`backend_for(organization)` returns a TwilioSmsBackend when the organization configured Twilio
(closeloop.distributions.models.TwilioSettings), else the project's CLOSELOOP_SMS_BACKEND (the
Outbox by default). Both answer `send(organization=, to=, body=, sender=)` with an SmsResult.

settings.CLOSELOOP_TWILIO_API_BASE_URL (default https://api.twilio.com) points the client at
another server: tests use the fake Twilio in tests/fakes/twilio.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string

from closeloop.outbox.backends import SmsResult
from closeloop.outbox.segments import count_segments

DEFAULT_API_BASE_URL = "https://api.twilio.com"


@dataclass
class TwilioSmsResult(SmsResult):
    price: str = ""


class TwilioSmsBackend:
    def __init__(self, twilio_settings):
        self.settings = twilio_settings

    def client(self):
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
        if status_callback:
            kwargs["status_callback"] = status_callback
        message = self.client().messages.create(**kwargs)
        price = ""
        if message.price:
            price = f"{message.price} {message.price_unit or ''}".strip()
        segments = int(message.num_segments or 0) or count_segments(body)
        return TwilioSmsResult(
            sid=message.sid, status=message.status or "queued", segments=segments, price=price
        )


def api_base_url() -> str:
    return getattr(settings, "CLOSELOOP_TWILIO_API_BASE_URL", "") or DEFAULT_API_BASE_URL


def settings_for(organization):
    from closeloop.distributions.models import TwilioSettings

    return TwilioSettings.objects.filter(organization=organization).first()


def backend_for(organization):
    found = settings_for(organization)
    if found is not None:
        return TwilioSmsBackend(found)
    return import_string(settings.CLOSELOOP_SMS_BACKEND)()


def is_twilio(backend) -> bool:
    return isinstance(backend, TwilioSmsBackend)
