"""Finding the stored contacts that dedup lookups match: one lookup (find_duplicate) or every
value of an import chunk at once (probed_ids)."""

from __future__ import annotations

import functools
from collections.abc import Mapping

from django.db import connection
from django.db.models import F, Q

from closeloop.directory import dedup, locks, match_indexes
from closeloop.directory.actions.fields import MATCH_COLUMNS
from closeloop.directory.models import Contact, Directory


def lookup_filter(lookup: dedup.Lookup) -> tuple[dict, Q]:
    aliases, conditions = {}, Q()
    for number, (field, value) in enumerate(lookup.conditions):
        if field in MATCH_COLUMNS:
            conditions &= Q(**{MATCH_COLUMNS[field]: value})
        else:
            alias = f"embedded_match_{number}"
            aliases[alias] = match_indexes.embedded_match(field)
            conditions &= Q(**{alias: value})
    return aliases, conditions


def find_duplicate(directory: Directory, lookup: dedup.Lookup, *, for_update: bool = False):
    """The oldest contact of the directory matching one dedup lookup, or None."""
    fields = tuple(field for field, _value in lookup.conditions)
    if all(field in MATCH_COLUMNS for field in fields):
        # Every upsert runs this: one SQL text per rule shape, built once, spares the ORM's
        # query compilation (most of a lookup's time at ~0.1 ms in the database).
        sql = _duplicate_sql(fields, for_update and connection.features.has_select_for_update)
        values = [value for _field, value in lookup.conditions]
        return next(iter(Contact.objects.raw(sql, [directory.pk, *values])), None)
    aliases, conditions = lookup_filter(lookup)
    queryset = locks.contacts_for_update(directory) if for_update else directory.contacts.all()
    return queryset.alias(**aliases).filter(conditions).order_by(_OLDEST_FIRST).first()


# Ordering by id + 0 keeps PostgreSQL on the (directory, field) index, then sorting the few
# matches; "ORDER BY id LIMIT 1" may walk the whole directory by id instead when its
# statistics lag behind (right after a large import).
_OLDEST_FIRST = (F("id") + 0).asc()


@functools.cache
def _duplicate_sql(fields: tuple[str, ...], for_update: bool) -> str:
    quote = connection.ops.quote_name
    matches = " AND ".join(f"{quote(MATCH_COLUMNS[field])} = %s" for field in fields)
    return (
        f"SELECT * FROM {quote(Contact._meta.db_table)} WHERE {quote('directory_id')} = %s "
        f"AND {matches} ORDER BY {quote('id')} + 0 LIMIT 1" + (" FOR UPDATE" if for_update else "")
    )


def probed_ids(directory: Directory, probes: Mapping[tuple, set]) -> set[int]:
    """Ids of the contacts holding any probed value (chunks.ChunkRows.probes' form)."""
    ids: set[int] = set()
    for fields, values in probes.items():
        if values:
            rows = sorted(values)
            columns = [rows] if len(fields) == 1 else [list(c) for c in zip(*rows, strict=True)]
            ids.update(matching_ids(directory, fields, columns))
    return ids


def matching_ids(
    directory: Directory, fields: tuple[str, ...], columns: list[list[str]]
) -> list[int]:
    """Ids of the directory's contacts whose match forms of `fields` equal one of the
    wanted rows (`columns`: a list of values per field, the i-th values making a row)."""
    if all(field in MATCH_COLUMNS for field in fields) and connection.vendor == "postgresql":
        return _probe_match_columns(directory, fields, columns)
    rows = list(zip(*columns, strict=True))
    batch = 900 // len(fields)  # older SQLite allows 999 variables a statement
    ids = []
    for start in range(0, len(rows), batch):
        part = rows[start : start + batch]
        contacts = directory.contacts.all()
        if len(fields) == 1 and fields[0] in MATCH_COLUMNS:
            wanted = [value for (value,) in part]
            contacts = contacts.filter(**{f"{MATCH_COLUMNS[fields[0]]}__in": wanted})
        elif len(fields) == 1:
            wanted = [value for (value,) in part]
            contacts = contacts.alias(
                embedded_match=match_indexes.embedded_match(fields[0])
            ).filter(embedded_match__in=wanted)
        else:  # standard fields only (dedup.probe_fields)
            condition = Q()
            for row in part:
                condition |= Q(**{MATCH_COLUMNS[f]: v for f, v in zip(fields, row, strict=True)})
            contacts = contacts.filter(condition)
        ids.extend(contacts.values_list("id", flat=True))
    return ids


def _probe_match_columns(
    directory: Directory, fields: tuple[str, ...], columns: list[list[str]]
) -> list[int]:
    """matching_ids on PostgreSQL: one index probe per wanted value (LATERAL), so the plan
    cannot turn into a scan of the directory, however stale the table's statistics are in
    the middle of a large import."""
    quote = connection.ops.quote_name
    table = quote(Contact._meta.db_table)
    arrays, parameters = [], []
    for column_values in columns:
        # Each field's values as one text split by PostgreSQL: psycopg writes a list
        # parameter element by element in Python (a few µs each, thousands per chunk).
        joined = _UNIT_SEPARATOR.join(column_values)
        if joined.count(_UNIT_SEPARATOR) == len(column_values) - 1:
            arrays.append("string_to_array(%s, E'\\x1f')")
            parameters.append(joined)
        else:  # a value holds the separator
            arrays.append("%s::text[]")
            parameters.append(list(column_values))
    names = [f"v{number}" for number in range(len(fields))]
    matches = " AND ".join(
        f"{quote(MATCH_COLUMNS[field])} = wanted.{name}"
        for field, name in zip(fields, names, strict=True)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT found.id FROM unnest({', '.join(arrays)}) AS wanted({', '.join(names)}) "
            f"CROSS JOIN LATERAL (SELECT id FROM {table} WHERE directory_id = %s AND {matches}"
            f" OFFSET 0) AS found",  # OFFSET 0: keeps the probe per value (no flattening)
            [*parameters, directory.pk],
        )
        return [pk for (pk,) in cursor.fetchall()]


_UNIT_SEPARATOR = "\x1f"
