"""The SMS channel: what an SMS may contain, and the send path of an SMS chunk, sent exactly once
with the same discipline as email (see closeloop.distributions.sending): claim a batch
(Sending, committed) → hand each message to the organization's SMS backend
(closeloop.distributions.extensions.sms_backend_for) → record the results in one transaction.

What a failed hand-over means is the backend's to say (its classify_error, see extensions):
- refused: the provider answered that it will not send it (an HTTP error reply): certainly not
  sent, Failure with the provider's message;
- retry: certainly not sent (the connection could not be made, the provider is throttling or
  failing): back to Pending, the job retries later;
- anything else (a timeout after the request left, a lost reply, a backend that cannot tell):
  ambiguous, Failure, never sent again automatically.

A two-way SMS survey (channels/sms2way.py) is sent by this same path with its own Steps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from closeloop import piping
from closeloop.directory import frequency
from closeloop.directory.actions import log_message
from closeloop.directory.models import Channel as ContactChannel
from closeloop.directory.models import ContactMessageLog
from closeloop.distributions.checks import DistributionError, check_piped_text
from closeloop.distributions.core import (
    AMBIGUOUS,
    OptOutLinks,
    Outcome,
    SendingInterrupted,
    describe_error,
    finish_if_complete,
    list_opt_outs,
    opt_out_reason,
    record_verdicts,
    send_batch_size,
    survey_urls,
)
from closeloop.distributions.extensions import sms_backend_for
from closeloop.distributions.models import Delivery, DeliveryStatus, Distribution, Kind
from closeloop.surveys.actions import SurveyNotActive, contact_fields

log = logging.getLogger("closeloop.distributions")

MAX_SMS_TEXT = 1600  # Twilio's limit for one message body


def default_text() -> str:
    return "${m://FirstName}, how did we do? Tell us: ${l://SurveyURL} Reply STOP to opt out."


def check_sms_text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise DistributionError("The SMS message is empty: give a message text.")
    if len(text) > MAX_SMS_TEXT:
        raise DistributionError(f"An SMS message is at most {MAX_SMS_TEXT} characters.")
    check_piped_text(text, "SMS message")
    return text


class Steps:
    """What the send path does per delivery that depends on the kind of SMS distribution: an
    SMS invitation, reminder or thank-you here; a two-way survey overrides (sms2way.TwoWay)."""

    def conflict(self, distribution: Distribution, delivery: Delivery) -> str:
        """Why this delivery must not be texted now besides opt-outs and frequency rules."""
        return ""

    def body(self, distribution: Distribution, delivery: Delivery, context: dict) -> str:
        return piping.render(distribution.text_body, context, escape_html=False)

    def sent(self, distribution: Distribution, delivery: Delivery, now) -> None:
        """After the message was sent, inside the recording transaction."""


ONE_WAY = Steps()


# Checking a batch ----------------------------------------------------------------------------


def gatekeeper(distribution: Distribution, pending: list[Delivery], steps: Steps) -> dict:
    """(status, reason) for every SMS delivery that must not be sent; sets delivery.phone.

    Opt-outs apply to every message; frequency rules to invitations only (reminders and
    thank-yous neither count nor are blocked, as for email)."""
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
            why = steps.conflict(distribution, delivery)
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
    return set(
        ContactMessageLog.objects.filter(contact_id__in=contact_ids, is_reminder=False)
        .values_list("contact_id", flat=True)
        .distinct()
    )


def _frequency_rule(distribution: Distribution, contact) -> str:
    """Why a frequency rule forbids texting this contact now ("" when none does)."""
    allowed, rule = frequency.allowed_to_contact(
        contact,
        ContactChannel.SMS,
        survey_id=distribution.survey.public_id,
        mailing_list=distribution.mailing_list,
    )
    return "" if allowed else f"Frequency rule: {rule}"


# Claiming a batch ----------------------------------------------------------------------------


@dataclass
class Claimed:
    delivery: Delivery
    survey_url: str
    opt_out_url: str


def claim_batch(distribution: Distribution, chunk, claim: str, counts: dict, steps: Steps):
    """Prepare up to SEND_BATCH Pending deliveries and mark them Sending. None when none is
    left (the SMS channel sends batch by batch this way)."""
    ready = prepare_batch(distribution, chunk, counts, steps, size=send_batch_size())
    return None if ready is None else _claim(chunk, ready, claim)


def prepare_batch(distribution: Distribution, chunk, counts: dict, steps: Steps, size: int):
    """Up to `size` Pending deliveries, checked (Skipped/Blocked/Failure recorded) and with
    their links made, in one transaction. They stay Pending. None when none is left."""
    with transaction.atomic():
        pending = list(
            chunk.filter(status=DeliveryStatus.PENDING)
            .select_related("contact", "transaction")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("id")[:size]
        )
        if not pending:
            return None
        verdicts = gatekeeper(distribution, pending, steps)
        allowed = [delivery for delivery in pending if delivery.pk not in verdicts]
        try:
            urls = _survey_urls(distribution, allowed)
        except SurveyNotActive as error:
            verdicts.update(
                (delivery.pk, (DeliveryStatus.FAILURE, str(error))) for delivery in allowed
            )
            allowed, urls = [], []
        record_verdicts(verdicts)
        counts["skipped"] += len(verdicts)
        opt_out = OptOutLinks(distribution)
        return [
            Claimed(delivery, url, opt_out.url(delivery.contact))
            for delivery, url in zip(allowed, urls, strict=True)
        ]


def _claim(chunk, ready: list[Claimed], claim: str) -> list[Claimed]:
    """Mark these deliveries Sending under this attempt's claim and return those that were
    still Pending. The caller commits before sending."""
    wanted = {claimed.delivery.pk: claimed for claimed in ready}
    now = timezone.now()
    changed = chunk.filter(pk__in=wanted, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.SENDING,
        claim=claim,
        sending_at=now,
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    if changed == len(wanted):
        ids = sorted(wanted)
    else:  # another attempt took some meanwhile (its lease ran out while it was still alive)
        mine = chunk.filter(pk__in=wanted, status=DeliveryStatus.SENDING, claim=claim)
        ids = sorted(mine.values_list("id", flat=True))
    claimed = [wanted[pk] for pk in ids]
    for item in claimed:
        item.delivery.status, item.delivery.claim = DeliveryStatus.SENDING, claim
    return claimed


def _survey_urls(distribution: Distribution, deliveries: list[Delivery]) -> list[str]:
    """core.survey_urls for Delivery instances; the links made now are saved on them at once."""
    urls, made = survey_urls(
        distribution,
        deliveries,
        lambda new: [(d.contact, d.public_id, d.transaction) for d in new],
    )
    new = [delivery for delivery in deliveries if delivery.id in made]
    for delivery in new:
        delivery.link, delivery.link_secret = made[delivery.id]
    if new:
        _save_links(new)
    return urls


def _save_links(deliveries: list[Delivery]) -> None:
    """The new links of a batch in one UPDATE … FROM (VALUES …) (PostgreSQL, SQLite ≥ 3.33):
    bulk_update's CASE expressions cost more to build than the statement, and one UPDATE per
    row costs a round trip each. The rows are locked (select_for_update): nobody else made a
    link meanwhile."""
    meta = Delivery._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    link, secret = quote(meta.get_field("link").column), quote(meta.get_field("link_secret").column)
    rows = ", ".join(["(%s, %s, %s)"] * len(deliveries))
    sql = (
        f"UPDATE {table} SET {link} = v.column2, {secret} = v.column3 "
        f"FROM (VALUES {rows}) AS v WHERE {table}.{quote(meta.pk.column)} = v.column1"
    )
    params = [value for d in deliveries for value in (d.pk, d.link_id, d.link_secret)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# Sending -------------------------------------------------------------------------------------


def piped_context(distribution: Distribution, claimed: Claimed) -> dict:
    """The piped-text context of a delivery's message."""
    delivery = claimed.delivery
    contact = delivery.contact
    embedded = dict(contact.embedded_data or {})
    if delivery.transaction is not None:
        embedded.update(delivery.transaction.data or {})
    links = {
        "SurveyLink": claimed.survey_url,
        "SurveyURL": claimed.survey_url,
        "OptOutLink": claimed.opt_out_url,
        "OptOutURL": claimed.opt_out_url,
    }
    embedded.update(distribution.embedded_data or {})
    return {"m": contact_fields(contact), "e": embedded, "l": links}


def send_chunk(distribution: Distribution, chunk, claim: str, steps: Steps = ONE_WAY) -> dict:
    """Send the Pending deliveries of a chunk. Raises SendingInterrupted when the job should be
    retried later; returns counts otherwise."""
    counts = {"sent": 0, "skipped": 0, "failed": 0}
    backend = sms_backend_for(distribution.organization)
    classify = getattr(backend, "classify_error", None)
    while True:
        batch = claim_batch(distribution, chunk, claim, counts, steps)
        if batch is None:
            break
        outcome = Outcome()
        results = {}
        for position, claimed in enumerate(batch):
            context = piped_context(distribution, claimed)
            body = steps.body(distribution, claimed.delivery, context)
            try:
                result = backend.send(
                    organization=distribution.organization, to=claimed.delivery.phone, body=body
                )
            except Exception as error:
                verdict = classify(error) if classify is not None else "ambiguous"
                why = describe_error(error)
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
        _record(distribution, outcome, results, steps)
        counts["sent"] += len(outcome.sent)
        counts["failed"] += len(outcome.final)
        if outcome.interrupted:
            raise SendingInterrupted(outcome.interrupted)
    finish_if_complete(distribution)
    return counts


def _record(distribution: Distribution, outcome: Outcome, results: dict, steps: Steps) -> None:
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
            steps.sent(distribution, claimed.delivery, now)
        for claimed, status, why in outcome.final:
            Delivery.objects.filter(pk=claimed.delivery.pk).update(
                status=status, reason=why[:500], error=why, updated_at=now
            )
        for claimed, why in outcome.released:
            Delivery.objects.filter(pk=claimed.delivery.pk, status=DeliveryStatus.SENDING).update(
                status=DeliveryStatus.PENDING, claim="", error=why, updated_at=now
            )
