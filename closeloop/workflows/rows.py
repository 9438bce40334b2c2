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
