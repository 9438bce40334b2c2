"""Contacts written many at a time (bulk upsert, import chunks): drafts that are not model
instances yet, and the INSERT/UPDATE (COPY on PostgreSQL) that store them."""

from __future__ import annotations

import functools
import json
from datetime import datetime

from django.db import connection

from closeloop.directory.actions.fields import FIELD_ATTRIBUTES, MATCH_COLUMNS
from closeloop.directory.models import Contact, Directory, new_contact_ids

# Contact's columns in model order, for COPY and positional Contact(*values).
INSERT_ATTRIBUTES = [field.attname for field in Contact._meta.concrete_fields]
CONTACT_UPDATE_FIELDS = [
    *FIELD_ATTRIBUTES.values(),
    *MATCH_COLUMNS.values(),
    "embedded_data",
    "unsubscribed",
    "unsubscribed_at",
    "modified_at",
]


# Every column but the two times, which the merge never reads (psycopg parses timestamps in
# Python: a tenth of reading a matched contact); modified_at is set when a merge changes it.
STORED_FIELDS = [
    field
    for field in Contact._meta.concrete_fields
    if field.attname not in ("created_at", "modified_at")
]


class Draft:
    """A contact of an import chunk that is not stored yet: the attributes of Contact that the
    merge reads and writes, without the cost of a model instance (~50 µs each, a million of
    them in a large import). Turned into a Contact only when a caller asks for contacts."""

    __slots__ = tuple(INSERT_ATTRIBUTES)

    def __init__(self, directory: Directory, now: datetime):
        for attribute in INSERT_ATTRIBUTES:
            setattr(self, attribute, "")
        self.id = None
        self.organization_id, self.directory_id = directory.organization_id, directory.pk
        self.public_id = ""  # drawn for the whole chunk by insert_contacts
        self.unsubscribed, self.unsubscribed_at = False, None
        self.embedded_data = {}
        self.created_at = self.modified_at = now

    @property
    def pk(self):
        return self.id

    @classmethod
    def stored(cls, row: tuple) -> Draft:
        """A stored contact from its columns (in concrete field order)."""
        draft = cls.__new__(cls)
        draft.created_at = draft.modified_at = None
        for field, value in zip(STORED_FIELDS, row, strict=True):
            setattr(draft, field.attname, value)
        if isinstance(draft.embedded_data, str):  # Django reads jsonb as text
            draft.embedded_data = json.loads(draft.embedded_data)
        draft.embedded_data = draft.embedded_data or {}
        return draft

    def to_contact(self) -> Contact:
        contact = Contact(*[getattr(self, attribute) for attribute in INSERT_ATTRIBUTES])
        contact._state.adding, contact._state.db = False, "default"
        return contact


def copy_rows(cursor, table: str, columns: list[str], rows) -> None:
    """COPY rows into a table; the embedded data column written as JSON text."""
    quote = connection.ops.quote_name
    copy_sql = f"COPY {quote(table)} ({', '.join(map(quote, columns))}) FROM STDIN"
    json_column = columns.index("embedded_data")
    with cursor.cursor.copy(copy_sql) as copy:
        for row in rows:
            row[json_column] = json.dumps(row[json_column])
            copy.write_row(row)


def insert_contacts(drafts: list[Draft]) -> None:
    """bulk_create, or on PostgreSQL a COPY with ids drawn from the sequence first (several
    times faster for import chunks; the rows and their ids are the same)."""
    if not drafts:
        return
    for draft, public_id in zip(drafts, new_contact_ids(len(drafts)), strict=True):
        draft.public_id = public_id
    if connection.vendor != "postgresql":
        bulk_create_drafts(drafts)
        return
    table = Contact._meta.db_table
    columns = [field.column for field in Contact._meta.concrete_fields]
    with connection.cursor() as cursor:
        for draft, pk in zip(drafts, next_contact_ids(cursor, len(drafts)), strict=True):
            draft.id = pk
        rows = ([getattr(draft, a) for a in INSERT_ATTRIBUTES] for draft in drafts)
        copy_rows(cursor, table, columns, rows)


def bulk_create_drafts(drafts: list[Draft]) -> None:
    """Store drafts with bulk_create (SQLite), giving each its id."""
    contacts = [draft.to_contact() for draft in drafts]
    for contact in contacts:
        contact._state.adding = True
    Contact.objects.bulk_create(contacts, batch_size=1000)
    for draft, contact in zip(drafts, contacts, strict=True):
        draft.id = contact.pk


def next_contact_ids(cursor, count: int) -> list[int]:
    """`count` new contact ids from the table's sequence, ascending (PostgreSQL)."""
    cursor.execute(
        "SELECT array_agg(nextval(%s::regclass)) FROM generate_series(1, %s)",
        [_contact_id_sequence(), count],
    )
    return sorted(cursor.fetchone()[0])  # array_agg keeps no order of its own


@functools.cache
def _contact_id_sequence() -> str:
    """The sequence behind contact ids, asked once: pg_get_serial_sequence in the query
    itself runs once per id (a catalog lookup, 6 µs each)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [Contact._meta.db_table])
        return cursor.fetchone()[0]


def update_contacts(contacts: list[Contact]) -> None:
    """Write merged contacts back: bulk_update, or on PostgreSQL one UPDATE … FROM a COPY."""
    if not contacts:
        return
    if connection.vendor != "postgresql":
        contacts = [c.to_contact() if isinstance(c, Draft) else c for c in contacts]
        Contact.objects.bulk_update(contacts, CONTACT_UPDATE_FIELDS, batch_size=500)
        return
    quote = connection.ops.quote_name
    table = quote(Contact._meta.db_table)
    columns = [Contact._meta.get_field(name).column for name in CONTACT_UPDATE_FIELDS]
    assignments = ", ".join(f"{quote(c)} = merged.{quote(c)}" for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE contact_merge ON COMMIT DROP AS "
            f"SELECT id, {', '.join(map(quote, columns))} FROM {table} WITH NO DATA"
        )
        contacts = sorted(contacts, key=lambda contact: contact.pk)  # heap pages in order
        rows = ([c.pk, *(getattr(c, name) for name in CONTACT_UPDATE_FIELDS)] for c in contacts)
        copy_rows(cursor, "contact_merge", ["id", *columns], rows)
        cursor.execute(
            f"UPDATE {table} SET {assignments} FROM contact_merge AS merged "
            f"WHERE {table}.id = merged.id"
        )
        cursor.execute("DROP TABLE contact_merge")
