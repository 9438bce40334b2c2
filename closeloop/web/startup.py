"""Start-up checks that explain problems in plain words instead of tracebacks."""

from django.db import OperationalError, connection


def check_database_or_exit(stream) -> None:
    try:
        connection.ensure_connection()
    except OperationalError as error:
        target = connection.settings_dict.get("NAME")
        stream.write(
            f"Closeloop cannot reach its database ({connection.vendor}, {target}).\n"
            f"Check DATABASE_URL and that the server is running. The driver said: {error}".rstrip()
        )
        raise SystemExit(2) from None
