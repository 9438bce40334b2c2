"""Job ledger throughput: one worker draining N no-op jobs, next to a raw psycopg baseline.

    .venv/bin/python bench/jobs.py [--jobs 20000] [--batch 100] [--baseline-rows 5000]

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/closeloop_bench_jobs (created if
missing). The baseline is the cheapest durable way to move one row through two states: a
single-row INSERT, commit, UPDATE, commit, over raw psycopg into a temporary table.
The last line is machine-readable: jobs_per_s=… baseline_per_s=… ratio=…
"""

from __future__ import annotations

import argparse
import os
import time

from common import ensure_postgres_database, set_up_django

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/closeloop_bench_jobs"
KIND = "bench.noop"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--baseline-rows", type=int, default=5_000)
    return parser.parse_args()


def run_jobs(count: int, batch: int) -> float:
    from django.db import connection

    from closeloop.jobs import actions
    from closeloop.jobs.models import Job, JobStatus
    from closeloop.jobs.registry import job_handler
    from closeloop.jobs.worker import Worker

    job_handler(KIND)(lambda payload, job: None)
    Job.objects.filter(kind=KIND).delete()
    with connection.cursor() as cursor:
        # Start from a clean table; the statistics then predate the burst, as in real life.
        cursor.execute("VACUUM ANALYZE jobs_job")
    started = time.perf_counter()
    actions.enqueue_many(KIND, ({"n": n} for n in range(count)))
    print(f"enqueued {count} jobs in {time.perf_counter() - started:.2f} s (bulk insert)")

    worker = Worker(batch_size=batch)
    started = time.perf_counter()
    worker.run(once=True)
    elapsed = time.perf_counter() - started
    done = Job.objects.filter(kind=KIND, status=JobStatus.SUCCEEDED).count()
    if done != count:
        raise SystemExit(f"only {done} of {count} jobs succeeded")
    print(f"one worker ran {count} jobs in {elapsed:.2f} s (batch {batch}, {connection.vendor})")
    return count / elapsed


def run_baseline(url: str, rows: int) -> float:
    import psycopg

    with psycopg.connect(url) as connection:
        connection.execute(
            "CREATE TEMP TABLE baseline (id bigserial PRIMARY KEY, status text, payload jsonb)"
        )
        connection.commit()
        started = time.perf_counter()
        for n in range(rows):
            (row_id,) = connection.execute(
                "INSERT INTO baseline (status, payload) VALUES ('queued', %s) RETURNING id",
                [f'{{"n": {n}}}'],
            ).fetchone()
            connection.commit()
            connection.execute("UPDATE baseline SET status = 'done' WHERE id = %s", [row_id])
            connection.commit()
        elapsed = time.perf_counter() - started
    print(f"baseline: {rows} rows inserted and updated, each committed, in {elapsed:.2f} s")
    return rows / elapsed


def main() -> None:
    arguments = parse_arguments()
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("bench/jobs.py measures PostgreSQL: give a postgres:// DATABASE_URL")
    ensure_postgres_database(url)
    set_up_django(url)
    jobs_per_second = run_jobs(arguments.jobs, arguments.batch)
    baseline_per_second = run_baseline(url, arguments.baseline_rows)
    ratio = jobs_per_second / baseline_per_second
    print(
        f"jobs_per_s={jobs_per_second:.0f} baseline_per_s={baseline_per_second:.0f} "
        f"ratio={ratio:.2f}"
    )


if __name__ == "__main__":
    main()
