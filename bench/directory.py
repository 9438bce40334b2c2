"""XM Directory at scale: CSV import of N contacts next to a raw COPY, then dedup matching and
search latencies with N contacts in the directory.

    .venv/bin/python bench/directory.py [--contacts 1000000] [--samples 2000] [--chunk 5000]

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/closeloop_bench_directory
(created if missing; the directory's tables are emptied first). A SQLite URL works too, with
no COPY baseline (copy_rows_per_s=0).

- import: the same code path as the Import page and `closeloop import-contacts` (chunked bulk
  upsert under the dedup rules [["extRef"], ["email"]], progress committed per chunk): N
  contacts with 3 embedded fields into an empty directory, then N/10 more of which half are
  people already there (a changed Tier: merged, not duplicated); contacts_per_s is the rows
  of both files over the time of both imports;
- baseline: PostgreSQL COPY of the same two CSVs into an unlogged table of text columns, the
  cheapest way to get those rows into the database;
- match: the dedup lookups of one incoming contact (what upsert_contact runs before writing),
  for existing people (by extRef or by email) and for new ones (every rule misses);
- search: the contacts page's search box (exact email, phone, name/extRef prefix) and the API's
  search filter, first page of 50.

The last line is machine-readable:
contacts_per_s=… copy_rows_per_s=… ratio=… match_p99_ms=… search_p99_ms=…
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from common import cpu_check_ms, ensure_postgres_database, set_up_django

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/closeloop_bench_directory"
FIRST = ["Jane", "John", "Émile", "Aiko", "Carlos", "Fatima", "Liam", "Mia", "Noah", "Olga"]
LAST = ["Doe", "Smith", "Zola", "Tanaka", "García", "Khan", "Murphy", "Rossi", "Brown", "Ivanova"]
HEADER = [
    "First Name",
    "Last Name",
    "Email",
    "Phone",
    "External Data Reference",
    "Store",
    "Tier",
    "Since",
]


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=2_000)
    parser.add_argument("--chunk", type=int, default=5_000, help="rows per committed chunk")
    return parser.parse_args()


def person(n: int) -> list[str]:
    first, last = FIRST[n % len(FIRST)], LAST[(n // 10) % len(LAST)]
    return [
        first,
        last,
        f"{first.lower()}.{last.lower()}.{n}@example.com",
        f"+1415{2000000 + n % 8000000:07d}",
        f"user_{n}",
        f"Store {n % 300}",
        ("Gold", "Silver", "Bronze")[n % 3],
        f"{2010 + n % 15}-{1 + n % 12:02d}-{1 + n % 28:02d}",
    ]


def write_csv(path: Path, people) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(people)


def second_file_people(count: int):
    """count // 10 rows: half are people of the first file with a new Tier, half are new."""
    extra = count // 10
    returning = random.Random(3).sample(range(count), extra // 2)
    for n in returning:
        yield [*person(n)[:6], "Platinum", person(n)[7]]
    for n in range(count, count + extra - len(returning)):
        yield person(n)


def fresh_directory():
    from closeloop.accounts.models import Organization
    from closeloop.directory.models import Contact, ContactImport, Directory

    organization, _ = Organization.objects.get_or_create(
        brand_id="bench-directory", defaults={"name": "Bench directory"}
    )
    # Raw deletes: Django's cascading delete would load every contact of the last run.
    from django.db import connection

    with connection.cursor() as cursor:
        for model in (ContactImport, Contact, Directory):
            cursor.execute(
                f"DELETE FROM {model._meta.db_table} WHERE organization_id = %s",
                [organization.pk],
            )
        if connection.vendor == "postgresql":
            # Rewritten compact: each run starts from the same table and indexes, not from
            # the free space and index bloat the last run's million rows left behind.
            cursor.execute(f"VACUUM FULL ANALYZE {Contact._meta.db_table}")
    return Directory.objects.create(organization=organization, name="Bench", is_default=True)


def run_import(directory, path: Path, chunk: int) -> tuple[int, float]:
    """(rows imported, seconds)."""
    from django.core.files import File
    from django.db import connection

    from closeloop.directory import imports
    from closeloop.directory.models import ContactImport

    with path.open("rb") as handle:
        contact_import = ContactImport(
            organization_id=directory.organization_id, directory=directory, original_name="bench"
        )
        contact_import.file.save("bench.csv", File(handle), save=False)
    contact_import.save()
    last = [time.perf_counter()]

    def progress(current) -> None:
        now = time.perf_counter()
        if now - last[0] > 10:
            last[0] = now
            print(f"  … {current.processed_rows} of {current.total_rows} rows", flush=True)

    started, cpu = time.perf_counter(), time.process_time()
    imports.run_import(contact_import, progress=progress, chunk_rows=chunk)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    contact_import.file.delete(save=False)
    print(
        f"import: {contact_import.created_count} created, {contact_import.updated_count} "
        f"updated, {contact_import.rejected_count} rejected in {elapsed:.1f} s "
        f"({cpu:.1f} s of CPU in this process)"
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE directory_contact")
    rows = contact_import.created_count + contact_import.updated_count
    return rows + contact_import.skipped_count + contact_import.rejected_count, elapsed


def copy_baseline(paths: list[Path]) -> float:
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0
    columns = ", ".join(f"c{n} text" for n in range(len(HEADER)))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy_baseline")
        cursor.execute(f"CREATE UNLOGGED TABLE bench_copy_baseline ({columns})")
        started = time.perf_counter()
        for path in paths:
            with path.open("rb") as handle:
                copy_sql = "COPY bench_copy_baseline FROM STDIN WITH (FORMAT csv, HEADER true)"
                with cursor.cursor.copy(copy_sql) as copy:
                    while data := handle.read(1 << 20):
                        copy.write(data)
        elapsed = time.perf_counter() - started
        cursor.execute("SELECT count(*) FROM bench_copy_baseline")
        rows = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_copy_baseline")
    print(f"COPY baseline: {rows} rows in {elapsed:.2f} s")
    return rows / elapsed


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


def bench_match(directory, count: int, samples: int) -> tuple[float, float]:
    from closeloop.directory import actions, dedup

    rng = random.Random(7)
    timings = []
    for index in range(samples):
        n = rng.randrange(count)
        first, _last, email, _phone, ext_ref, *_embedded = person(n)
        kind = index % 3
        if kind == 0:  # existing, by extRef
            fields = {"extRef": ext_ref, "email": email}
        elif kind == 1:  # existing, by email (no extRef given)
            fields = {"email": email.upper(), "firstName": first}
        else:  # a new person: every rule misses
            fields = {"extRef": f"new_{n}", "email": f"new.{n}@example.org"}
        started = time.perf_counter()
        found = None
        for lookup in dedup.lookups(directory.dedup_rules, fields, {}, "US"):
            found = actions.find_duplicate(directory, lookup)
            if found is not None:
                break
        timings.append(time.perf_counter() - started)
        assert (found is None) == (kind == 2), (fields, found)
    return percentiles(timings)


def bench_search(directory, count: int, samples: int) -> tuple[float, float]:
    from closeloop.directory import queries, search

    rng = random.Random(11)
    timings = []
    for index in range(samples):
        n = rng.randrange(count)
        first, last, email, phone, ext_ref, *_embedded = person(n)
        kind = index % 5
        started = time.perf_counter()
        if kind == 4:  # the API filter Segment sends
            condition = search.to_condition(
                {
                    "conjunction": "and",
                    "filters": [
                        {"filterType": "extRef", "comparison": "eq", "value": ext_ref},
                        {"filterType": "email", "comparison": "eq", "value": email},
                    ],
                }
            )
            rows, _ = queries.filtered_contacts(
                directory.organization, directory, condition, limit=50
            )
        else:
            term = [email, phone, f"{first} {last[:2]}", f"user_{n}"][kind]
            rows, _ = queries.contacts_page(
                directory.organization, directory, search=term, limit=50
            )
        timings.append(time.perf_counter() - started)
        assert rows, (kind, n)
    return percentiles(timings)


def main() -> None:
    arguments = parse_arguments()
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if url.startswith("postgres"):
        ensure_postgres_database(url)
    set_up_django(url)
    from django.db import connection

    directory = fresh_directory()
    check_before = cpu_check_ms()
    with tempfile.TemporaryDirectory() as folder:
        first, second = Path(folder) / "contacts.csv", Path(folder) / "more.csv"
        started = time.perf_counter()
        write_csv(first, map(person, range(arguments.contacts)))
        write_csv(second, second_file_people(arguments.contacts))
        size = (first.stat().st_size + second.stat().st_size) / 1e6
        print(
            f"{connection.vendor}: wrote {arguments.contacts} + {arguments.contacts // 10} "
            f"contacts ({size:.0f} MB) in {time.perf_counter() - started:.1f} s"
        )
        copy_rows_per_s = copy_baseline([first, second])
        rows, seconds = 0, 0.0
        for path in (first, second):
            imported, elapsed = run_import(directory, path, arguments.chunk)
            rows, seconds = rows + imported, seconds + elapsed
        contacts_per_s = rows / seconds
    match_p50, match_p99 = bench_match(directory, arguments.contacts, arguments.samples)
    print(f"match at {arguments.contacts}: p50 {match_p50:.2f} ms, p99 {match_p99:.2f} ms")
    search_p50, search_p99 = bench_search(directory, arguments.contacts, arguments.samples)
    print(f"search at {arguments.contacts}: p50 {search_p50:.2f} ms, p99 {search_p99:.2f} ms")
    print(f"cpu check (a fixed loop): {check_before:.0f} ms before, {cpu_check_ms():.0f} ms after")
    ratio = contacts_per_s / copy_rows_per_s if copy_rows_per_s else 0.0
    print(
        f"contacts_per_s={contacts_per_s:.0f} copy_rows_per_s={copy_rows_per_s:.0f} "
        f"ratio={ratio:.3f} match_p99_ms={match_p99:.2f} search_p99_ms={search_p99:.2f}"
    )


if __name__ == "__main__":
    main()
