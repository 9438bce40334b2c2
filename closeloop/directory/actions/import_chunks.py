"""upsert_import_chunk: the rows of an import chunk upserted as upsert_checked_rows would,
built for a million rows (most rows stay columns of the chunk, never objects)."""

from __future__ import annotations

import collections
import itertools
import json
from collections.abc import Mapping
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from closeloop.directory import chunks, dedup, locks
from closeloop.directory.actions.drafts import (
    STORED_FIELDS,
    Draft,
    bulk_create_drafts,
    next_contact_ids,
    update_contacts,
)
from closeloop.directory.actions.fields import (
    FIELD_ATTRIBUTES,
    MATCH_COLUMNS,
    check_list,
    merge_into,
)
from closeloop.directory.actions.lists import add_ids_to_list
from closeloop.directory.actions.matching import probed_ids
from closeloop.directory.models import Contact, Directory, MailingList, new_contact_ids


def upsert_import_chunk(
    directory: Directory, chunk: chunks.ChunkRows, *, mailing_list: MailingList | None = None
) -> dict[str, int]:
    """upsert_checked_rows for a checked import chunk (chunks.check_chunk_columns), with the
    same rules and the same result, and {"created", "updated", "skipped"} counts.

    Built for a million rows: a row that matches nothing (most rows of an import) stays a
    position in the chunk's columns and is written with the COPY text the checking process
    made for it; only rows that merge become objects. Call it inside a transaction.
    """
    check_list(directory, mailing_list)
    now = timezone.now()
    with transaction.atomic():
        locks.lock_directory_dedup(directory)
        merger = _ChunkMerger(directory, chunk, now)
        for stored in _stored_matches(directory, chunk.probes):
            merger.remember(stored)
        merger.merge_rows()
        _insert_new_rows(directory, chunk, merger, now)
        update_contacts(list(merger.dirty.values()))
        if mailing_list is not None:
            add_ids_to_list(mailing_list, merger.row_contact_ids())
    return merger.counts


def _stored_matches(directory: Directory, probes: Mapping[tuple, set[tuple]]) -> list:
    """The directory's contacts that may match a row of the chunk (one indexed query per
    rule, dedup.probe_fields), read and locked for update, oldest first; on PostgreSQL as
    Draft objects (no model instance: the second file of an import may match half its
    rows)."""
    ids = probed_ids(directory, probes)
    if not ids:
        return []
    if connection.vendor != "postgresql":
        return list(locks.contacts_for_update(directory).filter(pk__in=sorted(ids)).order_by("pk"))
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(quote(field.column) for field in STORED_FIELDS)} "
            f"FROM {quote(Contact._meta.db_table)} WHERE {quote('id')} = ANY(%s) "
            f"ORDER BY {quote('id')} FOR UPDATE",
            [sorted(ids)],
        )
        return [Draft.stored(row) for row in cursor.fetchall()]


class _ChunkMerger:
    """The dedup pass over a chunk, as upsert_checked_rows does it row by row.

    A holder of a key is a stored Contact, a Draft, or (for a new row nothing merged into
    yet) the row's position. The oldest holder wins: stored ones by id, then new ones in row
    order, as in find_duplicate."""

    def __init__(self, directory: Directory, chunk: chunks.ChunkRows, now: datetime):
        self.directory, self.chunk, self.now = directory, chunk, now
        self.index: dict[str, list] = {}  # key -> holders
        self.current_keys: dict[int, set[str]] = {}  # id(object holder) -> its keys now
        self.rank: dict[int, tuple[int, int]] = {}  # id(object holder) -> age
        self.drafts: dict[int, Draft] = {}  # row position -> its draft, once it has one
        self.holder_of_row: list = [None] * len(chunk)
        self.dirty: dict[int, Contact] = {}
        self.counts = {"created": 0, "updated": 0, "skipped": 0}
        self.new_ids: dict[int, int] = {}  # position -> id, for rows stored from their line

    def remember(self, holder, keys: set[str] | None = None, position: int = -1) -> None:
        if keys is None:
            keys = self._holder_keys(holder)
        self.current_keys[id(holder)] = keys
        if id(holder) not in self.rank:
            self.rank[id(holder)] = (0, holder.pk) if holder.pk else (1, position)
        for key in keys:
            holders = self.index.setdefault(key, [])
            if holder not in holders:
                holders.append(holder)

    def _holder_keys(self, holder) -> set[str]:
        """dedup.lookups' keys for a contact, from its match columns (what the probe read)."""
        keys = set()
        for index, rule in enumerate(self.directory.dedup_rules):
            conditions = []
            for field in rule:
                if field in MATCH_COLUMNS:
                    value = getattr(holder, MATCH_COLUMNS[field])
                else:
                    value = dedup.normalize_text(holder.embedded_data.get(field))
                if not value:
                    break
                conditions.append((field, value))
            else:
                if conditions:
                    keys.add(dedup.lookup_key(index, tuple(conditions)))
        return keys

    def merge_rows(self) -> None:
        positions = self._rows_that_may_meet()
        if positions is not None:
            # The other rows share no key with anything: new contacts as they are.
            alone = len(self.chunk) - len(positions)
            self.holder_of_row = list(range(len(self.chunk)))
            self.counts["created"] += alone
            for position in positions:
                self.holder_of_row[position] = None
        index, all_keys = self.index, self.chunk.keys
        for position in range(len(self.chunk)) if positions is None else positions:
            row_keys = [keys[position] for keys in all_keys if keys[position] is not None]
            if any(key in index for key in row_keys):
                self._merge_row(position, row_keys)
                continue
            # Matches nothing: a new contact with exactly the row's values (and keys).
            for key in row_keys:
                index[key] = [position]
            self.holder_of_row[position] = position
            self.counts["created"] += 1

    def _rows_that_may_meet(self) -> list[int] | None:
        """With rules of one field each, the rows (in order) having a key that another row of
        the chunk or a stored contact also has; None when every row must be looked at.

        A contact only ever holds keys made of values some row or stored contact brought, so
        under one-field rules a row none of whose keys appears twice (or on a stored contact)
        can neither match nor be matched: it is a new contact. Under rules of several fields a
        merge can combine values into a key no row had, so every row goes through the index.
        """
        if any(len(rule) != 1 for rule in self.directory.dedup_rules):
            return None
        counts = collections.Counter(itertools.chain.from_iterable(self.chunk.keys))
        counts.pop(None, None)
        given = sum(len(keys) for keys in self.chunk.keys) - sum(
            keys.count(None) for keys in self.chunk.keys
        )
        shared = self.index.keys() & counts.keys()
        if len(counts) != given:
            shared |= {key for key, count in counts.items() if count > 1}
        if not shared:
            return []
        return sorted(
            {
                position
                for keys in self.chunk.keys
                for position, key in enumerate(keys)
                if key in shared
            }
        )

    def _keys_of(self, holder) -> set[str]:
        if isinstance(holder, int):
            return set(self.chunk.row_keys(holder))
        return self.current_keys[id(holder)]

    def _age(self, holder) -> tuple[int, int]:
        return (1, holder) if isinstance(holder, int) else self.rank[id(holder)]

    def _match(self, row_keys: list[str]):
        for key in row_keys:
            holders = [h for h in self.index.get(key, ()) if key in self._keys_of(h)]
            if holders:
                return min(holders, key=self._age)
        return None

    def _merge_row(self, position: int, row_keys: list[str]) -> None:
        chunk = self.chunk
        contact = self._match(row_keys)
        if contact is None:
            self.holder_of_row[position] = self.draft_for(position)
            self.counts["created"] += 1
            return
        if isinstance(contact, int):
            contact = self.draft_for(contact)
        region = self.directory.default_phone_region
        changed = merge_into(
            contact, chunk.row_values(position), chunk.row_embedded(position), region
        )
        if chunk.row_unsubscribe(position) and not contact.unsubscribed:
            contact.unsubscribed, contact.unsubscribed_at = True, self.now
            changed = True
        if changed:
            contact.modified_at = self.now
            if contact.pk is not None:
                self.dirty[contact.pk] = contact
            self.remember(contact)
        self.holder_of_row[position] = contact
        self.counts["updated" if changed else "skipped"] += 1

    def draft_for(self, position: int) -> Draft:
        """The row's new contact as a Draft (made once; replaces the position as holder)."""
        if position in self.drafts:
            return self.drafts[position]
        chunk, draft = self.chunk, Draft(self.directory, self.now)
        for name, column in chunk.values.items():
            setattr(draft, FIELD_ATTRIBUTES[name], column[position])
            if name in MATCH_COLUMNS:
                setattr(draft, MATCH_COLUMNS[name], chunk.normalized[name][position])
        draft.embedded_data = chunk.row_embedded(position)
        if chunk.row_unsubscribe(position):
            draft.unsubscribed, draft.unsubscribed_at = True, self.now
        self.drafts[position] = draft
        keys = set(chunk.row_keys(position))
        self.current_keys[id(draft)], self.rank[id(draft)] = keys, (1, position)
        for key in keys:  # the position may already hold its keys
            holders = self.index.setdefault(key, [])
            holders[:] = [draft if isinstance(h, int) and h == position else h for h in holders]
            if draft not in holders:
                holders.append(draft)
        if isinstance(self.holder_of_row[position], int):
            self.holder_of_row[position] = draft
        return draft

    def new_rows(self) -> list[int]:
        """Positions of the rows that are new contacts, in row order (their ids' order)."""
        return [
            position
            for position, holder in enumerate(self.holder_of_row)
            if holder is not None
            and (isinstance(holder, int) or self.drafts.get(position) is holder)
        ]

    def row_contact_ids(self) -> list[int]:
        """Each row's contact id, once the new ones are stored."""
        return [
            self.new_ids[holder] if isinstance(holder, int) else holder.pk
            for holder in self.holder_of_row
        ]


def _insert_new_rows(directory: Directory, chunk, merger: _ChunkMerger, now: datetime) -> None:
    """Store the chunk's new contacts, ids in row order. On PostgreSQL one COPY: rows that are
    as the file gave them use the text the checking process made; drafts are formatted here."""
    positions = merger.new_rows()
    if not positions:
        return
    for position in positions:  # an unsubscribing row's time is set here: it needs a draft
        if chunk.lines[position] is None:
            merger.draft_for(position)
    public_ids = new_contact_ids(len(positions))
    if connection.vendor != "postgresql":
        drafts = [merger.draft_for(position) for position in positions]
        for draft, public_id in zip(drafts, public_ids, strict=True):
            draft.public_id = public_id
        bulk_create_drafts(drafts)
        return
    with connection.cursor() as cursor:
        ids = next_contact_ids(cursor, len(positions))
        stamp = now.isoformat()
        tenant = f"{directory.organization_id}\t{directory.pk}\t{stamp}\t{stamp}\t"
        columns = ", ".join(map(connection.ops.quote_name, _IMPORT_COPY_COLUMNS))
        table = connection.ops.quote_name(Contact._meta.db_table)
        rows = list(zip(positions, ids, public_ids, strict=True))
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            # In slices: PostgreSQL stores the first while the next is formatted.
            for start in range(0, len(rows), _COPY_SLICE):
                text = []
                for position, pk, public_id in rows[start : start + _COPY_SLICE]:
                    draft = merger.drafts.get(position)
                    if draft is None:
                        merger.new_ids[position] = pk
                        line = chunk.lines[position]
                        text.append(f"{pk}\t{public_id}\t{tenant}f\t\\N\t{line}\n")
                    else:
                        draft.id, draft.public_id = pk, public_id
                        text.append(_draft_line(draft))
                copy.write("".join(text).encode())


_COPY_SLICE = 1000
_IMPORT_COPY_COLUMNS = (
    "id",
    "public_id",
    "organization_id",
    "directory_id",
    "created_at",
    "modified_at",
    "unsubscribed",
    "unsubscribed_at",
    *chunks.LINE_COLUMNS,
)


def _draft_line(draft: Draft) -> str:
    """A draft as one line of COPY text in _IMPORT_COPY_COLUMNS order."""

    def text(value) -> str:
        if value is None:
            return "\\N"
        if isinstance(value, bool):
            return "t" if value else "f"
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, dict):
            value = json.dumps(value)
        return str(value).translate(chunks.COPY_ESCAPES)

    return "\t".join(text(getattr(draft, name)) for name in _IMPORT_COPY_COLUMNS) + "\n"
