"""Indexes for dedup rules that begin with an embedded data field.

The standard fields' match columns have their indexes in the model. An embedded data field can
have any name, so a directory whose rules begin with one gets a partial expression index of
its own: lower(trim(embedded_data ->> name)) over that directory's contacts, the very
expression that find_duplicate and an import's probes compare (embedded_match). The rule's
first field is what an import probes; find_duplicate's AND of a rule's fields is answered by
the same index.

sync() builds what the rules need and drops what they no longer need; a job runs it after
the rules change (update_directory_settings). It builds CONCURRENTLY, so imports and API
writes go on meanwhile; until the index is valid, lookups are right but slow. PostgreSQL
only: SQLite binds the JSON path and the directory as parameters, so its planner could not
match such an index to the lookups anyway (the embedded database is for smaller directories).
"""

from __future__ import annotations

import hashlib
import logging

from django.db import connection, models
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Lower, Trim

from closeloop.directory import dedup
from closeloop.directory.models import Contact, Directory

log = logging.getLogger("closeloop.directory.match_indexes")

PREFIX = "contact_dedup_"


def supported() -> bool:
    return connection.vendor == "postgresql"


def embedded_match(field: str) -> Lower:
    """An embedded data field's match form in SQL (dedup.normalize_text for ASCII values)."""
    return Lower(Trim(KeyTextTransform(field, "embedded_data")))


def index_name(directory_id: int, field: str) -> str:
    digest = hashlib.blake2b(field.encode(), digest_size=6).hexdigest()
    return f"{PREFIX}{directory_id}_{digest}"


def indexed_fields(directory: Directory) -> list[str]:
    """The embedded data fields that begin one of the directory's rules."""
    fields = {rule[0] for rule in directory.dedup_rules if rule}
    return sorted(fields - set(dedup.STANDARD_FIELDS))


def wanted(directory: Directory) -> dict[str, models.Index]:
    """Index name -> index, for each of the directory's indexed_fields."""
    return {
        index_name(directory.pk, field): models.Index(
            embedded_match(field),
            name=index_name(directory.pk, field),
            condition=models.Q(directory_id=directory.pk),
        )
        for field in indexed_fields(directory)
    }


def existing(directory_id: int) -> dict[str, bool]:
    """Index name -> valid, for the directory's rule indexes in the database."""
    if not supported():
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT index.relname, pg_index.indisvalid FROM pg_index "
            "JOIN pg_class AS index ON index.oid = pg_index.indexrelid "
            "WHERE pg_index.indrelid = %s::regclass AND index.relname LIKE %s",
            [Contact._meta.db_table, f"{PREFIX}{directory_id}\\_%"],
        )
        return {name: bool(valid) for name, valid in cursor.fetchall()}


def states(directory: Directory) -> list[tuple[str, str]]:
    """(field, "ready" or "building") for each embedded data field a rule begins with, for
    the settings page; empty where there are no such indexes (SQLite)."""
    if not supported():
        return []
    present = existing(directory.pk)
    return [
        (field, "ready" if present.get(index_name(directory.pk, field)) else "building")
        for field in indexed_fields(directory)
    ]


def sync(directory_id: int) -> dict[str, list[str]]:
    """Make the directory's rule indexes what its rules need ({"created", "dropped"})."""
    if not supported():
        return {"created": [], "dropped": []}
    directory = Directory.objects.filter(pk=directory_id).first()
    needed = wanted(directory) if directory is not None else {}
    present = existing(directory_id)
    # A concurrent build that failed leaves an invalid index behind: built again.
    dropped = sorted(name for name, valid in present.items() if name not in needed or not valid)
    created = sorted(name for name in needed if not present.get(name))
    for name in dropped:
        _run(_drop_sql(name))
    for name in created:
        _run(_create_sql(needed[name]))
    if dropped or created:
        log.info(
            "directory %s: rule indexes created %s, dropped %s", directory_id, created, dropped
        )
    return {"created": created, "dropped": dropped}


def _concurrently() -> bool:
    # Not possible inside a transaction (the tests' own, for instance).
    return not connection.in_atomic_block


def _create_sql(index: models.Index) -> str:
    editor = connection.schema_editor()
    options = {"concurrently": True} if _concurrently() else {}
    return str(index.create_sql(Contact, editor, **options))


def _drop_sql(name: str) -> str:
    concurrently = " CONCURRENTLY" if _concurrently() else ""
    return f"DROP INDEX{concurrently} IF EXISTS {connection.ops.quote_name(name)}"


def _run(sql: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql)
