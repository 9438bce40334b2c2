"""PostgreSQL: an event's runs and the jobs that process them, in one statement.

The trigger URL's hot path. One statement is one round trip, and outside a transaction it is
its own transaction: the run and its job are committed together, or neither is, before the
event is acknowledged. A dedup key already used by the workflow inserts nothing (ON CONFLICT
on the partial unique index one_run_per_dedup_key). The statement is built from the models'
fields, so it follows their columns.
"""

from __future__ import annotations

import functools
import json

from django.db import connection

from closeloop.jobs.actions import notify_sql
from closeloop.jobs.models import Job
from closeloop.workflows.models import WorkflowRun


def _insertable(model, *, leave_out: tuple[str, ...] = ()) -> list:
    return [
        field
        for field in model._meta.concrete_fields
        if not field.primary_key and field.attname not in leave_out
    ]


@functools.cache
def _statement() -> str:
    quote = connection.ops.quote_name
    run_fields = _insertable(WorkflowRun)
    job_fields = _insertable(Job, leave_out=("payload",))
    run_columns = ", ".join(quote(field.column) for field in run_fields)
    job_columns = ", ".join(quote(field.column) for field in job_fields)
    return f"""
        WITH new_run AS (
            INSERT INTO {quote(WorkflowRun._meta.db_table)} ({run_columns})
            VALUES ({", ".join(["%s"] * len(run_fields))})
            ON CONFLICT ("workflow_id", "dedup_key") WHERE "dedup_key" IS NOT NULL DO NOTHING
            RETURNING "id", "generation"
        ), new_job AS (
            INSERT INTO {quote(Job._meta.db_table)} ("payload", {job_columns})
            SELECT jsonb_build_object('run', new_run."id", 'generation', new_run."generation"),
                   {", ".join(["%s"] * len(job_fields))}
            FROM new_run
            RETURNING "id"
        )
        SELECT new_run."id", {notify_sql()} FROM new_run
    """


def _values(instance, fields: list) -> list:
    return [
        field.get_db_prep_save(getattr(instance, field.attname), connection) for field in fields
    ]


def insert_run_and_job(run: WorkflowRun, job: Job) -> bool:
    """Insert a queued run and its job (whose payload is filled in here). False, and nothing
    inserted, when the run's dedup key is taken."""
    params = _values(run, _insertable(WorkflowRun)) + _values(
        job, _insertable(Job, leave_out=("payload",))
    )
    with connection.cursor() as cursor:
        cursor.execute(_statement(), params)
        row = cursor.fetchone()
    if row is None:
        return False
    run.pk = row[0]
    run._state.adding = False
    run._state.db = connection.alias
    return True


# What differs between the runs of one delivery; any other column that differs too (a bulk
# replay's originals, workflows, definitions) joins them, and the rest, the same for every
# run (the workflow, its definition, the time), is sent once.
ALWAYS_PER_RUN = ("public_id", "payload", "fields", "dedup_key")


def _split_fields(runs: list[WorkflowRun]) -> tuple[tuple, tuple]:
    first = runs[0]
    per_run, shared = [], []
    for field in _insertable(WorkflowRun):
        name = field.attname
        varies = name in ALWAYS_PER_RUN or any(
            getattr(run, name) != getattr(first, name) for run in runs
        )
        (per_run if varies else shared).append(field)
    return tuple(per_run), tuple(shared)


@functools.cache
def _batch_statement(per_run: tuple, shared: tuple) -> str:
    """The runs arrive as one jsonb array, unpacked by jsonb_to_recordset: one parameter for
    any number of runs, so the statement text stays the same (psycopg keeps it prepared) and
    the shared columns, the definition above all, are sent once instead of once per run."""
    quote = connection.ops.quote_name
    job_fields = _insertable(Job, leave_out=("payload",))
    record_type = ", ".join(f"{quote(f.attname)} {f.db_type(connection)}" for f in per_run)
    columns = ", ".join(quote(field.column) for field in per_run + shared)
    selected = ", ".join([f"r.{quote(f.attname)}" for f in per_run] + ["%s"] * len(shared))
    job_columns = ", ".join(quote(field.column) for field in job_fields)
    return f"""
        WITH new_run AS (
            INSERT INTO {quote(WorkflowRun._meta.db_table)} ({columns})
            SELECT {selected} FROM jsonb_to_recordset(%s::jsonb) AS r({record_type})
            ON CONFLICT ("workflow_id", "dedup_key") WHERE "dedup_key" IS NOT NULL DO NOTHING
            RETURNING "id", "generation", "dedup_key"
        ), new_job AS (
            INSERT INTO {quote(Job._meta.db_table)} ("payload", {job_columns})
            SELECT jsonb_build_object('run', new_run."id", 'generation', new_run."generation"),
                   {", ".join(["%s"] * len(job_fields))}
            FROM new_run
            RETURNING "id"
        )
        SELECT new_run."dedup_key", (SELECT {notify_sql()}) FROM new_run
    """


def _insert(per_run: tuple, shared: tuple, template: WorkflowRun, rows: list, job: Job) -> set:
    params = [
        *_values(template, list(shared)),
        json.dumps(rows, default=str, ensure_ascii=False),  # datetimes as PostgreSQL reads them
        *_values(job, _insertable(Job, leave_out=("payload",))),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_batch_statement(per_run, shared), params)
        return {row[0] for row in cursor.fetchall()}


def insert_run_rows(template: WorkflowRun, rows: list[dict], job: Job) -> set[str]:
    """Insert queued runs like `template` but for ALWAYS_PER_RUN, given per run in `rows`
    ({"public_id", "payload", "fields", "dedup_key"}), each with a job like `job`, in one
    statement: the dedup keys of the runs inserted (a key the workflow already used, or
    repeated in `rows`, inserts once)."""
    if not rows:
        return set()
    fields = _insertable(WorkflowRun)
    per_run = tuple(field for field in fields if field.attname in ALWAYS_PER_RUN)
    shared = tuple(field for field in fields if field.attname not in ALWAYS_PER_RUN)
    return _insert(per_run, shared, template, rows, job)


def insert_runs_and_jobs(runs: list[WorkflowRun], job: Job) -> set[str]:
    """As insert_run_rows for runs built as models (a bulk replay's, of several workflows):
    every column that differs between them is sent per run."""
    if not runs:
        return set()
    per_run, shared = _split_fields(runs)
    rows = [{field.attname: getattr(run, field.attname) for field in per_run} for run in runs]
    return _insert(per_run, shared, runs[0], rows, job)
