"""PostgreSQL: an event's runs and the jobs that process them, in one statement.

The trigger URL's hot path. One statement is one round trip, and outside a transaction it is
its own transaction: the run and its job are committed together, or neither is, before the
event is acknowledged. A dedup key already used by the workflow inserts nothing (ON CONFLICT
on the partial unique index one_run_per_dedup_key). The statement is built from the models'
fields, so it follows their columns.
"""

from __future__ import annotations

import functools

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


@functools.cache
def _batch_statement(rows: int) -> str:
    quote = connection.ops.quote_name
    run_fields = _insertable(WorkflowRun)
    job_fields = _insertable(Job, leave_out=("payload",))
    run_columns = ", ".join(quote(field.column) for field in run_fields)
    job_columns = ", ".join(quote(field.column) for field in job_fields)
    row = "(" + ", ".join(["%s"] * len(run_fields)) + ")"
    return f"""
        WITH new_run AS (
            INSERT INTO {quote(WorkflowRun._meta.db_table)} ({run_columns})
            VALUES {", ".join([row] * rows)}
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


def insert_runs_and_jobs(runs: list[WorkflowRun], job: Job) -> set[str]:
    """Insert queued runs, each with a job like `job`, in one statement: the dedup keys of the
    runs inserted (a key the workflow already used, or repeated in `runs`, inserts once)."""
    if not runs:
        return set()
    params: list = []
    for run in runs:
        params += _values(run, _insertable(WorkflowRun))
    params += _values(job, _insertable(Job, leave_out=("payload",)))
    with connection.cursor() as cursor:
        cursor.execute(_batch_statement(len(runs)), params)
        return {row[0] for row in cursor.fetchall()}
