"""The worker's most frequent reads and writes of runs, without compiling a query each time.

Django compiles every ORM query anew, which costs more than the query itself for the few
statements each run repeats (lock the run, save a task's outcome, finish the run). Here each
statement is compiled once per process and then reused. Values go through the fields'
get_db_prep_save, as in the ORM's own UPDATE, so both databases get what they expect.
"""

from __future__ import annotations

import functools

from django.db import connection
from django.db.models import Model

# Rows per INSERT: well under both databases' limits on parameters per statement.
INSERT_ROWS = 500


@functools.cache
def _lock_statement(model: type[Model]) -> str:
    queryset = model._default_manager.select_for_update().filter(pk=0)
    sql, _params = queryset.query.get_compiler(connection=connection).as_sql()
    return sql


def locked(model: type[Model], pk: int):
    """The row with this primary key, locked FOR UPDATE (inside a transaction), or None."""
    return next(iter(model._default_manager.raw(_lock_statement(model), [pk])), None)


@functools.cache
def _update_statement(model: type[Model], names: tuple[str, ...]) -> tuple[str, tuple]:
    quote = connection.ops.quote_name
    fields = tuple(model._meta.get_field(name) for name in names)
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    table, key = quote(model._meta.db_table), quote(model._meta.pk.column)
    return f"UPDATE {table} SET {assignments} WHERE {key} = %s", fields


def save_fields(instance: Model, names: tuple[str, ...]) -> None:
    """UPDATE these fields of a saved instance (Model.save(update_fields=…) without signals)."""
    sql, fields = _update_statement(type(instance), names)
    params = [
        field.get_db_prep_save(getattr(instance, field.attname), connection) for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, instance.pk])


@functools.cache
def _insert_columns(model: type[Model]) -> tuple[str, str, tuple]:
    quote = connection.ops.quote_name
    fields = tuple(field for field in model._meta.concrete_fields if not field.primary_key)
    columns = ", ".join(quote(field.column) for field in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    head = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES "
    return head, row, fields


def insert_many(instances: list[Model]) -> None:
    """INSERT new instances of one model in one statement and set their primary keys.

    Not bulk_create: on PostgreSQL it sends each column as an array (UNNEST), which psycopg
    quotes value by value in Python, slower than the insert itself for a worker's batch."""
    for start in range(0, len(instances), INSERT_ROWS):
        _insert_part(instances[start : start + INSERT_ROWS])


def _insert_part(instances: list[Model]) -> None:
    if not instances:
        return
    model = type(instances[0])
    head, row, fields = _insert_columns(model)
    params = [
        field.get_db_prep_save(field.pre_save(instance, add=True), connection)
        for instance in instances
        for field in fields
    ]
    returning = f" RETURNING {connection.ops.quote_name(model._meta.pk.column)}"
    with connection.cursor() as cursor:
        cursor.execute(head + ", ".join([row] * len(instances)) + returning, params)
        for instance, (pk,) in zip(instances, cursor.fetchall(), strict=True):
            instance.pk = pk
            instance._state.adding, instance._state.db = False, connection.alias
