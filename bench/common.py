"""Set-up shared by the benchmarks: a PostgreSQL database of their own, Django, a free port,
worker processes, the web server under gunicorn and its closed- and open-loop load clients."""

from __future__ import annotations

import contextlib
import http.client
import multiprocessing
import os
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
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


def bench_database(default_url: str, script: str) -> str:
    """DATABASE_URL or the benchmark's own database, created if missing, with Django set up
    and migrated on it; PostgreSQL only."""
    url = os.environ.get("DATABASE_URL") or default_url
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit(f"{script} measures PostgreSQL: give a postgres:// DATABASE_URL")
    ensure_postgres_database(url)
    set_up_django(url)
    return url


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
    timings = []
    for _ in range(3):
        started, total = time.perf_counter(), 0
        for number in range(2_000_000):
            total += number * number
        timings.append(time.perf_counter() - started)
    return min(timings) * 1000


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc); 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    """The processes `pid` started (a gunicorn master's workers)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


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


# The web server and its load clients ---------------------------------------------------------

LOAD_PROCESSES = 5  # client processes; each runs clients // LOAD_PROCESSES threads
WARM_UP_SECONDS = 3.0


def start_web(url: str, port: int, web_workers: int, threads: int = 4):
    """`closeloop web` (gunicorn, gthread workers) on 127.0.0.1:port, once /healthz answers."""
    import subprocess
    import urllib.request

    env = os.environ | {"DATABASE_URL": url, "CLOSELOOP_BASE_URL": f"http://127.0.0.1:{port}"}
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "closeloop", "web", "--bind", f"127.0.0.1:{port}"),
            *("--workers", str(web_workers), "--threads", str(threads)),
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit("gunicorn exited early") from None
            time.sleep(0.3)
    stop(process)
    raise SystemExit("gunicorn did not become healthy")


@contextlib.contextmanager
def web_server(url: str, port: int, web_workers: int, threads: int = 4):
    """start_web for a with block: when it ends gunicorn is stopped and this process's
    database connections are closed (so that a baseline after it has the database alone)."""
    web = start_web(url, port, web_workers, threads)
    print(f"gunicorn: {web_workers} workers x {threads} threads (gthread)")
    try:
        yield web
    finally:
        stop(web)
        from django.db import connections

        connections.close_all()


@dataclass(frozen=True)
class Endpoint:
    """What the load clients POST and where. build(client, number) gives the body and headers
    of a client's number-th request (1, 2, …); `client` is a short alphanumeric name, unique
    in the run (phase letter, process digit, two thread digits: "c012"), so bodies and keys
    made from it never repeat. `ok` is the status of an accepted request. build must be a
    module-level function (or a functools.partial of one): the client processes get it."""

    port: int
    path: str
    build: Callable[[str, int], tuple[bytes, dict]]
    ok: int


class Client:
    """One kept-alive HTTP connection that posts the endpoint's requests one at a time."""

    def __init__(self, endpoint: Endpoint, name: str):
        self.endpoint, self.name, self.sent = endpoint, name, 0
        self.connection = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.endpoint.port, timeout=30)

    def post(self) -> int:
        """The answer's status; 0 when the request failed twice."""
        self.sent += 1
        body, headers = self.endpoint.build(self.name, self.sent)
        for _attempt in (1, 2):  # a kept-alive connection the server closed: reconnect once
            try:
                self.connection.request("POST", self.endpoint.path, body, headers)
                response = self.connection.getresponse()
                response.read()
                return response.status
            except (OSError, http.client.HTTPException):
                self.connection.close()
                self.connection = self._connect()
        return 0


def _in_threads(threads: int, work: Callable[[int], None]) -> None:
    running = [threading.Thread(target=work, args=(number,)) for number in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()


def _client_name(phase: str, process_number: int, thread_number: int) -> str:
    if not (process_number < 10 and thread_number < 100):
        raise SystemExit("at most 100 client threads per process")
    return f"{phase}{process_number}{thread_number:02d}"


def _closed_loop_process(endpoint, phase, threads, start_at, seconds, results, process_number):
    counts = {"ok": 0, "other": 0}
    lock = threading.Lock()

    def work(thread_number: int) -> None:
        client = Client(endpoint, _client_name(phase, process_number, thread_number))
        time.sleep(max(0.0, start_at - time.time()))
        deadline = start_at + seconds
        ok = other = 0
        while time.time() < deadline:
            if client.post() == endpoint.ok:
                ok += 1
            else:
                other += 1
        with lock:
            counts["ok"] += ok
            counts["other"] += other

    _in_threads(threads, work)
    results.put(counts)


def _open_loop_process(endpoint, threads, start_at, rate, total, results, process_number):
    """Requests process_number, process_number + LOAD_PROCESSES, … each sent at
    start_at + index / rate (or as soon as a thread is free after that)."""
    schedule: queue.Queue = queue.Queue()
    for index in range(process_number, total, LOAD_PROCESSES):
        schedule.put(start_at + index / rate)
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()

    def work(thread_number: int) -> None:
        client = Client(endpoint, _client_name("o", process_number, thread_number))
        mine, failed = [], 0
        while True:
            try:
                due = schedule.get_nowait()
            except queue.Empty:
                break
            time.sleep(max(0.0, due - time.time()))
            if client.post() == endpoint.ok:
                mine.append(time.time() - due)
            else:
                failed += 1
        with lock:
            latencies.extend(mine)
            failures[0] += failed

    _in_threads(threads, work)
    results.put({"latencies": latencies, "failures": failures[0]})


def _run_processes(target, *arguments) -> list[dict]:
    results: multiprocessing.Queue = multiprocessing.Queue()
    processes = [
        multiprocessing.Process(target=target, args=(*arguments, results, number))
        for number in range(LOAD_PROCESSES)
    ]
    for process in processes:
        process.start()
    collected = [results.get() for _ in processes]
    for process in processes:
        process.join()
    return collected


def threads_per_process(clients: int) -> int:
    return max(1, clients // LOAD_PROCESSES)


def closed_loop(endpoint: Endpoint, clients: int, seconds: float, phase: str = "c"):
    """(accepted, other answers) of `clients` clients (LOAD_PROCESSES processes of threads),
    each posting and waiting for the answer before posting again, for `seconds`."""
    start_at = time.time() + 1.0
    threads = threads_per_process(clients)
    collected = _run_processes(_closed_loop_process, endpoint, phase, threads, start_at, seconds)
    return sum(item["ok"] for item in collected), sum(item["other"] for item in collected)


def warm_up(endpoint: Endpoint, clients: int, seconds: float = WARM_UP_SECONDS) -> None:
    """Every gunicorn worker imports the URLconf and the views on its first request (seconds
    of CPU each on a small machine): pay that before measuring, as a long-lived server has."""
    closed_loop(endpoint, clients, seconds, phase="w")


@dataclass(frozen=True)
class OpenLoop:
    """The open-loop phase: how many requests were accepted and failed, and the accepted
    ones' latencies (ms, counted from each request's scheduled time)."""

    accepted: int
    failures: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    def summary(self, accepted: str = "accepted") -> str:
        return (
            f"{self.accepted} {accepted}, {self.failures} failed, p50 {self.p50_ms:.1f} ms, "
            f"p99 {self.p99_ms:.1f} ms, max {self.max_ms:.1f} ms"
        )


def open_loop(endpoint: Endpoint, clients: int, rate: float, seconds: float) -> OpenLoop:
    """rate * seconds requests sent on a fixed schedule by `clients` clients: each latency
    counts from the request's scheduled time, so a stall is not hidden by the clients
    slowing down."""
    start_at = time.time() + 1.0
    total = int(rate * seconds)
    threads = threads_per_process(clients)
    collected = _run_processes(_open_loop_process, endpoint, threads, start_at, rate, total)
    latencies = sorted(value for item in collected for value in item["latencies"])
    if not latencies:
        raise SystemExit("no request was accepted in the open-loop phase")
    return OpenLoop(
        accepted=len(latencies),
        failures=sum(item["failures"] for item in collected),
        p50_ms=_percentile(latencies, 0.5) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        max_ms=latencies[-1] * 1000,
    )


def _percentile(ordered: list[float], fraction: float) -> float:
    """The value below which `fraction` of the sorted values lie (nearest rank)."""
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


# The bench organization and what the server did ----------------------------------------------


def remove_bench_organization(brand: str, email: str) -> None:
    """The last run's bench organization (by brand) and its owner (by email), and everything
    of it. Its runs and jobs (a hundred thousand or more, never executed) go first in plain
    SQL: Django's cascade would load them."""
    from django.db import connection

    from closeloop.accounts.models import Organization, User

    organizations = list(Organization.objects.filter(brand_id=brand).values_list("pk", flat=True))
    if organizations:
        runs = "SELECT id FROM workflows_workflowrun WHERE organization_id = ANY(%s)"
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM workflows_taskrun WHERE run_id IN ({runs})", [organizations]
            )
            for table in ("workflows_workflowrun", "jobs_job"):
                cursor.execute(
                    f"DELETE FROM {table} WHERE organization_id = ANY(%s)", [organizations]
                )
    Organization.objects.filter(pk__in=organizations).delete()
    User.objects.filter(email=email).delete()


def new_bench_organization(brand: str, email: str):
    """A fresh bench organization (the last run's removed) and its owner: (organization, user)."""
    from closeloop.accounts.models import Membership, Organization, Role, User

    remove_bench_organization(brand, email)
    organization = Organization.objects.create(name="Bench", brand_id=brand)
    user = User.objects.create_user(email, "unused bench password")
    Membership.objects.create(organization=organization, user=user, role=Role.OWNER)
    return organization, user


def vacuum_run_tables() -> None:
    """Fresh statistics and no dead rows in the tables an event writes, before measuring."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("workflows_workflowrun", "workflows_taskrun", "jobs_job"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def stored_runs(workflow_id: int) -> int:
    from closeloop.workflows.models import WorkflowRun

    return WorkflowRun.objects.filter(workflow_id=workflow_id).count()


def server_cpu(web) -> dict[str, dict[int, float]]:
    """CPU seconds so far of each gunicorn worker and of each PostgreSQL backend connected to
    the bench database (the workers' kept connections), by pid."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        backends = [pid for (pid,) in cursor.fetchall()]
    return {
        "gunicorn": {pid: cpu_seconds(pid) for pid in child_pids(web.pid)},
        "postgres": {pid: cpu_seconds(pid) for pid in backends},
    }


def _cpu_used(before: dict, after: dict, side: str) -> float:
    return sum(used - before[side].get(pid, 0.0) for pid, used in after[side].items())


@dataclass(frozen=True)
class ClosedLoop:
    """A closed-loop phase against a workflow's endpoint: the accepted requests, the other
    answers, the runs the workflow gained meanwhile, and the CPU seconds gunicorn's workers
    and the PostgreSQL backends used."""

    clients: int
    seconds: float
    accepted: int
    other: int
    stored: int
    gunicorn_s: float
    postgres_s: float

    def cpu_line(self, label: str, unit: str, rows: int = 1) -> str:
        """CPU per accepted request, split between gunicorn and PostgreSQL; with `rows` (runs
        a request) above 1, per run too."""
        if not self.accepted:
            return f"{label} no {unit} accepted: no CPU per {unit}"
        web_ms = self.gunicorn_s * 1000 / self.accepted
        database_ms = self.postgres_s * 1000 / self.accepted
        machine_ms = (os.cpu_count() or 1) * self.seconds * 1000 / self.accepted
        per_run = (
            f" = {web_ms / rows:.3f} + {database_ms / rows:.3f} ms per run" if rows > 1 else ""
        )
        return (
            f"{label} CPU per {unit}: gunicorn workers {web_ms:.2f} ms, PostgreSQL backends "
            f"{database_ms:.2f} ms{per_run} (of the {machine_ms:.2f} ms the machine's cores "
            f"had per {unit}, the clients and other processes included)"
        )


def measured_closed_loop(
    endpoint: Endpoint, web, workflow_id: int, clients: int, seconds: float, phase: str = "c"
) -> ClosedLoop:
    """closed_loop, with the runs stored and the server's CPU counted around it."""
    before, cpu_before = stored_runs(workflow_id), server_cpu(web)
    accepted, other = closed_loop(endpoint, clients, seconds, phase)
    stored, cpu_after = stored_runs(workflow_id) - before, server_cpu(web)
    return ClosedLoop(
        clients=threads_per_process(clients) * LOAD_PROCESSES,
        seconds=seconds,
        accepted=accepted,
        other=other,
        stored=stored,
        gunicorn_s=_cpu_used(cpu_before, cpu_after, "gunicorn"),
        postgres_s=_cpu_used(cpu_before, cpu_after, "postgres"),
    )


def machine_check() -> None:
    """Others' processes and a shared virtual machine move the figures: say how things stand."""
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"cpu check: {cpu_check_ms():.0f} ms; load average {load} on {os.cpu_count()} cores")


# The baseline: the raw commit rate of the rows the receiver stored ---------------------------


RUN_QUERY = "SELECT * FROM workflows_workflowrun WHERE workflow_id = %s ORDER BY id LIMIT 1"
JOB_QUERY = (
    "SELECT * FROM jobs_job WHERE kind = 'workflows.run' AND payload->>'run' = "
    "(SELECT min(id)::text FROM workflows_workflowrun WHERE workflow_id = %s)"
)


def _template(connection, query: str, workflow_id: int) -> dict[str, str]:
    """Column (but id) → SQL literal, of the first row the query finds: a run or job exactly
    as the receiver stored it (JSON as text: PostgreSQL reads it into the jsonb column)."""
    import json

    from psycopg import sql

    with connection.cursor() as cursor:
        row = cursor.execute(query, [workflow_id]).fetchone()
        if row is None:
            raise SystemExit("the receiver stored no run to copy for the baseline")
        columns = [column.name for column in cursor.description]
    connection.commit()

    def literal(value: object) -> str:
        if isinstance(value, dict | list):
            value = json.dumps(value)
        return sql.Literal(value).as_string(connection)

    return {name: literal(value) for name, value in zip(columns, row, strict=True) if name != "id"}


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _insert(table: str, columns) -> str:
    names = ", ".join('"' + name + '"' for name in columns)
    return f"INSERT INTO {table} ({names})"


def measure_baseline(
    url: str,
    workflow_id: int,
    transactions: int,
    rows: int,
    dedup_key: Callable[[int, int], str],
    tag: str,
) -> float:
    """The raw commit rate of the receiver's rows over one raw psycopg connection, in rows
    (runs) per second: `transactions` transactions of a multi-row INSERT of `rows` runs into
    workflows_workflowrun (RETURNING their ids), a multi-row INSERT of their jobs into
    jobs_job, and COMMIT. Column values are copied from a run (and its job) the receiver
    stored, with fresh public ids (WR_<tag>…, `tag` one letter per baseline of a run) and
    dedup keys (dedup_key(transaction number, row index)). The statements, their values
    written in as literals (no parameters to convert, nothing for the client to do but send
    them), are made before the clock starts; each job's payload names its run, so the jobs'
    INSERT is written once the runs' ids are back."""
    import psycopg

    with psycopg.connect(url) as connection:
        run = _template(connection, RUN_QUERY, workflow_id)
        job = _template(connection, JOB_QUERY, workflow_id)
        statements = []
        for number in range(1, transactions + 1):
            values = []
            for index in range(rows):
                row = run | {
                    "public_id": _quoted(f"WR_{tag}bench{number:05d}{index:03d}"),
                    "dedup_key": _quoted(dedup_key(number, index)),
                }
                values.append("(" + ", ".join(row.values()) + ")")
            statements.append(
                f"{_insert('workflows_workflowrun', run)} VALUES {', '.join(values)}"
                ' RETURNING "id", "generation"'
            )
        job_columns = [name for name in job if name != "payload"]
        insert_jobs = _insert("jobs_job", [*job_columns, "payload"])
        job_row = "(" + "".join(f"{job[name]}, " for name in job_columns)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
                jobs = ", ".join(
                    f'{job_row}\'{{"run": {run_id}, "generation": {generation}}}\')'
                    for run_id, generation in cursor.fetchall()
                )
                cursor.execute(f"{insert_jobs} VALUES {jobs}")
                connection.commit()
        elapsed = time.perf_counter() - started
    what = (
        f"{rows} runs + {rows} jobs (two multi-row INSERTs"
        if rows > 1
        else "1 run + 1 job (two INSERTs"
    )
    print(
        f"baseline: {transactions} transactions of {what}, COMMIT) over one psycopg "
        f"connection in {elapsed:.2f} s = {transactions * rows / elapsed:.0f} runs/s, "
        f"{transactions / elapsed:.0f} commits/s"
    )
    return transactions * rows / elapsed
