"""Check the database before a long-running command starts, and say what is wrong in plain words."""

from __future__ import annotations

from django.db import DatabaseError, OperationalError, connection

from closeloop.jobs.models import Job


def database_problem() -> str | None:
    try:
        connection.ensure_connection()
    except OperationalError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return (
            f"the database is unreachable ({reason}). "
            "Check DATABASE_URL and that the database server is running."
        )
    try:
        Job.objects.exists()
    except DatabaseError:
        return "the database has no job ledger yet. Run `closeloop migrate` first."
    return None


def exit_if_database_unusable(command_name: str, stderr) -> None:
    problem = database_problem()
    if problem:
        stderr.write(f"Closeloop {command_name} cannot start: {problem}")
        raise SystemExit(2)
