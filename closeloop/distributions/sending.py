"""Preparing a distribution (one Delivery per contact) and sending it, exactly once.

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
   directly from the template compiled once per distribution (channels/email_message.py). A message
   the server refused (an SMTP reply) or that never reached the DATA command (connection
   refused or dropped earlier) was certainly not delivered: a 5xx reply is final (HardBounce
   for a refused recipient, else Failure), a 4xx reply or a connection problem puts the
   delivery back to Pending and the job retries later. Only a connection lost *during* DATA
   is ambiguous (resolved as in 1).
4. Each window's results are recorded in the next window's claim transaction: one UPDATE
   marks the sent ones Success (their Message-ID is derived from their public id), one INSERT
   adds them to the contacts' message log (for frequency rules). The email path
   (channels/email.py) sends these statements as one script: one round trip per window.

Memory stays flat: recipients are streamed into the deliveries table in slices, and a worker
holds one prepared batch at a time.

This module prepares and hands each chunk to its channel's send path (SEND_PATHS: email, SMS,
two-way SMS, each in closeloop/distributions/channels/), built on closeloop.distributions.core.
"""

from __future__ import annotations

import logging
from itertools import islice

from django.db import connection, transaction
from django.utils import timezone

from closeloop.directory.models import MailingListMembership, Transaction
from closeloop.distributions.actions import SEND_JOB, fail_distribution
from closeloop.distributions.channels import email, sms, sms2way
from closeloop.distributions.core import finish_if_complete, resolve_ambiguous
from closeloop.distributions.models import Channel as DistributionChannel
from closeloop.distributions.models import (
    Delivery,
    Distribution,
    DistributionStatus,
    RecipientKind,
    new_delivery_id,
)
from closeloop.jobs.actions import enqueue
from closeloop.surveys.actions import SurveyNotActive, require_active

log = logging.getLogger("closeloop.distributions")

CHUNK_SIZE = 500  # deliveries per send job
INSERT_SLICE = 2000  # deliveries created per INSERT while preparing
# The send path of each channel: send(distribution, chunk, claim) -> counts.
SEND_PATHS = {
    DistributionChannel.EMAIL: email.send_chunk,
    DistributionChannel.SMS: sms.send_chunk,
    DistributionChannel.SMS_TWO_WAY: sms2way.send_chunk,
}


# Preparation --------------------------------------------------------------------------------


def prepare(distribution: Distribution) -> int:
    """Create every Delivery (idempotent: unique per contact) and the send jobs, slice by
    slice, each slice committed with its send jobs so that sending starts at once. A retry
    after a crash continues where it stopped. Returns the number of deliveries."""
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


def send_chunk(distribution_id: int, first: int, last: int, claim: str) -> dict:
    """Send the Pending deliveries of one chunk (ids first..last) on the distribution's channel.
    Raises core.SendingInterrupted when the job should be retried later; returns counts
    otherwise."""
    distribution = (
        Distribution.objects.select_related("survey", "mailing_list", "organization")
        .filter(pk=distribution_id)
        .first()
    )
    if distribution is None:
        return {}
    chunk = Delivery.objects.filter(distribution_id=distribution_id, id__gte=first, id__lte=last)
    resolve_ambiguous(chunk, claim)
    return SEND_PATHS[distribution.channel](distribution, chunk, claim)
