"""Preparing a distribution (one Delivery per contact) and sending its email, exactly once.

How one chunk of deliveries is sent (a `distributions.send_chunk` job, atomic=False):

1. Deliveries left in Sending by an earlier attempt of this chunk (its worker was killed) are
   *ambiguous*: the SMTP server may or may not have accepted their message. They are resolved
   conservatively: marked Failure with the reason, never sent again automatically. Nobody
   gets two invitations; a person may get none, and the history says so.
2. Prepare a batch (PREPARE_BATCH) of Pending deliveries in one transaction: check opt-out,
   list unsubscribe, suppressed addresses and frequency rules (recording Skipped / Blocked
   with the reason, one UPDATE per reason) and make the personal links (one INSERT). They stay
   Pending: nothing is in flight yet.
3. Send them in windows of SEND_BATCH: one UPDATE marks a window Sending with this attempt's
   claim and commits before any SMTP traffic, so at most one window is ambiguous when a worker
   dies. Each message goes over one connection (Django's email backend, opened once per
   chunk) at the configured rate; with Django's SMTP backend the message bytes are written
   directly from the template compiled once per distribution (channels/email.py). A message
   the server refused (an SMTP reply) or that never reached the DATA command (connection
   refused or dropped earlier) was certainly not delivered: a 5xx reply is final (HardBounce
   for a refused recipient, else Failure), a 4xx reply or a connection problem puts the
   delivery back to Pending and the job retries later. Only a connection lost *during* DATA
   is ambiguous (resolved as in 1).
4. Each window's results are recorded in the next window's claim transaction: one UPDATE
   marks the sent ones Success (their Message-ID is derived from their public id), one INSERT
   adds them to the contacts' message log (for frequency rules). The email path
   (sending_email.py) sends these statements as one script: one round trip per window.

Memory stays flat: recipients are streamed into the deliveries table in slices, and a worker
holds one prepared batch at a time.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import islice

from django.conf import settings
from django.core import signing
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from closeloop.distributions.actions import SEND_JOB, fail_distribution
from closeloop.distributions.channels import email as email_channel
from closeloop.distributions.models import Channel as DistributionChannel
from closeloop.distributions.models import (
    Delivery,
    DeliveryStatus,
    Distribution,
    DistributionStatus,
    LinkType,
    RecipientKind,
    new_delivery_id,
)
from closeloop.jobs.actions import enqueue

log = logging.getLogger("closeloop.distributions")

CHUNK_SIZE = 500  # deliveries per send job
PREPARE_BATCH = 250  # deliveries checked and given their links in one transaction
INSERT_SLICE = 2000  # deliveries created per INSERT while preparing
TRACKING_SALT = "closeloop.distributions.tracking"
AMBIGUOUS = (
    "The connection was lost while the message was being handed over (or the worker stopped): "
    "it may have arrived, so it is not sent again automatically."
)


def send_batch_size() -> int:
    """Messages in flight under one claim: at most this many are ambiguous if a worker dies."""
    return int(getattr(settings, "CLOSELOOP_DISTRIBUTION_SEND_BATCH", 10))


def prepare_batch_size() -> int:
    return max(send_batch_size(), PREPARE_BATCH)


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
    """Create every Delivery (idempotent: unique per contact) and the send jobs, slice by
    slice, each slice committed with its send jobs so that sending starts at once. A retry
    after a crash continues where it stopped. Returns the number of deliveries."""
    from closeloop.surveys.actions import SurveyNotActive, require_active

    preparing = distribution.status == DistributionStatus.SENDING and not distribution.prepared_at
    if distribution.status != DistributionStatus.SCHEDULED and not preparing:
        return distribution.recipient_count
    try:
        require_active(distribution.survey)
    except SurveyNotActive as error:
        fail_distribution(distribution, f"{error} Nothing was sent.")
        return 0
    # Sending while unprepared: finish_if_complete waits for prepared_at.
    Distribution.objects.filter(pk=distribution.pk).update(status=DistributionStatus.SENDING)
    now = timezone.now()
    recipients = _recipients(distribution)
    while rows := list(islice(recipients, INSERT_SLICE)):
        with transaction.atomic():
            _create_deliveries(distribution, rows, now)
    count = Delivery.objects.filter(distribution=distribution).count()
    Distribution.objects.filter(pk=distribution.pk).update(recipient_count=count, prepared_at=now)
    distribution.refresh_from_db()
    finish_if_complete(distribution)
    return count


def _create_deliveries(distribution: Distribution, rows: list[tuple], now) -> None:
    """The deliveries of a slice of recipients, and their send jobs. A re-run inserts only
    the missing ones (their send jobs committed with them) and enqueues jobs for those."""
    ids = sorted(_insert_deliveries(distribution, rows, now))
    for start in range(0, len(ids), CHUNK_SIZE):
        chunk = ids[start : start + CHUNK_SIZE]
        enqueue(
            SEND_JOB,
            {"distribution": distribution.pk, "first": chunk[0], "last": chunk[-1]},
            idempotency_key=f"{SEND_JOB}:{distribution.public_id}:{chunk[0]}",
            organization=distribution.organization_id,
        )


PER_RECIPIENT = ("public_id", "contact", "transaction", "email", "link", "link_secret")
BIGINT_COLUMNS = ("contact", "transaction", "link")


def _insert_deliveries(distribution: Distribution, rows: list[tuple], now) -> list[int]:
    """INSERT … SELECT … FROM (VALUES …) ON CONFLICT DO NOTHING RETURNING id: the values that
    differ per recipient as parameters, the others once. bulk_create built a model instance
    per recipient (~35 µs each here) and its ids took a second query."""
    quote = connection.ops.quote_name
    columns = [
        model_field for model_field in Delivery._meta.concrete_fields if not model_field.primary_key
    ]
    given = {
        "organization": distribution.organization_id,
        "distribution": distribution.pk,
        "created_at": now,
        "updated_at": now,
    }
    select, constants = [], []
    for column in columns:
        if column.name in PER_RECIPIENT:
            value = f"v.column{PER_RECIPIENT.index(column.name) + 1}"
            cast = column.name in BIGINT_COLUMNS  # NULL in every row would be text
            select.append(f"CAST({value} AS BIGINT)" if cast else value)
        else:
            value = given[column.name] if column.name in given else column.get_default()
            select.append("%s")
            constants.append(column.get_db_prep_save(value, connection))
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows))
    sql = (
        f"INSERT INTO {quote(Delivery._meta.db_table)} "
        f"({', '.join(quote(column.column) for column in columns)}) "
        f"SELECT {', '.join(select)} FROM (VALUES {values}) AS v "
        # WHERE true: SQLite would read ON CONFLICT as part of the SELECT's join otherwise.
        f"WHERE true ON CONFLICT DO NOTHING RETURNING {quote(Delivery._meta.pk.column)}"
    )
    params = [
        value
        for contact_id, transaction_id, email, link_id, link_secret in rows
        for value in (new_delivery_id(), contact_id, transaction_id, email, link_id, link_secret)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*constants, *params])
        return [row[0] for row in cursor.fetchall()]


def _recipients(distribution: Distribution):
    """(contact id, transaction id, email, link id, link secret) per recipient."""
    from closeloop.directory.models import MailingListMembership, Transaction

    kind = distribution.recipient_kind
    if kind == RecipientKind.MAILING_LIST:
        members = MailingListMembership.objects.filter(
            mailing_list_id=distribution.mailing_list_id
        ).order_by("id")
        last = 0  # pages by id: no cursor stays open across the slices' commits
        while page := list(
            members.filter(id__gt=last).values_list("id", "contact_id", "contact__email")[
                :INSERT_SLICE
            ]
        ):
            last = page[-1][0]
            for _id, contact_id, email in page:
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
    return _send_email(distribution, chunk, claim)


def _send_email(distribution: Distribution, chunk, claim: str) -> dict:
    """Prepared batches, sent in windows: each window's claim commits (with the previous
    window's results) before its messages go (closeloop.distributions.sending_email)."""
    from closeloop.distributions import sending_email

    counts = {"sent": 0, "skipped": 0, "failed": 0}
    sender = sending_email.EmailSender(distribution)
    statements = sending_email.Statements(distribution, sender.template)
    size = send_batch_size()
    unrecorded = Outcome()  # the window just sent: recorded with the next claim
    deferred: set[int] = set()  # put back by a 4xx for one recipient: not again in this run
    try:
        while True:
            ready = sending_email.prepare_batch(
                distribution, chunk.exclude(pk__in=deferred), counts, prepare_batch_size()
            )
            if ready is None:
                break
            for start in range(0, len(ready), size):
                window = sending_email.record_and_claim(
                    statements, unrecorded, ready[start : start + size], claim
                )
                unrecorded = Outcome()  # recorded: not again in `finally` if sending raises
                unrecorded = sender.send(window) if window else Outcome()
                counts["sent"] += len(unrecorded.sent)
                counts["failed"] += len(unrecorded.final)
                deferred.update(item.id for item, _why in unrecorded.released)
                if unrecorded.interrupted:
                    raise SendingInterrupted(unrecorded.interrupted)
        if deferred:
            raise SendingInterrupted(f"The server asked to retry {len(deferred)} recipient(s).")
    finally:
        sender.close()
        sending_email.record(statements, unrecorded)
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
    """Prepare up to SEND_BATCH Pending deliveries and mark them Sending. None when none is
    left (the SMS channel sends batch by batch this way)."""
    ready = _prepare_batch(distribution, chunk, counts, size=send_batch_size())
    return None if ready is None else _claim(chunk, ready, claim)


def _prepare_batch(distribution: Distribution, chunk, counts: dict, size: int = 0):
    """Up to `size` Pending deliveries, checked (Skipped/Blocked/Failure recorded) and with
    their links made, in one transaction. They stay Pending. None when none is left."""
    from closeloop.surveys.actions import SurveyNotActive

    with transaction.atomic():
        pending = list(
            chunk.filter(status=DeliveryStatus.PENDING)
            .select_related("contact", "transaction")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("id")[: size or prepare_batch_size()]
        )
        if not pending:
            return None
        verdicts = _gatekeeper(distribution, pending)
        allowed = [delivery for delivery in pending if delivery.pk not in verdicts]
        try:
            urls = _survey_urls(distribution, allowed)
        except SurveyNotActive as error:
            verdicts.update(
                (delivery.pk, (DeliveryStatus.FAILURE, str(error))) for delivery in allowed
            )
            allowed, urls = [], []
        _record_verdicts(verdicts)
        counts["skipped"] += len(verdicts)
        opt_out = OptOutLinks(distribution)
        return [
            Claimed(delivery, url, opt_out.url(delivery.contact))
            for delivery, url in zip(allowed, urls, strict=True)
        ]


def _record_verdicts(verdicts: dict[int, tuple]) -> None:
    """One UPDATE per (status, reason)."""
    by_verdict = defaultdict(list)
    for delivery_id, verdict in verdicts.items():
        by_verdict[verdict].append(delivery_id)
    now = timezone.now()
    for (status, reason), ids in by_verdict.items():
        Delivery.objects.filter(pk__in=ids).update(status=status, reason=reason, updated_at=now)


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


def _gatekeeper(distribution: Distribution, pending: list[Delivery]) -> dict[int, tuple]:
    """(status, reason) for every SMS delivery that must not be sent (email deliveries are
    checked by sending_email)."""
    from closeloop.distributions.channels import sms

    return sms.gatekeeper(distribution, pending)


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


def _survey_urls(distribution: Distribution, deliveries: list[Delivery]) -> list[str]:
    """survey_urls for Delivery instances; the links made now are saved on them at once."""
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


def survey_urls(distribution: Distribution, deliveries: list, link_targets):
    """The survey link of each delivery (anything with `id` and `link_secret`), and the links
    made now, {delivery id: (SurveyLink, encrypted token)}. An individual link is made (one
    INSERT for the batch, link_targets(new deliveries) giving create_links its (contact,
    delivery id, transaction) targets) for those that have none yet; the caller keeps it
    on the delivery, encrypted, so that reminders and the links API show the same one.
    Anonymous distributions get the survey's anonymous link."""
    from closeloop.distributions import secrets
    from closeloop.surveys import actions as surveys

    if distribution.link_type != LinkType.INDIVIDUAL:
        url = surveys.anonymous_url(distribution.survey)
        return [url for _delivery in deliveries], {}
    prefix, suffix = email_channel.absolute_url_pattern("respondent:link")
    urls = {
        d.id: f"{prefix}{secrets.decrypt(d.link_secret)}{suffix}"
        for d in deliveries
        if d.link_secret
    }
    new = [delivery for delivery in deliveries if not delivery.link_secret]
    made = {}
    if new:
        links = surveys.create_links(
            distribution.survey,
            link_targets(new),
            embedded_data=distribution.embedded_data,
            expires_at=distribution.link_expires_at,
        )
        for delivery, (link, url) in zip(new, links, strict=True):
            made[delivery.id] = (link, secrets.encrypt(url.rstrip("/").rsplit("/", 1)[-1]))
            urls[delivery.id] = url
    return [urls[delivery.id] for delivery in deliveries], made


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


class OptOutLinks:
    """The signed opt-out link of a contact for this distribution's list."""

    def __init__(self, distribution: Distribution):
        self.mailing_list = distribution.mailing_list
        self.prefix, self.suffix = email_channel.absolute_url_pattern("directory:opt-out")

    def url(self, contact) -> str:
        from closeloop.directory.actions import opt_out_token

        return f"{self.prefix}{opt_out_token(contact, self.mailing_list)}{self.suffix}"


def tracking_token(delivery_public_id: str) -> str:
    return signing.Signer(salt=TRACKING_SALT).sign(delivery_public_id)


def read_tracking_token(token: str) -> str | None:
    try:
        return signing.Signer(salt=TRACKING_SALT).unsign(token)
    except signing.BadSignature:
        return None


class Renderer:
    """The piped-text context of a delivery (the SMS channel renders its text with it)."""

    def __init__(self, distribution: Distribution):
        self.distribution = distribution

    def context(self, claimed: Claimed) -> dict:
        recipient = _recipient(claimed)
        embedded = {**recipient.embedded, **(self.distribution.embedded_data or {})}
        links = {
            "SurveyLink": claimed.survey_url,
            "SurveyURL": claimed.survey_url,
            "OptOutLink": claimed.opt_out_url,
            "OptOutURL": claimed.opt_out_url,
        }
        return {"m": recipient.fields, "e": embedded, "l": links}


def _recipient(claimed: Claimed) -> email_channel.Recipient:
    from closeloop.surveys.actions import contact_fields

    delivery = claimed.delivery
    contact = delivery.contact
    embedded = dict(contact.embedded_data or {})
    if delivery.transaction is not None:
        embedded.update(delivery.transaction.data or {})
    return email_channel.Recipient(
        public_id=delivery.public_id,
        email=delivery.email,
        fields=contact_fields(contact),
        embedded=embedded,
        survey_url=claimed.survey_url,
        opt_out_url=claimed.opt_out_url,
        tracking_token=tracking_token(delivery.public_id),
    )


def _describe(error: Exception) -> str:
    return f"{error.__class__.__name__}: {error}"[:1000]


def finish_if_complete(distribution: Distribution) -> bool:
    open_states = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
    if Delivery.objects.filter(distribution=distribution, status__in=open_states).exists():
        return False
    changed = Distribution.objects.filter(
        pk=distribution.pk, status=DistributionStatus.SENDING, prepared_at__isnull=False
    ).update(status=DistributionStatus.DONE, finished_at=timezone.now())
    return bool(changed)
