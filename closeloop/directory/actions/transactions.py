"""Transactions: dated data recorded on a contact, and the batches that group them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.db import transaction

from closeloop.directory.actions.contacts import upsert_contact
from closeloop.directory.actions.fields import check_list
from closeloop.directory.dedup import InvalidValue
from closeloop.directory.models import (
    Contact,
    Directory,
    MailingList,
    Transaction,
    TransactionBatch,
)
from closeloop.directory.values import clean_transaction_data, parse_transaction_date


def add_transaction(
    contact: Contact,
    date: str | datetime,
    data: Mapping | None,
    mailing_list: MailingList | None = None,
    batch: TransactionBatch | None = None,
) -> Transaction:
    """Record dated data on a contact. Each call adds one; none is ever overwritten."""
    transaction_date = parse_transaction_date(date)
    cleaned = clean_transaction_data(data)
    check_list(contact.directory, mailing_list)
    if batch is not None and batch.directory_id != contact.directory_id:
        raise InvalidValue("The transaction batch belongs to another directory.")
    return Transaction.objects.create(
        organization_id=contact.organization_id,
        directory_id=contact.directory_id,
        contact=contact,
        transaction_date=transaction_date,
        data=cleaned,
        mailing_list=mailing_list,
        batch=batch,
    )


def create_transaction_batch(directory: Directory) -> TransactionBatch:
    return TransactionBatch.objects.create(
        organization_id=directory.organization_id, directory=directory
    )


def add_to_batch(batch: TransactionBatch, transactions: list[Transaction]) -> int:
    for item in transactions:
        if item.directory_id != batch.directory_id:
            raise InvalidValue(f"Transaction {item.public_id} belongs to another directory.")
    return Transaction.objects.filter(pk__in=[item.pk for item in transactions]).update(batch=batch)


def upsert_contact_transaction(
    directory: Directory,
    fields: Mapping,
    embedded_data: Mapping | None,
    date: str | datetime,
    data: Mapping | None,
    *,
    mailing_list: MailingList | None = None,
    actor=None,
) -> tuple[Contact, bool, Transaction]:
    """Segment's "Upsert contact transaction" and the workflow task "Add as a transaction":
    find or create the contact by the dedup rules, then add the transaction — both or neither.
    """
    parse_transaction_date(date)  # refuse a bad date before anything is written
    clean_transaction_data(data)
    with transaction.atomic():
        contact, created = upsert_contact(
            directory, fields, embedded_data, mailing_list=mailing_list, actor=actor
        )
        row = add_transaction(contact, date, data, mailing_list=mailing_list)
    return contact, created, row
