"""Writes for the Twilio integration: settings, message statuses, inbound keywords."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from closeloop.directory.actions import resubscribe_contact, unsubscribe_contact
from closeloop.directory.models import Contact, Directory
from closeloop.distributions.channels import sms2way
from closeloop.distributions.models import STATUS_RANK, Delivery, DeliveryStatus, TwilioSettings
from closeloop.distributions.secrets import encrypt

log = logging.getLogger("closeloop.integrations.twilio")

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
HELP_WORDS = {"HELP", "INFO"}
START_WORDS = {"START", "YES", "UNSTOP"}
ANSWERABLE_START_WORDS = {"YES"}
DEFAULT_HELP = "Reply STOP to stop receiving messages from {name}."
STOP_REPLY = "You are unsubscribed from {name} messages. No more messages will be sent."
START_REPLY = "You are resubscribed to {name} messages. Reply STOP to unsubscribe."


class TwilioSettingsError(ValueError):
    pass


def save_settings(
    organization,
    *,
    account_sid: str,
    auth_token: str = "",
    messaging_service_sid: str = "",
    from_number: str = "",
    help_text: str = "",
):
    """Create or update the organization's Twilio settings. An empty auth_token keeps the
    stored one."""
    account_sid = (account_sid or "").strip()
    messaging_service_sid = (messaging_service_sid or "").strip()
    from_number = (from_number or "").strip()
    if not (account_sid.startswith("AC") and len(account_sid) == 34):
        raise TwilioSettingsError("The account SID starts with AC and has 34 characters.")
    if messaging_service_sid and not (
        messaging_service_sid.startswith("MG") and len(messaging_service_sid) == 34
    ):
        raise TwilioSettingsError("A messaging service SID starts with MG and has 34 characters.")
    if from_number and not (from_number.startswith("+") and from_number[1:].isdigit()):
        raise TwilioSettingsError("The from number must be in E.164 form, e.g. +15551234567.")
    if not messaging_service_sid and not from_number:
        raise TwilioSettingsError("Give a messaging service SID or a from number.")
    existing = TwilioSettings.objects.filter(organization=organization).first()
    if not auth_token and existing is None:
        raise TwilioSettingsError("Give the auth token.")
    values = {
        "account_sid": account_sid,
        "messaging_service_sid": messaging_service_sid,
        "from_number": from_number,
        "help_text": (help_text or "").strip()[:320],
        "updated_at": timezone.now(),
    }
    if auth_token:
        values["auth_token_secret"] = encrypt(auth_token.strip())
    found, _created = TwilioSettings.objects.update_or_create(
        organization=organization, defaults=values
    )
    return found


def delete_settings(organization) -> None:
    TwilioSettings.objects.filter(organization=organization).delete()


def record_status(
    organization, sid: str, status: str, *, error_code: str = "", price: str = "", price_unit=""
) -> bool:
    """Apply a status callback to the organization's delivery with that message SID."""
    if not sid:
        return False
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update()
            .filter(organization=organization, message_id=sid)
            .first()
        )
        if delivery is None:
            return False
        changes = {"updated_at": now}
        if price:
            changes["price"] = f"{price} {price_unit}".strip()[:32]
        if status in ("undelivered", "failed"):
            rank = STATUS_RANK[DeliveryStatus(delivery.status)]
            if rank <= STATUS_RANK[DeliveryStatus.SUCCESS]:
                changes["status"] = DeliveryStatus.FAILURE
                changes["reason"] = f"Twilio: {status}" + (
                    f" (error {error_code})" if error_code else ""
                )
        elif status == "delivered" and delivery.status == DeliveryStatus.SUCCESS:
            # Twilio's "delivered" is the email world's Success; later survey statuses stay.
            changes["reason"] = "Delivered to the handset."
        Delivery.objects.filter(pk=delivery.pk).update(**changes)
    return True


def handle_inbound(organization, *, sender: str, body: str, help_text: str = "") -> str:
    """STOP / START / HELP keywords, else a two-way survey answer; returns the reply text
    (empty: no reply)."""
    word = (body or "").strip().upper()
    name = organization.name
    if word in STOP_WORDS:
        _set_subscribed(organization, sender, subscribed=False)
        sms2way.close_for_stop(organization, sender)
        log.info("SMS STOP from %s for organization %s", sender, organization.pk)
        return STOP_REPLY.format(name=name)
    if word in START_WORDS and not _answers_a_session(organization, sender, word):
        _set_subscribed(organization, sender, subscribed=True)
        log.info("SMS %s from %s for organization %s", word, sender, organization.pk)
        return START_REPLY.format(name=name)
    if word in HELP_WORDS:
        return help_text or DEFAULT_HELP.format(name=name)
    return sms2way.answer(organization, sender, body) or ""


def _answers_a_session(organization, sender: str, word: str) -> bool:
    """YES is also a plausible survey answer: while a two-way session waits for this number's
    reply, it goes to the session. START and UNSTOP are always keywords."""
    return word in ANSWERABLE_START_WORDS and sms2way.has_open_session(organization.pk, sender)


def _set_subscribed(organization, sender: str, *, subscribed: bool) -> None:
    """Opt every contact of the organization with this number out of (or back into) the
    directory; other organizations' contacts with the same number are theirs to keep."""
    change = resubscribe_contact if subscribed else unsubscribe_contact
    # Through the organization's directories: (directory, phone) is the index there is.
    contacts = Contact.objects.filter(
        organization=organization,
        directory__in=Directory.objects.filter(organization=organization),
        phone_e164=sender,
    )
    for contact in contacts:
        change(contact)
