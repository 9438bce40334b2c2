"""Twilio's signed webhooks: message status callbacks and inbound messages.

Each request names its AccountSid; the organization is the one whose Twilio settings carry that
account and whose auth token validates the X-Twilio-Signature (RequestValidator over the URL
Twilio called and the POST parameters). Unsigned or forged requests get 403 and change nothing.
"""

from __future__ import annotations

import logging
from xml.sax.saxutils import escape

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from closeloop.distributions.models import TwilioSettings
from closeloop.integrations.twilio import actions

log = logging.getLogger("closeloop.integrations.twilio")


def status_url() -> str:
    return settings.CLOSELOOP_BASE_URL.rstrip("/") + reverse("tracking:twilio-status")


def inbound_url() -> str:
    return settings.CLOSELOOP_BASE_URL.rstrip("/") + reverse("tracking:twilio-inbound")


def _urls(request) -> list[str]:
    """The URLs Twilio may have signed: the configured public base URL, and the one we saw."""
    urls = [settings.CLOSELOOP_BASE_URL.rstrip("/") + request.get_full_path()]
    seen = request.build_absolute_uri()
    if seen not in urls:
        urls.append(seen)
    return urls


def authenticate(request):
    """The TwilioSettings whose auth token signed this request, or None."""
    signature = request.headers.get("X-Twilio-Signature", "")
    account_sid = request.POST.get("AccountSid", "")
    if not signature or not account_sid:
        return None
    params = {key: request.POST.get(key) for key in request.POST}
    for candidate in TwilioSettings.objects.filter(account_sid=account_sid).select_related(
        "organization"
    ):
        validator = RequestValidator(candidate.auth_token)
        if any(validator.validate(url, params, signature) for url in _urls(request)):
            return candidate
    return None


def twiml(text: str = "") -> HttpResponse:
    body = "<Response>"
    if text:
        body += f"<Message>{escape(text)}</Message>"
    body += "</Response>"
    return HttpResponse(
        '<?xml version="1.0" encoding="UTF-8"?>' + body, content_type="application/xml"
    )


@csrf_exempt
@require_POST
def status_callback(request):
    found = authenticate(request)
    if found is None:
        return HttpResponseForbidden("Invalid Twilio signature.")
    actions.record_status(
        found.organization,
        request.POST.get("MessageSid", ""),
        request.POST.get("MessageStatus", ""),
        error_code=request.POST.get("ErrorCode", ""),
        price=request.POST.get("Price", ""),
        price_unit=request.POST.get("PriceUnit", ""),
    )
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def inbound(request):
    found = authenticate(request)
    if found is None:
        return HttpResponseForbidden("Invalid Twilio signature.")
    reply = actions.handle_inbound(
        found.organization,
        sender=request.POST.get("From", ""),
        body=request.POST.get("Body", ""),
        help_text=found.help_text,
    )
    return twiml(reply)
