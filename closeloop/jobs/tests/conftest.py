"""Helpers for the job tests: worker subprocesses pointed at the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from closeloop.jobs.tests import handlers as _handlers  # noqa: F401 - registers the test handlers

REPO_ROOT = Path(settings.BASE_DIR).parent
HANDLERS_MODULE = "closeloop.jobs.tests.handlers"


def test_database_url() -> str:
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(database['NAME']).resolve()}"
    credentials = quote(database["USER"] or "")
    if database.get("PASSWORD"):
        credentials += ":" + quote(database["PASSWORD"])
    host = database.get("HOST") or "127.0.0.1"
    port = database.get("PORT") or 5432
    return f"postgres://{credentials}@{host}:{port}/{database['NAME']}"


def extra_modules_for_workers() -> str:
    """CLOSELOOP_EXTRA_MODULES for a worker subprocess: the job tests' handlers, and whatever
    the test process lists already (another app's tests add their own task modules)."""
    listed = [name.strip() for name in os.environ.get("CLOSELOOP_EXTRA_MODULES", "").split(",")]
    return ",".join(dict.fromkeys(name for name in [*listed, HANDLERS_MODULE] if name))


def wait_for(condition, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class WorkerProcess:
    def __init__(self, args: list[str], log_dir: Path, number: int):
        self.stdout_path = log_dir / f"worker-{number}.out"
        self.stderr_path = log_dir / f"worker-{number}.err"
        env = os.environ | {
            "DATABASE_URL": test_database_url(),
            "CLOSELOOP_EXTRA_MODULES": extra_modules_for_workers(),
            "CLOSELOOP_VAR_DIR": str(settings.VAR_DIR),
        }
        with self.stdout_path.open("w") as stdout, self.stderr_path.open("w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "closeloop", "worker", *args],
                cwd=REPO_ROOT,
                env=env,
                stdout=stdout,
                stderr=stderr,
            )

    def output(self) -> str:
        return self.stdout_path.read_text() + self.stderr_path.read_text()

    def wait_until_started(self, timeout: float = 30.0) -> None:
        self.wait_while_running(lambda: "started on" in self.stdout_path.read_text(), timeout)

    def wait_while_running(self, condition, timeout: float = 30.0) -> None:
        """Wait for condition(); fail at once, with the worker's output, if the worker exits."""
        try:
            wait_for(lambda: condition() or self.process.poll() is not None, timeout)
        except AssertionError:
            raise AssertionError(f"timed out; worker output:\n{self.output()}") from None
        assert self.process.poll() is None, f"worker exited early:\n{self.output()}"

    def wait(self, timeout: float = 30.0) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"worker still running after {timeout} s:\n{self.output()}"
            ) from None

    def send(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def worker_process(transactional_db, tmp_path):
    """Start `closeloop worker ARGS...` on the test database; every one is killed at the end."""
    started: list[WorkerProcess] = []

    def start(*args: str) -> WorkerProcess:
        worker = WorkerProcess(list(args), tmp_path, len(started) + 1)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
