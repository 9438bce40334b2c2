"""CSV import and export of contacts.

Import reads the file in chunks; each chunk is upserted with the directory's dedup rules
(actions.upsert_contacts_bulk) and committed together with the import's progress, so a job
that is retried resumes after the last committed row and never imports a row twice. Bad rows
are rejected with their row number and the reason; good rows land.

Row numbers are spreadsheet row numbers: the header is row 1, the first contact row 2.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import logging
import multiprocessing
import queue
import re
import threading
import traceback
from collections.abc import Callable, Iterator

from django.db import connection, transaction
from django.utils import timezone

from closeloop.directory import actions, chunks
from closeloop.directory.import_files import ImportProblem, column_plan, count_rows, read_rows
from closeloop.directory.models import Contact, ContactImport, ImportStatus

log = logging.getLogger("closeloop.directory.imports")

CHUNK_ROWS = 5000
# From this many rows on, the rows are checked in a second process.
PARALLEL_MIN_ROWS = 50_000


def run_import(
    contact_import: ContactImport,
    *,
    progress: Callable[[ContactImport], None] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> ContactImport:
    """Import the file from where it stopped. Never raises for bad data: a problem with the
    whole file marks the import failed with the reason."""
    contact_import.status = ImportStatus.RUNNING
    contact_import.started_at = contact_import.started_at or timezone.now()
    contact_import.save(update_fields=["status", "started_at"])
    try:
        if contact_import.total_rows is None:
            with contact_import.file.open("rb") as handle:
                contact_import.total_rows = count_rows(handle)
            contact_import.save(update_fields=["total_rows"])
        with contact_import.file.open("rb") as handle:
            _import_rows(contact_import, handle, progress, chunk_rows)
    except ImportProblem as problem:
        contact_import.status = ImportStatus.FAILED
        contact_import.error = str(problem)
    else:
        contact_import.status = ImportStatus.FINISHED
    contact_import.finished_at = timezone.now()
    contact_import.save(update_fields=["status", "error", "finished_at"])
    if contact_import.mailing_list_id:
        actions.recount_mailing_list(contact_import.mailing_list)
    refresh_statistics(contact_import.created_count)
    if progress:
        progress(contact_import)
    return contact_import


def refresh_statistics(added: int = 0) -> None:
    """After an import (or part of one) that `added` contacts, let PostgreSQL's planner know
    how many contacts there now are when its statistics are well behind (with statistics of
    an empty table it may walk a directory by id instead of probing the right index), and
    merge the embedded data index's pending list, which every search would otherwise read
    through. ANALYZE samples the table (most of a second at a million contacts): it runs
    only when the planner's count is under 80 % of what it should be; autovacuum keeps
    statistics up to date otherwise."""
    if connection.vendor != "postgresql":
        return
    table = Contact._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT greatest(reltuples, 0), n_live_tup FROM pg_class "
            "JOIN pg_stat_user_tables ON relid = pg_class.oid WHERE pg_class.oid = %s::regclass",
            [table],
        )
        planned, live = cursor.fetchone() or (0, 0)
        if planned < 0.8 * max(live, added):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
        cursor.execute(
            "SELECT gin_clean_pending_list(index.oid) FROM pg_class AS index "
            "WHERE index.relname = 'contact_embedded_gin' AND index.relkind = 'i'"
        )


def _import_rows(contact_import, handle, progress, chunk_rows: int) -> None:
    first = next(read_rows(handle), None)
    if first is None:
        raise ImportProblem("The file is empty.")
    plan = column_plan(first[1])
    directory = contact_import.directory
    remaining = (contact_import.total_rows or 0) - contact_import.processed_rows
    check = functools.partial(
        chunks.check_chunk_columns,
        plan=plan,
        rules=directory.dedup_rules,
        region=directory.default_phone_region,
    )
    produce = functools.partial(
        _checked_chunks, handle, contact_import.processed_rows, chunk_rows, check
    )
    checked = _in_second_process(produce) if remaining >= PARALLEL_MIN_ROWS else produce()
    next_analyze = chunk_rows
    for chunk in checked:
        _commit_chunk(contact_import, chunk)
        if next_analyze and contact_import.created_count >= next_analyze:
            # Statistics of an empty table (0 rows) make PostgreSQL probe by (directory, id)
            # and filter, which walks the whole directory for each value of the chunk. Once
            # they show the directory's contacts the plan stays right however many more
            # arrive (the planner scales its row counts with the table's size): looked at
            # once, after the first chunk.
            refresh_statistics(contact_import.created_count)
            next_analyze = 0
        if progress and chunk.size == chunk_rows:
            progress(contact_import)


def _checked_chunks(handle, skip: int, chunk_rows: int, check) -> Iterator[chunks.ChunkRows]:
    """The file's chunks after the `skip` rows already imported, checked, in file order."""
    handle.seek(0)
    rows = read_rows(handle)
    next(rows)  # the header
    for part in _chunk_lines(rows, skip, chunk_rows):
        yield check(part)


def _chunk_lines(rows, skip: int, chunk_rows: int) -> Iterator[list[tuple[int, list[str]]]]:
    """The file's lines after the `skip` already imported, chunk by chunk; a blank line has
    cells [] (skipped, still counted)."""
    chunk: list[tuple[int, list[str]]] = []
    for number, cells in rows:
        if skip:
            skip -= 1
            continue
        chunk.append((number, cells if "".join(cells).strip() else []))
        if len(chunk) >= chunk_rows:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _in_second_process(produce: Callable[[], Iterator]) -> Iterator:
    """produce()'s items, made in a forked child process while this one uses the last.

    Reading and checking the file is about half of a large import's work: the child does it
    (from the open file it inherits) and sends each checked chunk down a pipe, whose writes
    block once this process is a chunk behind. fork, not spawn: a spawned process would run
    the program's main module again (not every entry point guards it); the child runs only
    pure Python (csv, chunks) and leaves by os._exit, so it never touches the parent's
    database connections."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_produce_into, args=(produce, sender), daemon=True)
    child.start()
    sender.close()
    # A thread receives (and unpickles) the next chunk while this one waits on the database.
    received: queue.Queue = queue.Queue(maxsize=1)
    receiving = threading.Thread(
        target=_receive_into, args=(receiver, received), daemon=True, name="import-receiver"
    )
    receiving.start()
    try:
        while True:
            kind, payload = received.get()
            if kind == "item":
                yield payload
            elif kind == "problem":
                raise ImportProblem(payload)
            elif kind == "error":
                raise RuntimeError(f"The import's checking process failed:\n{payload}")
            elif kind == "gone":
                raise RuntimeError("The import's checking process stopped unexpectedly.")
            else:
                return
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        while receiving.is_alive():  # the child is gone: the thread ends once it can put
            with contextlib.suppress(queue.Empty):
                received.get(timeout=0.1)
        receiver.close()


def _receive_into(receiver, received: queue.Queue) -> None:
    while True:
        try:
            message = receiver.recv()
        except (EOFError, OSError):
            message = ("gone", None)
        received.put(message)
        if message[0] != "item":
            return


def _produce_into(produce: Callable[[], Iterator], sender) -> None:
    try:
        for item in produce():
            sender.send(("item", item))
        sender.send(("end", None))
    except ImportProblem as problem:
        sender.send(("problem", str(problem)))
    except BaseException:  # reported to the importing process, which raises it
        sender.send(("error", traceback.format_exc()))
    finally:
        sender.close()


def _prepare_chunk_transaction() -> None:
    """On PostgreSQL the chunk's commit does not wait for its WAL flush. Safe here: the rows
    and the import's progress commit together, so a crash can only lose whole chunks, which
    the resumed import then does again; and the job's own (synchronous) completion flushes
    every chunk before it. It spares a disk flush per chunk (hundreds per large import).

    The embedded data index's pending list may grow to 4 MB in a chunk (other sessions keep
    it at 256 kB, see settings): merged into the index in larger batches it costs less per
    row; refresh_statistics merges what is left when the import ends. The merge sorts the
    list's entries in work_mem: with PostgreSQL's default 4 MB it writes them to the index
    in several passes, and a million-row import's COPY took about a seventh longer than with
    64 MB (measured on PostgreSQL 15)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            cursor.execute("SET LOCAL gin_pending_list_limit TO '4MB'")
            cursor.execute("SET LOCAL work_mem TO '64MB'")


def _commit_chunk(contact_import: ContactImport, chunk: chunks.ChunkRows) -> None:
    with transaction.atomic():
        _prepare_chunk_transaction()
        counts = actions.upsert_import_chunk(
            contact_import.directory, chunk, mailing_list=contact_import.mailing_list
        )
        room = ContactImport.MAX_REJECTIONS_KEPT - len(contact_import.rejections)
        contact_import.rejections = contact_import.rejections + chunk.rejected[: max(0, room)]
        contact_import.processed_rows += chunk.size
        contact_import.created_count += counts["created"]
        contact_import.updated_count += counts["updated"]
        contact_import.skipped_count += counts["skipped"] + chunk.skipped
        contact_import.rejected_count += len(chunk.rejected)
        contact_import.save(
            update_fields=[
                "rejections",
                "processed_rows",
                "created_count",
                "updated_count",
                "skipped_count",
                "rejected_count",
            ]
        )


# Export ------------------------------------------------------------------------------------

EXPORT_FIELDS = [
    ("contactId", "public_id"),
    ("firstName", "first_name"),
    ("lastName", "last_name"),
    ("email", "email"),
    ("phone", "phone"),
    ("extRef", "ext_ref"),
    ("language", "language"),
    ("unsubscribed", "unsubscribed"),
]
_NUMBER = re.compile(r"^[+-][\d\s().-]*$")


def safe_cell(value) -> str:
    """Neutralise spreadsheet formulas (=, @, +, - …) but keep phone numbers as they are."""
    text = "" if value is None else str(value)
    if isinstance(value, bool):
        text = "true" if value else "false"
    if not text:
        return text
    if text[0] in "=@\t\r" or (text[0] in "+-" and not _NUMBER.match(text)):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def export_rows(contacts_queryset, batch: int = 2000) -> Iterator[str]:
    """CSV lines for a queryset of contacts, walked by id (keyset), embedded data as columns."""
    names: set[str] = set()
    after = 0
    while True:
        part = list(
            contacts_queryset.filter(id__gt=after)
            .order_by("id")
            .values_list("id", "embedded_data")[:batch]
        )
        if not part:
            break
        for _pk, data in part:
            names.update(data or {})
        after = part[-1][0]
    embedded_names = sorted(names)
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow([name for name, _attr in EXPORT_FIELDS] + embedded_names)
    after = 0
    while True:
        rows: list[Contact] = list(contacts_queryset.filter(id__gt=after).order_by("id")[:batch])
        if not rows:
            break
        for contact in rows:
            cells = [safe_cell(getattr(contact, attr)) for _name, attr in EXPORT_FIELDS]
            cells += [safe_cell(contact.embedded_data.get(name, "")) for name in embedded_names]
            yield writer.writerow(cells)
        after = rows[-1].pk
