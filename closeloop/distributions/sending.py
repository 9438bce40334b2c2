"""Preparing a distribution (one Delivery per contact) and sending its email, exactly once.

How one chunk of deliveries is sent (a `distributions.send_chunk` job, atomic=False):

1. Deliveries left in Sending by an earlier attempt of this chunk (its worker was killed) are
   *ambiguous*: the SMTP server may or may not have accepted their message. They are resolved
   conservatively: marked Failure with the reason, never sent again automatically. Nobody
   gets two invitations; a person may get none, and the history says so.
2. Claim a small batch (SEND_BATCH) of Pending deliveries in one transaction: check opt-out,
   list unsubscribe, suppressed addresses and frequency rules (recording Skipped / Blocked with
   the reason), make the personal links, and mark the rest Sending with this attempt's claim.
   This commits before any SMTP traffic.
3. Send each message over one connection (Django's email backend; get_connection(), opened
   once per chunk) at the configured rate. A message the server refused (an SMTP reply) or
   that never reached the DATA command (connection refused or dropped earlier) was certainly
   not delivered: a 5xx reply is final (HardBounce for a refused recipient, else Failure), a
   4xx reply or a connection problem puts the delivery back to Pending and the job retries
   later. Only a connection lost *during* DATA is ambiguous (resolved as in 1).
4. One transaction records the batch's results: Success with its Message-ID and the message
   in the contact's message log (for frequency rules).
"""

from __future__ import annotations

import contextlib
import html
import logging
import smtplib
import time
from dataclasses import dataclass, field
from email.utils import formataddr
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from closeloop import piping
from closeloop.distributions.actions import SEND_JOB, default_sender, fail_distribution
from closeloop.distributions.models import Channel as DistributionChannel
from closeloop.distributions.models import (
    Delivery,
    DeliveryStatus,
    Distribution,
    DistributionStatus,
    Kind,
    RecipientKind,
    SuppressedAddress,
)
from closeloop.jobs.actions import enqueue
from closeloop.outbox.backends import ORGANIZATION_HEADER

log = logging.getLogger("closeloop.distributions")

CHUNK_SIZE = 500  # deliveries per send job
TRACKING_SALT = "closeloop.distributions.tracking"
AMBIGUOUS = (
    "The connection was lost while the message was being handed over (or the worker stopped): "
    "it may have arrived, so it is not sent again automatically."
)


def send_batch_size() -> int:
    return int(getattr(settings, "CLOSELOOP_DISTRIBUTION_SEND_BATCH", 10))


def rate_limit() -> float:
    """Messages per second per sending job; 0 means as fast as the server takes them."""
    return float(getattr(settings, "CLOSELOOP_DISTRIBUTION_RATE_LIMIT", 0))


def default_body() -> str:
    return (
        "Hello ${m://FirstName},\n\nWe would like to hear how we did. "
        "${l://SurveyLink?d=Take the survey}\n\n"
        "Not interested? ${l://OptOutLink?d=Unsubscribe}"
    )


class SendingInterrupted(Exception):
    """The SMTP server is unreachable or asked us to come back later; retry the job."""


# Preparation --------------------------------------------------------------------------------


def prepare(distribution: Distribution) -> int:
    """Create every Delivery (idempotent: unique per contact) and the send jobs. Runs in the
    job's transaction. Returns the number of deliveries."""
    from closeloop.surveys.actions import SurveyNotActive, require_active

    if distribution.status != DistributionStatus.SCHEDULED:
        return distribution.recipient_count
    try:
        require_active(distribution.survey)
    except SurveyNotActive as error:
        fail_distribution(distribution, f"{error} Nothing was sent.")
        return 0
    rows = list(_recipients(distribution))
    now = timezone.now()
    Delivery.objects.bulk_create(
        [
            Delivery(
                organization_id=distribution.organization_id,
                distribution=distribution,
                contact_id=contact_id,
                transaction_id=transaction_id,
                email=email,
                link_id=link_id,
                link_secret=link_secret,
                created_at=now,
                updated_at=now,
            )
            for contact_id, transaction_id, email, link_id, link_secret in rows
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )
    ids = list(
        Delivery.objects.filter(distribution=distribution)
        .order_by("id")
        .values_list("id", flat=True)
    )
    for start in range(0, len(ids), CHUNK_SIZE):
        chunk = ids[start : start + CHUNK_SIZE]
        enqueue(
            SEND_JOB,
            {"distribution": distribution.pk, "first": chunk[0], "last": chunk[-1]},
            idempotency_key=f"{SEND_JOB}:{distribution.public_id}:{chunk[0]}",
            organization=distribution.organization_id,
        )
    Distribution.objects.filter(pk=distribution.pk).update(
        status=DistributionStatus.SENDING if ids else DistributionStatus.DONE,
        recipient_count=len(ids),
        prepared_at=now,
        finished_at=None if ids else now,
    )
    return len(ids)


def _recipients(distribution: Distribution):
    """(contact id, transaction id, email, link id, link secret) per recipient."""
    from closeloop.directory.models import MailingListMembership, Transaction

    kind = distribution.recipient_kind
    if kind == RecipientKind.MAILING_LIST:
        members = MailingListMembership.objects.filter(
            mailing_list_id=distribution.mailing_list_id
        ).order_by("id")
        for contact_id, email in members.values_list("contact_id", "contact__email").iterator(
            chunk_size=2000
        ):
            yield contact_id, None, email, None, ""
    elif kind in (RecipientKind.CONTACT, RecipientKind.WORKFLOW):
        if distribution.contact is not None:
            yield distribution.contact_id, None, distribution.contact.email, None, ""
    elif kind == RecipientKind.TRANSACTION_BATCH:
        seen = set()
        found = Transaction.objects.filter(batch_id=distribution.transaction_batch_id).order_by(
            "contact_id", "-transaction_date", "-id"
        )
        for contact_id, transaction_id, email in found.values_list(
            "contact_id", "id", "contact__email"
        ):
            if contact_id not in seen:
                seen.add(contact_id)
                yield contact_id, transaction_id, email, None, ""
    elif kind == RecipientKind.PARENT:
        earlier = Delivery.objects.filter(distribution_id=distribution.parent_id)
        wanted = {
            "notStarted": earlier.filter(sent_at__isnull=False, started_at__isnull=True),
            "notFinished": earlier.filter(sent_at__isnull=False, finished_at__isnull=True),
            "finished": earlier.filter(finished_at__isnull=False),
        }[distribution.recipient_filter or "notStarted"]
        yield from wanted.order_by("id").values_list(
            "contact_id", "transaction_id", "contact__email", "link_id", "link_secret"
        )


# Sending ------------------------------------------------------------------------------------


@dataclass
class Claimed:
    delivery: Delivery
    survey_url: str
    opt_out_url: str


@dataclass
class Outcome:
    sent: list[tuple[Claimed, str]] = field(default_factory=list)  # (claimed, message id)
    final: list[tuple[Claimed, str, str]] = field(default_factory=list)  # (claimed, status, why)
    released: list[tuple[Claimed, str]] = field(default_factory=list)  # back to Pending
    interrupted: str = ""


def send_chunk(distribution_id: int, first: int, last: int, claim: str) -> dict:
    """Send the Pending deliveries of one chunk (ids first..last). Raises SendingInterrupted
    when the job should be retried later; returns counts otherwise."""
    distribution = (
        Distribution.objects.select_related("survey", "mailing_list", "organization")
        .filter(pk=distribution_id)
        .first()
    )
    if distribution is None:
        return {}
    chunk = Delivery.objects.filter(distribution_id=distribution_id, id__gte=first, id__lte=last)
    _resolve_ambiguous(chunk, claim)
    if distribution.channel != DistributionChannel.EMAIL:
        from closeloop.distributions.channels import sms

        return sms.send_chunk(distribution, chunk, claim)
    counts = {"sent": 0, "skipped": 0, "failed": 0}
    renderer = Renderer(distribution)
    connection = None
    pace = Pace(rate_limit())
    try:
        while True:
            batch = _claim_batch(distribution, chunk, claim, counts)
            if batch is None:
                break
            if not batch:
                continue
            if connection is None:
                connection = get_connection(fail_silently=False)
                try:
                    connection.open()
                except Exception as error:  # nothing was handed over
                    connection = None
                    _record(distribution, Outcome(released=[(c, _describe(error)) for c in batch]))
                    raise SendingInterrupted(f"Cannot connect: {_describe(error)}") from error
            outcome = _send_batch(connection, renderer, batch, pace)
            _record(distribution, outcome)
            counts["sent"] += len(outcome.sent)
            counts["failed"] += len(outcome.final)
            if outcome.interrupted:
                raise SendingInterrupted(outcome.interrupted)
    finally:
        if connection is not None:
            with contextlib.suppress(Exception):  # a broken connection may fail to close
                connection.close()
    finish_if_complete(distribution)
    return counts


def _resolve_ambiguous(chunk, claim: str) -> None:
    stale = chunk.filter(status=DeliveryStatus.SENDING).exclude(claim=claim)
    stale.update(
        status=DeliveryStatus.FAILURE,
        reason="Interrupted while sending; not resent (it may have arrived).",
        error=AMBIGUOUS,
        updated_at=timezone.now(),
    )


def _claim_batch(distribution: Distribution, chunk, claim: str, counts: dict):
    """Mark up to SEND_BATCH Pending deliveries Sending (or Skipped/Blocked), in one commit.
    None when none is left."""
    from closeloop.surveys.actions import SurveyNotActive

    with transaction.atomic():
        pending = list(
            chunk.filter(status=DeliveryStatus.PENDING)
            .select_related("contact", "transaction")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("id")[: send_batch_size()]
        )
        if not pending:
            return None
        now = timezone.now()
        verdicts = _gatekeeper(distribution, pending)
        claimed = []
        for delivery in pending:
            verdict = verdicts.get(delivery.pk)
            if verdict is None:
                try:
                    survey_url = _survey_url(distribution, delivery)
                except SurveyNotActive as error:
                    verdict = (DeliveryStatus.FAILURE, str(error))
            if verdict is not None:
                delivery.status, delivery.reason = verdict
                delivery.updated_at = now
                delivery.save(update_fields=["status", "reason", "updated_at"])
                counts["skipped"] += 1
                continue
            delivery.status = DeliveryStatus.SENDING
            delivery.claim = claim
            delivery.sending_at = now
            delivery.attempts += 1
            delivery.updated_at = now
            delivery.save(
                update_fields=[
                    "status",
                    "claim",
                    "sending_at",
                    "attempts",
                    "updated_at",
                ]
            )
            claimed.append(Claimed(delivery, survey_url, _opt_out_url(distribution, delivery)))
        return claimed


def _gatekeeper(distribution: Distribution, pending: list[Delivery]) -> dict[int, tuple]:
    """(status, reason) for every delivery that must not be sent."""
    from closeloop.directory import frequency
    from closeloop.directory.models import Channel, ContactMessageLog

    if distribution.channel != DistributionChannel.EMAIL:
        from closeloop.distributions.channels import sms

        return sms.gatekeeper(distribution, pending)
    verdicts: dict[int, tuple] = {}
    contact_ids = [delivery.contact_id for delivery in pending]
    opted_out_of_list = list_opt_outs(distribution, contact_ids)
    addresses = {delivery.contact.email_normalized for delivery in pending}
    suppressed = dict(
        SuppressedAddress.objects.filter(
            organization_id=distribution.organization_id, email__in=addresses
        ).values_list("email", "reason")
    )
    is_reminder = distribution.kind != Kind.INVITE
    # Frequency rules only ever block a contact who was sent something before: ask the rules
    # about those contacts only.
    contacted = set(
        ContactMessageLog.objects.filter(contact_id__in=contact_ids, is_reminder=False)
        .values_list("contact_id", flat=True)
        .distinct()
    )
    for delivery in pending:
        contact = delivery.contact
        opt_out = opt_out_reason(distribution, contact, opted_out_of_list)
        if not contact.email_normalized:
            verdicts[delivery.pk] = (DeliveryStatus.SKIPPED, "The contact has no email address.")
        elif opt_out:
            verdicts[delivery.pk] = (DeliveryStatus.SKIPPED, opt_out)
        elif contact.email_normalized in suppressed:
            verdicts[delivery.pk] = (
                DeliveryStatus.BLOCKED,
                f"The address is blocked: {suppressed[contact.email_normalized]}",
            )
        elif contact.pk in contacted and not is_reminder:
            allowed, rule = frequency.allowed_to_contact(
                contact,
                Channel.EMAIL,
                survey_id=distribution.survey.public_id,
                mailing_list=distribution.mailing_list,
                is_reminder=is_reminder,
            )
            if not allowed:
                verdicts[delivery.pk] = (DeliveryStatus.SKIPPED, f"Frequency rule: {rule}")
        if delivery.email != contact.email and delivery.pk not in verdicts:
            delivery.email = contact.email
            Delivery.objects.filter(pk=delivery.pk).update(email=contact.email)
    return verdicts


def list_opt_outs(distribution: Distribution, contact_ids: list[int]) -> set[int]:
    """Those of these contacts who unsubscribed from the distribution's mailing list."""
    from closeloop.directory.models import MailingListMembership

    if not distribution.mailing_list_id:
        return set()
    return set(
        MailingListMembership.objects.filter(
            mailing_list_id=distribution.mailing_list_id,
            contact_id__in=contact_ids,
            unsubscribed=True,
        ).values_list("contact_id", flat=True)
    )


def opt_out_reason(distribution: Distribution, contact, opted_out_of_list: set[int]) -> str:
    """Why an opted-out contact is skipped, on any channel; "" when they have not opted out."""
    if contact.unsubscribed:
        return "Opted out: the contact is unsubscribed from the directory."
    if contact.pk in opted_out_of_list:
        return f"Opted out: unsubscribed from the mailing list {distribution.mailing_list.name}."
    return ""


def _survey_url(distribution: Distribution, delivery: Delivery) -> str:
    from closeloop.distributions.actions import DistributionError, links_for
    from closeloop.surveys.actions import SurveyNotActive

    try:
        ((_delivery, url),) = links_for(distribution, [delivery])
    except DistributionError as error:
        raise SurveyNotActive(str(error)) from None
    return url


def _opt_out_url(distribution: Distribution, delivery: Delivery) -> str:
    from closeloop.directory.actions import opt_out_url

    return opt_out_url(delivery.contact, distribution.mailing_list)


def tracking_token(delivery_public_id: str) -> str:
    return signing.Signer(salt=TRACKING_SALT).sign(delivery_public_id)


def read_tracking_token(token: str) -> str | None:
    try:
        return signing.Signer(salt=TRACKING_SALT).unsign(token)
    except signing.BadSignature:
        return None


def _absolute(path: str) -> str:
    return settings.CLOSELOOP_BASE_URL.rstrip("/") + path


class Renderer:
    """Builds the email of one delivery: piped text, HTML and text parts, headers."""

    def __init__(self, distribution: Distribution):
        self.distribution = distribution
        name, address = default_sender()
        self.from_address = distribution.from_email or address
        self.from_header = formataddr((distribution.from_name or name, self.from_address))
        self.reply_to = [distribution.reply_to] if distribution.reply_to else []
        self.domain = self.from_address.rsplit("@", 1)[-1] or (
            urlsplit(settings.CLOSELOOP_BASE_URL).hostname or "localhost"
        )
        self.html_template = distribution.html_body
        self.text_template = distribution.text_body

    def context(self, claimed: Claimed) -> dict:
        from closeloop.surveys.actions import contact_fields

        delivery = claimed.delivery
        contact = delivery.contact
        embedded = dict(contact.embedded_data or {})
        if delivery.transaction is not None:
            embedded.update(delivery.transaction.data or {})
        embedded.update(self.distribution.embedded_data or {})
        return {
            "m": contact_fields(contact),
            "e": embedded,
            "l": {
                "SurveyLink": claimed.survey_url,
                "SurveyURL": claimed.survey_url,
                "OptOutLink": claimed.opt_out_url,
                "OptOutURL": claimed.opt_out_url,
            },
        }

    def build(self, claimed: Claimed, connection) -> tuple[EmailMultiAlternatives, str]:
        delivery = claimed.delivery
        context = self.context(claimed)
        subject = piping.render(self.distribution.subject, context, escape_html=False)
        subject = " ".join(subject.split())
        if self.html_template:
            html_body = piping.render(self.html_template, context, escape_html=True)
        else:
            text = piping.render(self.text_template, context, escape_html=True, escape_text=True)
            html_body = "<p>" + text.replace("\n\n", "</p><p>").replace("\n", "<br>") + "</p>"
        if self.text_template:
            text_body = piping.render(self.text_template, context, escape_html=False)
        else:
            text_body = html.unescape(
                strip_tags(piping.render(self.html_template, context, escape_html=False))
            )
        token = tracking_token(delivery.public_id)
        pixel = _absolute(reverse("tracking:open", args=[token]))
        html_body += f'<img src="{html.escape(pixel)}" width="1" height="1" alt="">'
        unsubscribe = _absolute(reverse("tracking:unsubscribe", args=[token]))
        message_id = f"<{delivery.public_id}.{self.distribution.public_id}@{self.domain}>"
        message = EmailMultiAlternatives(
            subject=subject,
            body=text_body,
            from_email=self.from_header,
            to=[delivery.email],
            reply_to=self.reply_to,
            connection=connection,
            headers={
                "Message-ID": message_id,
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                ORGANIZATION_HEADER: str(self.distribution.organization_id),
                "X-Closeloop-Distribution": self.distribution.public_id,
            },
        )
        message.attach_alternative(html_body, "text/html")
        # Read by django-anymail backends only: providers echo it in their webhooks.
        message.metadata = {"closeloop_delivery": delivery.public_id}
        return message, message_id


class Pace:
    """At most `per_second` messages a second (0: no limit)."""

    def __init__(self, per_second: float):
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.next_at = time.monotonic()

    def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if now < self.next_at:
            time.sleep(self.next_at - now)
        self.next_at = max(now, self.next_at) + self.interval


class _DataWatch:
    """Wraps an smtplib connection's data() (once per connection) to know whether DATA began
    for the current message: after that, a lost connection leaves the message's fate unknown."""

    def __init__(self, smtp):
        self.started = False
        original = smtp.data

        def data(msg):
            self.started = True
            return original(msg)

        smtp.data = data

    @classmethod
    def of(cls, connection) -> _DataWatch | None:
        smtp = getattr(connection, "connection", None)
        if not isinstance(smtp, smtplib.SMTP):
            return None
        watch = getattr(smtp, "_closeloop_watch", None)
        if watch is None:
            watch = cls(smtp)
            smtp._closeloop_watch = watch
        watch.started = False
        return watch


def _send_batch(connection, renderer: Renderer, batch: list[Claimed], pace: Pace) -> Outcome:
    outcome = Outcome()
    for position, claimed in enumerate(batch):
        message, message_id = renderer.build(claimed, connection)
        watch = _DataWatch.of(connection)
        pace.wait()
        try:
            sent = connection.send_messages([message])
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = next(iter(error.recipients.values()))
            if 500 <= code < 600:
                why = f"{code} {_text(reply)}"
                outcome.final.append((claimed, DeliveryStatus.HARD_BOUNCE, why))
            else:
                outcome.released.append((claimed, f"{code} {_text(reply)}"))
            continue
        except smtplib.SMTPResponseException as error:
            why = f"{error.smtp_code} {_text(error.smtp_error)}"
            if 500 <= error.smtp_code < 600:
                outcome.final.append((claimed, DeliveryStatus.FAILURE, why))
                continue
            # A 4xx reply: not accepted, try again later (the server may be throttling us).
            outcome.released += [(item, why) for item in batch[position:]]
            outcome.interrupted = f"The server asked us to retry later: {why}"
            return outcome
        except Exception as error:  # connection lost, or a provider error
            why = _describe(error)
            if watch is not None and not watch.started:
                outcome.released += [(item, why) for item in batch[position:]]
            else:
                outcome.final.append((claimed, DeliveryStatus.FAILURE, f"{AMBIGUOUS} ({why})"))
                outcome.released += [(item, why) for item in batch[position + 1 :]]
            outcome.interrupted = f"Sending stopped: {why}"
            return outcome
        if sent:
            outcome.sent.append((claimed, message_id))
        else:
            outcome.final.append((claimed, DeliveryStatus.FAILURE, "The backend refused it."))
    return outcome


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _describe(error: Exception) -> str:
    return f"{error.__class__.__name__}: {error}"[:1000]


def _record(distribution: Distribution, outcome: Outcome) -> None:
    from closeloop.directory.actions import log_message
    from closeloop.directory.models import Channel

    now = timezone.now()
    is_reminder = distribution.kind != Kind.INVITE
    with transaction.atomic():
        for claimed, message_id in outcome.sent:
            Delivery.objects.filter(pk=claimed.delivery.pk).update(
                status=DeliveryStatus.SUCCESS,
                message_id=message_id,
                sent_at=now,
                reason="",
                error="",
                updated_at=now,
            )
            log_message(
                claimed.delivery.contact,
                Channel.EMAIL,
                survey_id=distribution.survey.public_id,
                mailing_list=distribution.mailing_list,
                sent_at=now,
                is_reminder=is_reminder,
            )
        for claimed, status, why in outcome.final:
            changes = {"status": status, "reason": why[:500], "error": why, "updated_at": now}
            if status == DeliveryStatus.HARD_BOUNCE:
                changes["bounced_at"] = now
                from closeloop.distributions.actions import suppress_address

                suppress_address(
                    distribution.organization_id,
                    claimed.delivery.contact.email_normalized,
                    f"hard bounce: {why}"[:300],
                )
            Delivery.objects.filter(pk=claimed.delivery.pk).update(**changes)
        for claimed, why in outcome.released:
            Delivery.objects.filter(pk=claimed.delivery.pk, status=DeliveryStatus.SENDING).update(
                status=DeliveryStatus.PENDING, claim="", error=why, updated_at=now
            )


def finish_if_complete(distribution: Distribution) -> bool:
    open_states = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
    if Delivery.objects.filter(distribution=distribution, status__in=open_states).exists():
        return False
    changed = Distribution.objects.filter(
        pk=distribution.pk, status=DistributionStatus.SENDING
    ).update(status=DistributionStatus.DONE, finished_at=timezone.now())
    return bool(changed)
