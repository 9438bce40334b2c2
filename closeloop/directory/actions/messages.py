"""The contact's message log: what was sent to whom (frequency rules count it)."""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.utils import timezone

from closeloop.directory.dedup import InvalidValue
from closeloop.directory.models import Channel, Contact, ContactMessageLog, MailingList


def log_message(
    contact: Contact,
    channel: str,
    *,
    survey_id: str = "",
    mailing_list: MailingList | None = None,
    sent_at: datetime | None = None,
    is_reminder: bool = False,
) -> ContactMessageLog:
    """Record a message sent to a contact (the distribution code calls this)."""
    if channel not in (Channel.EMAIL, Channel.SMS):
        raise InvalidValue("A message is sent by email or sms.")
    return ContactMessageLog.objects.create(
        organization_id=contact.organization_id,
        contact=contact,
        channel=channel,
        survey_id=survey_id,
        mailing_list=mailing_list,
        sent_at=sent_at or timezone.now(),
        is_reminder=is_reminder,
    )


def log_messages(
    contacts: list[Contact],
    channel: str,
    *,
    survey_id: str = "",
    mailing_list: MailingList | None = None,
    sent_at: datetime | None = None,
    is_reminder: bool = False,
) -> None:
    """log_message for many contacts at once (one INSERT), e.g. a batch of a distribution."""
    if channel not in (Channel.EMAIL, Channel.SMS):
        raise InvalidValue("A message is sent by email or sms.")
    sent_at = sent_at or timezone.now()
    ContactMessageLog.objects.bulk_create(
        ContactMessageLog(
            organization_id=contact.organization_id,
            contact=contact,
            channel=channel,
            survey_id=survey_id,
            mailing_list=mailing_list,
            sent_at=sent_at,
            is_reminder=is_reminder,
        )
        for contact in contacts
    )


def log_messages_statement(
    contacts_sql: str,
    contacts_params: list,
    channel: str,
    *,
    survey_id: str = "",
    mailing_list_id: int | None = None,
    sent_at: datetime,
    is_reminder: bool = False,
) -> tuple[str, list]:
    """log_messages as one INSERT … SELECT (SQL and parameters) for a caller that sends its
    statements in one round trip (the email sender's window). `contacts_sql` selects
    (organization id, contact id) rows."""
    if channel not in (Channel.EMAIL, Channel.SMS):
        raise InvalidValue("A message is sent by email or sms.")
    quote = connection.ops.quote_name
    log = ContactMessageLog._meta
    columns = ", ".join(
        quote(log.get_field(name).column)
        for name in (
            "organization",
            "contact",
            "channel",
            "survey_id",
            "mailing_list",
            "sent_at",
            "is_reminder",
        )
    )
    sql = (
        f"INSERT INTO {quote(log.db_table)} ({columns}) "
        f"SELECT found.*, %s, %s, %s, %s, %s FROM ({contacts_sql}) AS found"
    )
    return sql, [channel, survey_id, mailing_list_id, sent_at, is_reminder, *contacts_params]
