"""The email channel: what an email may contain, and the send path of an email chunk (check,
render, send, record), kept lean: it runs once per message of every distribution.

closeloop.distributions.sending describes the states a delivery goes through; this module is
how an email chunk goes through them cheaply (measured: a model instance costs ~35 µs here, an
ORM bulk_create of 10 rows ~1.5 ms, a database round trip ~90 µs of the worker's CPU):

- a prepared batch reads its deliveries and their contacts as tuples (no model instances), in
  one SELECT … FOR UPDATE SKIP LOCKED, checks them (three queries for the batch) and makes the
  missing survey links (one INSERT, one UPDATE);
- a window's bookkeeping is one script of raw statements with a fixed shape: the previous
  window's Success, its message-log rows and this window's claim (UPDATE … RETURNING). On
  PostgreSQL the script is sent in one round trip and runs as one transaction (a
  multi-statement query is atomic); elsewhere the statements run in one transaction.

The message itself is compiled and rendered by email_message.py and handed to the backend by
email_sender.py.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from closeloop.directory import frequency
from closeloop.directory.actions import log_messages_statement
from closeloop.directory.models import Channel, Contact, ContactMessageLog, Transaction
from closeloop.distributions import secrets
from closeloop.distributions.channels.email_message import EmailTemplate, Recipient, default_sender
from closeloop.distributions.channels.email_sender import EmailSender
from closeloop.distributions.checks import DistributionError, check_piped_text, clean_address
from closeloop.distributions.core import (
    OptOutLinks,
    Outcome,
    SendingInterrupted,
    absolute_url_pattern,
    finish_if_complete,
    list_opt_outs,
    opt_out_reason,
    prepare_batch_size,
    record_verdicts,
    send_batch_size,
    suppress_address,
    survey_urls,
    tracking_token,
)
from closeloop.distributions.models import (
    Delivery,
    DeliveryStatus,
    Distribution,
    Kind,
    SuppressedAddress,
    VerifiedDomain,
)
from closeloop.surveys.actions import SurveyNotActive, contact_fields

MAX_SUBJECT = 500
MAX_BODY = 200_000


# What an email may contain --------------------------------------------------------------------


def default_body() -> str:
    return (
        "Hello ${m://FirstName},\n\nWe would like to hear how we did. "
        "${l://SurveyLink?d=Take the survey}\n\n"
        "Not interested? ${l://OptOutLink?d=Unsubscribe}"
    )


def _domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower()


def check_from_address(organization, from_email: str) -> str:
    """The From address, if the organization may send from it: the default sender's domain or a
    domain it has verified. Empty means the default sender."""
    from_email = (from_email or "").strip()
    if not from_email:
        return ""
    if from_email.lower() == default_sender()[1].lower():
        return from_email
    address = clean_address(from_email, "The From address")
    domain = _domain_of(address)
    if domain == _domain_of(default_sender()[1]):
        return address
    verified = VerifiedDomain.objects.filter(
        organization=organization, domain=domain, verified_at__isnull=False
    ).exists()
    if not verified:
        raise DistributionError(
            f"The From address {address} uses the domain {domain}, which this organization has "
            f"not verified: verify it under Distributions → Sending domains, or send from "
            f"the default sender {default_sender()[1]}."
        )
    return address


def check_content(subject: str, html_body: str, text_body: str) -> tuple[str, str, str]:
    """The subject (one line) and bodies of an email, checked."""
    subject = " ".join((subject or "").split())
    if not subject:
        raise DistributionError("The message needs a subject.")
    if len(subject) > MAX_SUBJECT:
        raise DistributionError(f"The subject is at most {MAX_SUBJECT} characters.")
    if not (html_body or "").strip() and not (text_body or "").strip():
        raise DistributionError("The message is empty: give an HTML or a plain-text body.")
    if len(html_body or "") > MAX_BODY or len(text_body or "") > MAX_BODY:
        raise DistributionError(f"A message body is at most {MAX_BODY} characters.")
    check_piped_text(subject, "subject")
    check_piped_text(html_body or "", "HTML body")
    check_piped_text(text_body or "", "text body")
    return subject, html_body or "", text_body or ""


# Sending a chunk -----------------------------------------------------------------------------


def send_chunk(distribution: Distribution, chunk, claim: str) -> dict:
    """Send the Pending deliveries of a chunk: prepared batches, sent in windows, each window's
    claim committed (with the previous window's results) before its messages go. Raises
    SendingInterrupted when the job should be retried later; returns counts otherwise."""
    counts = {"sent": 0, "skipped": 0, "failed": 0}
    sender = EmailSender(distribution)
    statements = Statements(distribution, sender.template)
    size = send_batch_size()
    unrecorded = Outcome()  # the window just sent: recorded with the next claim
    deferred: set[int] = set()  # put back by a 4xx for one recipient: not again in this run
    try:
        while True:
            ready = prepare_batch(
                distribution, chunk.exclude(pk__in=deferred), counts, prepare_batch_size()
            )
            if ready is None:
                break
            for start in range(0, len(ready), size):
                window = record_and_claim(
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
        record(statements, unrecorded)
    finish_if_complete(distribution)
    return counts


# Preparing a batch ---------------------------------------------------------------------------


class ContactValues(NamedTuple):
    """The contact columns a message needs. It has the attributes contact_fields(),
    opt_out_token() and opt_out_reason() read, so they work on it as on a Contact."""

    pk: int
    organization_id: int
    public_id: str
    first_name: str
    last_name: str
    email: str
    phone: str
    ext_ref: str
    language: str
    embedded_data: dict
    unsubscribed: bool
    email_normalized: str


class DeliveryValues(NamedTuple):
    """A Pending delivery as the sender reads it: its columns, its contact's, and the data of
    its transaction (transaction-batch distributions)."""

    id: int
    public_id: str
    email: str
    link_id: int | None
    link_secret: str
    transaction_id: int | None
    contact: ContactValues
    transaction_data: dict | None


DELIVERY_COLUMNS = ("id", "public_id", "email", "link_id", "link_secret", "transaction_id")
CONTACT_COLUMNS = tuple(
    "contact_id" if name == "pk" else f"contact__{name}" for name in ContactValues._fields
)


@dataclass(slots=True)
class Ready:
    """A delivery checked and given its link: what a window claims and sends."""

    id: int
    contact_id: int
    email_normalized: str
    recipient: Recipient
    new_link: tuple[int, str] | None = None  # (link id, encrypted token): saved by the claim


def prepare_batch(distribution: Distribution, chunk, counts: dict, size: int) -> list | None:
    """Up to `size` Pending deliveries of the chunk, checked (Skipped/Blocked/Failure recorded)
    and with their links made, in one transaction; they stay Pending. None when none is left."""
    with transaction.atomic():
        pending = _read_pending(chunk, size)
        if not pending:
            return None
        verdicts = _verdicts(distribution, pending)
        allowed = [delivery for delivery in pending if delivery.id not in verdicts]
        try:
            urls, new_links = _survey_urls(distribution, allowed)
        except SurveyNotActive as error:
            verdicts.update((d.id, (DeliveryStatus.FAILURE, str(error))) for d in allowed)
            allowed, urls, new_links = [], [], {}
        record_verdicts(verdicts)
        counts["skipped"] += len(verdicts)
        opt_out = OptOutLinks(distribution)
        return [
            _ready(delivery, url, opt_out.url(delivery.contact), new_links.get(delivery.id))
            for delivery, url in zip(allowed, urls, strict=True)
        ]


def _read_pending(chunk, size: int) -> list[DeliveryValues]:
    """One SELECT … FOR UPDATE SKIP LOCKED of the deliveries and their contacts' columns."""
    rows = (
        chunk.filter(status=DeliveryStatus.PENDING)
        .select_for_update(skip_locked=True, of=("self",))
        .order_by("id")
        .values_list(*DELIVERY_COLUMNS, *CONTACT_COLUMNS, "transaction__data")[:size]
    )
    split = len(DELIVERY_COLUMNS)
    return [
        DeliveryValues(*row[:split], ContactValues._make(row[split:-1]), row[-1]) for row in rows
    ]


def _ready(
    delivery: DeliveryValues, survey_url: str, opt_out_url: str, new_link: tuple | None
) -> Ready:
    contact = delivery.contact
    embedded = dict(contact.embedded_data or {})
    embedded.update(delivery.transaction_data or {})
    return Ready(
        id=delivery.id,
        contact_id=contact.pk,
        email_normalized=contact.email_normalized,
        new_link=new_link,
        recipient=Recipient(
            public_id=delivery.public_id,
            email=contact.email,
            fields=contact_fields(contact),
            embedded=embedded,
            survey_url=survey_url,
            opt_out_url=opt_out_url,
            tracking_token=tracking_token(delivery.public_id),
        ),
    )


def _verdicts(distribution: Distribution, pending: list[DeliveryValues]) -> dict[int, tuple]:
    """(status, reason) for every delivery that must not be sent: no address, opt-outs,
    suppressed addresses, frequency rules (asked only about contacts written to before)."""
    contact_ids = [delivery.contact.pk for delivery in pending]
    opted_out_of_list = list_opt_outs(distribution, contact_ids)
    addresses = {delivery.contact.email_normalized for delivery in pending}
    suppressed = dict(
        SuppressedAddress.objects.filter(
            organization_id=distribution.organization_id, email__in=addresses
        ).values_list("email", "reason")
    )
    is_reminder = distribution.kind != Kind.INVITE
    contacted = set()
    if not is_reminder:
        contacted = set(
            ContactMessageLog.objects.filter(contact_id__in=contact_ids, is_reminder=False)
            .values_list("contact_id", flat=True)
            .distinct()
        )
    # The rules read the contact's own records: full instances, for those few only.
    full = Contact.objects.in_bulk(contacted) if contacted else {}
    verdicts: dict[int, tuple] = {}
    for delivery in pending:
        contact = delivery.contact
        opt_out = opt_out_reason(distribution, contact, opted_out_of_list)
        if not contact.email_normalized:
            verdicts[delivery.id] = (DeliveryStatus.SKIPPED, "The contact has no email address.")
        elif opt_out:
            verdicts[delivery.id] = (DeliveryStatus.SKIPPED, opt_out)
        elif contact.email_normalized in suppressed:
            verdicts[delivery.id] = (
                DeliveryStatus.BLOCKED,
                f"The address is blocked: {suppressed[contact.email_normalized]}",
            )
        elif contact.pk in full:
            allowed, rule = frequency.allowed_to_contact(
                full[contact.pk],
                Channel.EMAIL,
                survey_id=distribution.survey.public_id,
                mailing_list=distribution.mailing_list,
                is_reminder=is_reminder,
            )
            if not allowed:
                verdicts[delivery.id] = (DeliveryStatus.SKIPPED, f"Frequency rule: {rule}")
        if delivery.email != contact.email and delivery.id not in verdicts:  # address changed
            Delivery.objects.filter(pk=delivery.id).update(email=contact.email)
    return verdicts


def _survey_urls(distribution: Distribution, deliveries: list[DeliveryValues]):
    """core.survey_urls for a batch's delivery values, and the links made now as {delivery
    id: (link id, encrypted token)}: the delivery keeps its link from its claim on
    (Statements.claim: no UPDATE of its own). A link made for a delivery that is then never
    claimed (its worker stopped) is never used."""

    def link_targets(new: list[DeliveryValues]) -> list[tuple]:
        purchases = Transaction.objects.in_bulk([d.transaction_id for d in new if d.transaction_id])
        return [
            # create_links wants Contact instances: from_db with two columns skips defaults.
            (
                Contact.from_db(connection.alias, ["id", "organization_id"], d.contact[:2]),
                d.public_id,
                purchases.get(d.transaction_id),
            )
            for d in new
        ]

    urls, made = survey_urls(distribution, deliveries, link_targets)
    return urls, {id_: (link.pk, token) for id_, (link, token) in made.items()}


# A window's bookkeeping ----------------------------------------------------------------------


class Statements:
    """The raw statements of a window, their table and column names read from the models."""

    def __init__(self, distribution: Distribution, template: EmailTemplate):
        self.distribution = distribution
        self.template = template
        quote = connection.ops.quote_name
        self.table = quote(Delivery._meta.db_table)
        self.column = {field.name: quote(field.column) for field in Delivery._meta.concrete_fields}
        self.is_reminder = distribution.kind != Kind.INVITE
        self.link_url = absolute_url_pattern("respondent:link")

    def success(self, ids: list[int], now) -> list[tuple[str, list]]:
        """Sent: Success with its Message-ID (from the public id), and the message log (for
        frequency rules) from the same rows."""
        if not ids:
            return []
        c, marks = self.column, _marks(ids)
        before, after = self.template.message_id_affixes()
        update = (
            f"UPDATE {self.table} SET {c['status']} = %s, "
            f"{c['message_id']} = %s || {c['public_id']} || %s, {c['sent_at']} = %s, "
            f"{c['reason']} = '', {c['error']} = '', {c['updated_at']} = %s "
            f"WHERE {c['id']} IN ({marks})"
        )
        log = log_messages_statement(
            f"SELECT {c['organization']}, {c['contact']} FROM {self.table} "
            f"WHERE {c['id']} IN ({marks})",
            ids,
            Channel.EMAIL,
            survey_id=self.distribution.survey.public_id,
            mailing_list_id=self.distribution.mailing_list_id,
            sent_at=now,
            is_reminder=self.is_reminder,
        )
        return [(update, [DeliveryStatus.SUCCESS, before, after, now, now, *ids]), log]

    def claim(self, window: list[Ready], claim: str, now) -> tuple[str, list]:
        """Pending → Sending under this attempt's claim, with the links made for the window
        (unless the delivery got one meanwhile, from the links API); returns (id, encrypted
        token) of those it got. Selected by primary key only: with the distribution's id too,
        the planner may walk every Pending delivery of the distribution for each window."""
        c = self.column
        params = [DeliveryStatus.SENDING, claim, now, now]
        links = ""
        made = [(item.id, *item.new_link) for item in window if item.new_link]
        if made:
            whens = " ".join(["WHEN %s THEN %s"] * len(made))
            links = (
                f", {c['link']} = CASE WHEN {c['link_secret']} = '' "
                f"THEN CASE {c['id']} {whens} END ELSE {c['link']} END"
                f", {c['link_secret']} = CASE WHEN {c['link_secret']} = '' "
                f"THEN CASE {c['id']} {whens} ELSE '' END ELSE {c['link_secret']} END"
            )
            params += [value for delivery, link, _token in made for value in (delivery, link)]
            params += [value for delivery, _link, token in made for value in (delivery, token)]
        ids = [item.id for item in window]
        sql = (
            f"UPDATE {self.table} SET {c['status']} = %s, {c['claim']} = %s, "
            f"{c['sending_at']} = %s, {c['attempts']} = {c['attempts']} + 1, "
            f"{c['updated_at']} = %s{links} "
            f"WHERE {c['id']} IN ({_marks(ids)}) AND {c['status']} = %s "
            f"RETURNING {c['id']}, {c['link_secret']}"
        )
        return sql, [*params, *ids, DeliveryStatus.PENDING]

    def survey_url(self, encrypted_token: str) -> str:
        before, after = self.link_url
        return f"{before}{secrets.decrypt(encrypted_token)}{after}"


def _marks(values: list) -> str:
    return ", ".join(["%s"] * len(values))


def run_script(statements: list[tuple[str, list]]) -> list[tuple]:
    """Run the statements as one transaction; the rows the last one returned. On PostgreSQL
    they go in one round trip (a multi-statement query runs as one transaction, or inside the
    caller's)."""
    if not statements:
        return []
    if connection.vendor == "postgresql":
        sql = ";\n".join(sql for sql, _params in statements)
        with connection.cursor() as cursor:
            cursor.execute(sql, [value for _sql, params in statements for value in params])
            while cursor.nextset():
                pass  # to the last statement's result
            return cursor.fetchall() if cursor.description else []
    with transaction.atomic(), connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def record_and_claim(
    statements: Statements,
    outcome: Outcome,
    window: list[Ready],
    claim: str,
) -> list[Ready]:
    """The previous window's results and this window's claim, committed before any SMTP
    traffic: at most one window is in flight (ambiguous) if the worker dies. Returns the
    deliveries of the window that were still Pending (all of them unless another attempt
    took some)."""
    _record_unsent(statements.distribution, outcome)
    # As the ORM would write it (SQLite stores text: Django's format, in UTC without offset).
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    script = statements.success([item.id for item, _message_id in outcome.sent], now)
    if window:
        script.append(statements.claim(window, claim, now))
    got = dict(run_script(script))
    claimed = [item for item in window if item.id in got]
    for item in claimed:
        if item.new_link and got[item.id] != item.new_link[1]:  # it had a link already
            item.recipient.survey_url = statements.survey_url(got[item.id])
    return claimed


def record(statements: Statements, outcome: Outcome) -> None:
    """The last window's results (or those of a window cut short)."""
    record_and_claim(statements, outcome, [], "")


def _record_unsent(distribution: Distribution, outcome: Outcome) -> None:
    """Final failures (rare: one UPDATE each; a refused recipient's address is suppressed)
    and the deliveries put back to Pending (one UPDATE per reason)."""
    if not (outcome.final or outcome.released):
        return
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        for item, status, why in outcome.final:
            changes = {"status": status, "reason": why[:500], "error": why, "updated_at": now}
            if status == DeliveryStatus.HARD_BOUNCE:
                changes["bounced_at"] = now
                suppress_address(
                    distribution.organization_id, item.email_normalized, f"hard bounce: {why}"[:300]
                )
            Delivery.objects.filter(pk=item.id).update(**changes)
        released = defaultdict(list)
        for item, why in outcome.released:
            released[why].append(item.id)
        for why, ids in released.items():
            Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.SENDING).update(
                status=DeliveryStatus.PENDING, claim="", error=why, updated_at=now
            )
