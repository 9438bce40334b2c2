"""SMS invitations, sent exactly once with the same discipline as email (see
closeloop.distributions.sending): claim a batch (Sending, committed) → hand each message to the
SMS backend → record the results in one transaction.

What a failed hand-over means:
- Twilio answered with an HTTP error (TwilioRestException): the message was refused, so it was
  certainly not sent: Failure with Twilio's message (a 429 or 5xx reply: back to Pending, the job
  retries later).
- The connection could not be made (requests' ConnectionError before anything was sent): not
  sent; back to Pending and the job retries.
- Anything else (a timeout after the request left, a lost reply): ambiguous, Failure, never
  sent again automatically.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from closeloop import piping
from closeloop.distributions.models import Channel, Delivery, DeliveryStatus, Distribution, Kind

log = logging.getLogger("closeloop.distributions")

MAX_SMS_TEXT = 1600  # Twilio's limit for one message body


def default_text() -> str:
    return "${m://FirstName}, how did we do? Tell us: ${l://SurveyURL} Reply STOP to opt out."


def check_sms_text(text: str) -> str:
    from closeloop.distributions.actions import DistributionError, _check_text

    text = (text or "").strip()
    if not text:
        raise DistributionError("The SMS message is empty: give a message text.")
    if len(text) > MAX_SMS_TEXT:
        raise DistributionError(f"An SMS message is at most {MAX_SMS_TEXT} characters.")
    _check_text(text, "SMS message")
    return text


def gatekeeper(distribution: Distribution, pending: list[Delivery]) -> dict[int, tuple]:
    """(status, reason) for every SMS delivery that must not be sent; sets delivery.phone.

    Opt-outs apply to every message; frequency rules to invitations only (reminders and
    thank-yous neither count nor are blocked, as for email)."""
    from closeloop.distributions.sending import list_opt_outs, opt_out_reason

    contact_ids = [delivery.contact_id for delivery in pending]
    opted_out_of_list = list_opt_outs(distribution, contact_ids)
    is_invite = distribution.kind == Kind.INVITE
    contacted = _contacted_before(contact_ids) if is_invite else set()
    verdicts: dict[int, tuple] = {}
    for delivery in pending:
        contact = delivery.contact
        opt_out = opt_out_reason(distribution, contact, opted_out_of_list)
        if not contact.phone_e164:
            verdicts[delivery.pk] = (
                DeliveryStatus.SKIPPED,
                "The contact has no valid mobile number (E.164).",
            )
        elif opt_out:
            verdicts[delivery.pk] = (DeliveryStatus.SKIPPED, opt_out)
        else:
            why = _two_way_conflict(distribution, delivery)
            if not why and contact.pk in contacted:
                why = _frequency_rule(distribution, contact)
            if why:
                verdicts[delivery.pk] = (DeliveryStatus.SKIPPED, why)
        if delivery.phone != contact.phone_e164:
            delivery.phone = contact.phone_e164
            Delivery.objects.filter(pk=delivery.pk).update(phone=contact.phone_e164)
    return verdicts


def _contacted_before(contact_ids: list[int]) -> set[int]:
    """Contacts with an earlier invitation on record: frequency rules can block only them."""
    from closeloop.directory.models import ContactMessageLog

    return set(
        ContactMessageLog.objects.filter(contact_id__in=contact_ids, is_reminder=False)
        .values_list("contact_id", flat=True)
        .distinct()
    )


def _frequency_rule(distribution: Distribution, contact) -> str:
    """Why a frequency rule forbids texting this contact now ("" when none does)."""
    from closeloop.directory import frequency
    from closeloop.directory.models import Channel as ContactChannel

    allowed, rule = frequency.allowed_to_contact(
        contact,
        ContactChannel.SMS,
        survey_id=distribution.survey.public_id,
        mailing_list=distribution.mailing_list,
    )
    return "" if allowed else f"Frequency rule: {rule}"


def _two_way_conflict(distribution: Distribution, delivery: Delivery) -> str:
    """A two-way invitation needs the number free of open sessions; a two-way reminder needs
    the recipient's session still open."""
    from closeloop.distributions.channels import sms2way

    if distribution.channel != Channel.SMS_TWO_WAY or distribution.kind == Kind.THANK_YOU:
        return ""
    phone = delivery.contact.phone_e164
    if distribution.kind == Kind.INVITE:
        if sms2way.has_open_session(distribution.organization_id, phone):
            return "A two-way SMS survey is already open with this number."
        return ""
    if sms2way.session_for_reminder(distribution, delivery) is None:
        return "The two-way SMS session is no longer open."
    return ""


def status_callback_url() -> str:
    return settings.CLOSELOOP_BASE_URL.rstrip("/") + reverse("tracking:twilio-status")


def send_chunk(distribution: Distribution, chunk, claim: str) -> dict:
    from closeloop.distributions.sending import (
        AMBIGUOUS,
        Outcome,
        Renderer,
        SendingInterrupted,
        _claim_batch,
        _describe,
        finish_if_complete,
    )
    from closeloop.integrations.twilio.backend import backend_for, is_twilio

    counts = {"sent": 0, "skipped": 0, "failed": 0}
    renderer = Renderer(distribution)
    backend = backend_for(distribution.organization)
    extra = {"status_callback": status_callback_url()} if is_twilio(backend) else {}
    while True:
        batch = _claim_batch(distribution, chunk, claim, counts)
        if batch is None:
            break
        outcome = Outcome()
        results = {}
        for position, claimed in enumerate(batch):
            context = renderer.context(claimed)
            body = message_body(distribution, claimed.delivery, context)
            try:
                result = backend.send(
                    organization=distribution.organization,
                    to=claimed.delivery.phone,
                    body=body,
                    **extra,
                )
            except Exception as error:
                verdict = _classify(error)
                why = _describe(error)
                if verdict == "refused":
                    outcome.final.append((claimed, DeliveryStatus.FAILURE, why))
                    continue
                if verdict == "retry":
                    outcome.released += [(item, why) for item in batch[position:]]
                else:
                    outcome.final.append((claimed, DeliveryStatus.FAILURE, f"{AMBIGUOUS} ({why})"))
                    outcome.released += [(item, why) for item in batch[position + 1 :]]
                outcome.interrupted = f"Sending stopped: {why}"
                break
            outcome.sent.append((claimed, result.sid))
            results[claimed.delivery.pk] = result
        _record(distribution, outcome, results)
        counts["sent"] += len(outcome.sent)
        counts["failed"] += len(outcome.final)
        if outcome.interrupted:
            raise SendingInterrupted(outcome.interrupted)
    finish_if_complete(distribution)
    return counts


def message_body(distribution: Distribution, delivery: Delivery, context: dict) -> str:
    """The text of one SMS: a two-way invitation adds the first question, a two-way reminder
    the question still waiting for an answer."""
    from closeloop.distributions.channels import sms2way

    if distribution.channel == Channel.SMS_TWO_WAY:
        if distribution.kind == Kind.INVITE:
            return sms2way.first_message(distribution, delivery, context)
        if distribution.kind == Kind.REMINDER:
            return sms2way.reminder_message(distribution, delivery, context)
    return piping.render(distribution.text_body, context, escape_html=False)


def _classify(error: Exception) -> str:
    """refused (certainly not sent, final), retry (certainly not sent) or ambiguous."""
    import requests
    from twilio.base.exceptions import TwilioRestException

    if isinstance(error, TwilioRestException):
        if error.status == 429 or error.status >= 500:
            return "retry"
        return "refused"
    if isinstance(error, requests.exceptions.ConnectionError) and not isinstance(
        error, requests.exceptions.ReadTimeout
    ):
        return "retry"
    return "ambiguous"


def _record(distribution: Distribution, outcome, results: dict) -> None:
    from closeloop.directory.actions import log_message
    from closeloop.directory.models import Channel as ContactChannel

    now = timezone.now()
    is_reminder = distribution.kind != Kind.INVITE
    with transaction.atomic():
        for claimed, sid in outcome.sent:
            result = results[claimed.delivery.pk]
            Delivery.objects.filter(pk=claimed.delivery.pk).update(
                status=DeliveryStatus.SUCCESS,
                message_id=sid,
                segments=result.segments,
                price=getattr(result, "price", "") or "",
                sent_at=now,
                reason="",
                error="",
                updated_at=now,
            )
            log_message(
                claimed.delivery.contact,
                ContactChannel.SMS,
                survey_id=distribution.survey.public_id,
                mailing_list=distribution.mailing_list,
                sent_at=now,
                is_reminder=is_reminder,
            )
            if distribution.channel == Channel.SMS_TWO_WAY and distribution.kind == Kind.INVITE:
                from closeloop.distributions.channels import sms2way

                sms2way.open_session(distribution, claimed.delivery, now)
        for claimed, status, why in outcome.final:
            Delivery.objects.filter(pk=claimed.delivery.pk).update(
                status=status, reason=why[:500], error=why, updated_at=now
            )
        for claimed, why in outcome.released:
            Delivery.objects.filter(pk=claimed.delivery.pk, status=DeliveryStatus.SENDING).update(
                status=DeliveryStatus.PENDING, claim="", error=why, updated_at=now
            )
