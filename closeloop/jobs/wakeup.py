"""How an idle worker waits for new jobs: LISTEN/NOTIFY on PostgreSQL, short polls on SQLite."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import closing

import psycopg
from django.db import connection

from closeloop.jobs.actions import NOTIFY_CHANNEL

log = logging.getLogger("closeloop.jobs")


class Sleeper:
    """Poll quickly after work, more slowly the longer the queue stays empty."""

    def __init__(self, stop: threading.Event, shortest: float = 0.2, longest: float = 1.0):
        self.stop = stop
        self.shortest = shortest
        self.longest = longest
        self.pause = shortest

    def wait(self, at_most: float) -> None:
        self.stop.wait(min(self.pause, at_most))
        self.pause = min(self.longest, self.pause * 1.5)

    def work_done(self) -> None:
        self.pause = self.shortest

    def close(self) -> None:
        pass


class PostgresListener:
    """Sleep until NOTIFY closeloop_jobs, or `poll_seconds` at most.

    The fallback poll finds jobs whose run_after has come (retries, scheduled jobs), which
    nobody announces. A dedicated connection is used because Django's may sit in a transaction.
    """

    def __init__(self, stop: threading.Event, poll_seconds: float = 5.0):
        self.stop = stop
        self.poll_seconds = poll_seconds
        self._connection = None

    def wait(self, at_most: float) -> None:
        deadline = time.monotonic() + min(self.poll_seconds, at_most)
        while not self.stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            # Short slices so a stop request is seen within a second.
            if self._notified(min(1.0, remaining)):
                return

    def work_done(self) -> None:
        pass

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _notified(self, timeout: float) -> bool:
        try:
            listener = self._listening_connection()
            if _received(listener, timeout):
                # Many enqueues while the worker was busy need one wake-up, not one each.
                while _received(listener, 0):
                    pass
                return True
        except psycopg.Error as error:
            log.warning("LISTEN connection failed (%s); polling instead", error)
            self.close()
            self.stop.wait(timeout)
        return False

    def _listening_connection(self):
        if self._connection is None:
            self._connection = psycopg.connect(**_connect_arguments(), autocommit=True)
            self._connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return self._connection


def _received(listener, timeout: float) -> bool:
    # The generator holds the connection's lock until closed, so close it before reusing it.
    with closing(listener.notifies(timeout=timeout, stop_after=1)) as notifications:
        return next(notifications, None) is not None


def _connect_arguments() -> dict:
    database = connection.settings_dict
    arguments = {
        "dbname": database["NAME"],
        "user": database.get("USER"),
        "password": database.get("PASSWORD"),
        "host": database.get("HOST"),
        "port": database.get("PORT"),
    }
    arguments = {key: value for key, value in arguments.items() if value}
    options = {
        key: value
        for key, value in database.get("OPTIONS", {}).items()
        if key in ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "options")
    }
    return arguments | options


def waiter_for_database(stop: threading.Event):
    if connection.vendor == "postgresql":
        return PostgresListener(stop)
    return Sleeper(stop)
