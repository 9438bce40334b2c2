"""Every row lock the directory takes, in one place.

Dedup needs a lock on something that may not exist yet: two requests that would create the
same contact must not both insert. On PostgreSQL each dedup lookup key (directory, rule,
normalised values) takes a transaction-scoped advisory lock, in sorted order so that two
upserts never deadlock (a bulk import chunk instead takes the directory's dedup lock
exclusively, which every single upsert holds shared); two incoming contacts that could match each other share at least one
key, so the second waits for the first to commit and then finds its contact. On SQLite the
transaction is BEGIN IMMEDIATE (see settings), which already serialises writers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from django.db import connection

from closeloop.directory.models import Contact, Directory, MailingList


def _advisory_key(directory_id: int, key: str) -> int:
    digest = hashlib.blake2b(f"closeloop.directory:{directory_id}:{key}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def lock_dedup_keys(directory: Directory, keys: Iterable[str]) -> None:
    """Hold until the end of the transaction a lock per dedup key (no-op on SQLite).

    Also takes the directory's dedup lock in shared mode, so that a bulk import (which takes it
    exclusively, see lock_directory_dedup) and single upserts exclude each other.
    """
    if connection.vendor != "postgresql":
        return
    numbers = sorted({_advisory_key(directory.pk, key) for key in keys})
    if not numbers:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock_shared(%s)", [_advisory_key(directory.pk, "*")]
        )
        for number in numbers:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [number])


def lock_directory_dedup(directory: Directory) -> None:
    """One exclusive lock for a whole import chunk: no upsert of this directory runs meanwhile
    (a chunk has thousands of keys; one lock each would crowd PostgreSQL's lock table)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_advisory_key(directory.pk, "*")])


def contacts_for_update(directory: Directory):
    return Contact.objects.select_for_update().filter(directory=directory)


def contact_for_update(contact: Contact) -> Contact:
    return Contact.objects.select_for_update().get(pk=contact.pk)


def mailing_list_for_update(mailing_list: MailingList) -> MailingList:
    return MailingList.objects.select_for_update().get(pk=mailing_list.pk)


def directory_for_update(directory: Directory) -> Directory:
    return Directory.objects.select_for_update().get(pk=directory.pk)
