"""Set-up shared by the benchmarks: a PostgreSQL database of their own, Django, a free port."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent


def ensure_postgres_database(url: str) -> None:
    """Create the benchmark's database if missing, so that it never touches real data."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = parts._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def set_up_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "closeloop.settings")
    sys.path.insert(0, str(REPO_ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def cpu_check_ms() -> float:
    """How long a fixed Python loop takes (best of 3), to show how fast the machine is at the
    moment: on shared virtual machines the same work took 1.7 times longer from one minute
    to the next, so compare figures of runs whose checks agree."""
    import time

    timings = []
    for _ in range(3):
        started, total = time.perf_counter(), 0
        for number in range(2_000_000):
            total += number * number
        timings.append(time.perf_counter() - started)
    return min(timings) * 1000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_workers(env: dict, count: int, *arguments: str) -> list:
    """`count` real `closeloop worker` processes, each in its own process group."""
    import subprocess

    return [
        subprocess.Popen(
            [sys.executable, "-m", "closeloop", "worker", *arguments],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(count)
    ]


def stop(process, timeout: float = 30) -> None:
    """SIGTERM the process group, SIGKILL it if it has not finished within `timeout`."""
    import signal
    import subprocess

    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
