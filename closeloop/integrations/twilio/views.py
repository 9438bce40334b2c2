"""Twilio's pages: the organization's Twilio account (SMS settings) and the SMS simulator.

They are served among the distributions pages, under their names there
(distributions:sms-settings, distributions:sms-simulator; see urls.py).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render

from closeloop.accounts.middleware import organization_or_404
from closeloop.distributions.extensions import sms_backend_for
from closeloop.integrations.twilio import actions
from closeloop.integrations.twilio.backend import is_twilio, settings_for
from closeloop.integrations.twilio.forms import TwilioSettingsForm
from closeloop.integrations.twilio.webhooks import inbound_url, status_url
from closeloop.outbox import actions as outbox_actions
from closeloop.outbox.models import Channel as OutboxChannel
from closeloop.outbox.models import OutboxMessage


@login_required
def sms_settings(request):
    """The organization's Twilio account (administrators only: it holds a secret)."""
    organization = organization_or_404(request)
    if not (request.membership and request.membership.can_administer):
        raise Http404("Only administrators can change SMS settings.")
    current = settings_for(organization)
    initial = {}
    if current is not None:
        initial = {
            "account_sid": current.account_sid,
            "messaging_service_sid": current.messaging_service_sid,
            "from_number": current.from_number,
            "help_text": current.help_text,
        }
    form = TwilioSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and "delete" in request.POST:
        actions.delete_settings(organization)
        messages.success(request, "Twilio is disconnected: SMS go to the outbox.")
        return redirect("distributions:sms-settings")
    if request.method == "POST" and form.is_valid():
        try:
            actions.save_settings(organization, **form.cleaned_data)
        except actions.TwilioSettingsError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "Twilio settings saved.")
            return redirect("distributions:sms-settings")
    context = {
        "form": form,
        "current": current,
        "status_url": status_url(),
        "inbound_url": inbound_url(),
        "active": "distributions",
    }
    return render(request, "twilio/sms_settings.html", context)


SIMULATOR_NUMBER = "+15005550006"  # the organization's side of the conversation


@login_required
def sms_simulator(request):
    """Play the respondent of SMS invitations and two-way SMS surveys locally: messages go to
    and come from the outbox while the organization has no Twilio account configured."""
    organization = organization_or_404(request)
    backend = sms_backend_for(organization)
    enabled = not is_twilio(backend)
    phone = (request.POST.get("phone") or request.GET.get("phone") or "").strip()
    if phone.isdigit():  # a "+" left unencoded in a query string arrives as a space
        phone = "+" + phone
    error = ""
    if request.method == "POST" and enabled:
        body = (request.POST.get("body") or "").strip()
        if not (phone.startswith("+") and phone[1:].isdigit() and 8 <= len(phone) <= 16):
            error = "Give the respondent's number in E.164 form, e.g. +14155552671."
        elif not body:
            error = "Type the reply to send."
        else:
            outbox_actions.store_sms(
                organization=organization,
                to=SIMULATOR_NUMBER,
                body=body,
                sender=phone,
                inbound=True,
            )
            reply = actions.handle_inbound(organization, sender=phone, body=body)
            if reply:
                backend.send(
                    organization=organization, to=phone, body=reply, sender=SIMULATOR_NUMBER
                )
            return redirect(f"{request.path}?{urlencode({'phone': phone})}")
    conversation = []
    if phone:
        conversation = list(
            OutboxMessage.objects.filter(organization=organization, channel=OutboxChannel.SMS)
            .filter(Q(recipients=phone) | Q(sender=phone))
            .order_by("created_at", "id")[:200]
        )
    numbers = list(
        OutboxMessage.objects.filter(organization=organization, channel=OutboxChannel.SMS)
        .exclude(recipients=SIMULATOR_NUMBER)
        .order_by()
        .values_list("recipients", flat=True)
        .distinct()[:100]
    )
    context = {
        "enabled": enabled,
        "phone": phone,
        "numbers": sorted(numbers),
        "conversation": conversation,
        "error": error,
        "active": "distributions",
    }
    return render(request, "twilio/sms_simulator.html", context)
