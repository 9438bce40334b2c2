"""Workflows throughput on PostgreSQL, the web server under gunicorn.

    .venv/bin/python bench/workflows.py [--seconds 10] [--clients 50] [--web-workers 5]
                                        [--workers 2] [--baseline-rows 5000]

(a) accepted_per_s: --clients concurrent clients (keep-alive connections, each waiting for its
    answer before sending again) POST JSON events to a workflow's trigger URL for --seconds,
    after a 3 s warm-up (every gunicorn worker imports the views on its first request);
    every 202 means the run and its job were committed. baseline_commits_per_s: single-row
    INSERT + COMMIT over one raw psycopg connection to the same database; ratio = the two.
    ack_p99_ms: the 99th percentile acknowledgement latency under an open-loop load of half
    the accepted rate (latency counted from each request's scheduled time, so a stall is not
    hidden by the clients slowing down).
(b) executions_per_s: every run those events queued (warm-up included), drained by --workers
    `closeloop worker` processes: event → conditions → XM Directory task (a contact upserted
    with embedded data).

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/closeloop_bench_workflows
(created if missing; the bench organization's rows are replaced on each run).
The last line is machine-readable:
accepted_per_s=… ack_p99_ms=… executions_per_s=… baseline_commits_per_s=… ratio=…
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from common import ensure_postgres_database, free_port, set_up_django, start_workers, stop

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/closeloop_bench_workflows"
BRAND = "bench-workflows"
PROCESSES = 5
WARM_UP_SECONDS = 3.0


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--web-workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--workers", type=int, default=max(2, os.cpu_count() or 1))
    parser.add_argument("--baseline-rows", type=int, default=5_000)
    return parser.parse_args()


# Set-up --------------------------------------------------------------------------------------


def make_workflow() -> tuple[str, str]:
    """A fresh bench organization with a JSON-event workflow; (trigger path, API token)."""
    from django.db import connection

    from closeloop.accounts import actions as accounts_actions
    from closeloop.accounts.models import Membership, Organization, Role, User
    from closeloop.jobs.models import Job
    from closeloop.workflows import actions

    Organization.objects.filter(brand_id=BRAND).delete()
    User.objects.filter(email="bench@workflows.test").delete()
    Job.objects.filter(kind__startswith="workflows.").delete()
    organization = Organization.objects.create(name="Bench", brand_id=BRAND)
    user = User.objects.create_user("bench@workflows.test", "unused bench password")
    Membership.objects.create(organization=organization, user=user, role=Role.OWNER)
    _row, token = accounts_actions.create_api_token(organization, user, "bench")
    definition = {
        "name": "Bench: save the buyer",
        "event": {
            "type": "json",
            "config": {
                "fields": [
                    {"name": "first", "path": "$.customer.first", "type": "String"},
                    {"name": "last", "path": "$.customer.last", "type": "String"},
                    {"name": "email", "path": "$.customer.email", "type": "String"},
                    {"name": "total", "path": "$.order.total", "type": "Number"},
                    {"name": "store", "path": "$.order.store", "type": "String"},
                ]
            },
        },
        "conditions": {
            "match": "all",
            "groups": [{"rules": [{"field": "total", "operator": "greaterThan", "value": "0"}]}],
        },
        "tasks": [
            {
                "type": "xm_directory",
                "config": {
                    "contact": {
                        "firstName": "~{ch://event/first}",
                        "lastName": "~{ch://event/last}",
                        "email": "~{ch://event/email}",
                    },
                    "embeddedData": [{"name": "Store", "value": "~{ch://event/store}"}],
                },
            }
        ],
    }
    workflow, _warnings = actions.create_workflow(organization, user, definition)
    with connection.cursor() as cursor:
        for table in ("workflows_workflowrun", "workflows_taskrun", "jobs_job"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return f"/inbound/json/{workflow.trigger_token}", token


def start_web(url: str, port: int, web_workers: int) -> subprocess.Popen:
    env = os.environ | {"DATABASE_URL": url, "CLOSELOOP_BASE_URL": f"http://127.0.0.1:{port}"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "closeloop",
            "web",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(web_workers),
            "--threads",
            "4",
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
    raise SystemExit("gunicorn did not become healthy")


# Clients -------------------------------------------------------------------------------------


def _body(prefix: str, number: int) -> bytes:
    return json.dumps(
        {
            "customer": {
                "first": "Ada",
                "last": f"Client {prefix}",
                "email": f"buyer-{prefix}-{number}@bench.example",
            },
            "order": {"id": f"{prefix}-{number}", "total": 42.5, "store": "Soho"},
        }
    ).encode()


class Client:
    def __init__(self, port: int, path: str, token: str, prefix: str):
        self.port, self.path, self.token, self.prefix = port, path, token, prefix
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.sent = 0

    def post(self) -> int:
        self.sent += 1
        headers = {
            "Content-Type": "application/json",
            "X-API-TOKEN": self.token,
            "Idempotency-Key": f"{self.prefix}-{self.sent}",
        }
        body = _body(self.prefix, self.sent)
        for attempt in (1, 2):  # a kept-alive connection the server closed: reconnect once
            try:
                self.connection.request("POST", self.path, body, headers)
                response = self.connection.getresponse()
                response.read()
                return response.status
            except (OSError, http.client.HTTPException):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 2:
                    return 0
        return 0


def closed_loop_process(port, path, token, threads, start_at, seconds, results, process_number):
    counts = {"accepted": 0, "other": 0}
    lock = threading.Lock()

    def work(thread_number: int) -> None:
        client = Client(port, path, token, f"c{process_number}.{thread_number}.{os.getpid()}")
        time.sleep(max(0.0, start_at - time.time()))
        deadline = start_at + seconds
        accepted = other = 0
        while time.time() < deadline:
            if client.post() == 202:
                accepted += 1
            else:
                other += 1
        with lock:
            counts["accepted"] += accepted
            counts["other"] += other

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put(counts)


def open_loop_process(port, path, token, threads, start_at, rate, total, results, number):
    """Requests number, number + PROCESSES, … each at start_at + index / rate."""
    schedule: queue.Queue = queue.Queue()
    for index in range(number, total, PROCESSES):
        schedule.put(start_at + index / rate)
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()

    def work(thread_number: int) -> None:
        client = Client(port, path, token, f"o{number}.{thread_number}.{os.getpid()}")
        mine, failed = [], 0
        while True:
            try:
                due = schedule.get_nowait()
            except queue.Empty:
                break
            time.sleep(max(0.0, due - time.time()))
            status = client.post()
            if status == 202:
                mine.append(time.time() - due)
            else:
                failed += 1
        with lock:
            latencies.extend(mine)
            failures[0] += failed

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put({"latencies": latencies, "failures": failures[0]})


def run_processes(target, arguments_for) -> list[dict]:
    results: multiprocessing.Queue = multiprocessing.Queue()
    processes = [
        multiprocessing.Process(target=target, args=(*arguments_for(number), results, number))
        for number in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    collected = [results.get() for _ in processes]
    for process in processes:
        process.join()
    return collected


def warm_up(port, path, token, clients, seconds=WARM_UP_SECONDS) -> None:
    """Every gunicorn worker imports the URLconf and the views on its first request (seconds
    of CPU each on a small machine): pay that before measuring, as a long-lived server has."""
    threads = max(1, clients // PROCESSES)
    start_at = time.time() + 0.5
    run_processes(closed_loop_process, lambda _n: (port, path, token, threads, start_at, seconds))


def measure_accepted(port, path, token, clients, seconds) -> float:
    threads = max(1, clients // PROCESSES)
    start_at = time.time() + 1.0
    collected = run_processes(
        closed_loop_process, lambda _n: (port, path, token, threads, start_at, seconds)
    )
    accepted = sum(item["accepted"] for item in collected)
    other = sum(item["other"] for item in collected)
    print(
        f"(a) {threads * PROCESSES} clients, {seconds:g} s: {accepted} accepted (202), "
        f"{other} other answers"
    )
    return accepted / seconds


def measure_latency(port, path, token, clients, rate, seconds) -> float:
    threads = max(1, clients // PROCESSES)
    total = int(rate * seconds)
    start_at = time.time() + 1.0
    collected = run_processes(
        open_loop_process, lambda _n: (port, path, token, threads, start_at, rate, total)
    )
    latencies = sorted(value for item in collected for value in item["latencies"])
    failures = sum(item["failures"] for item in collected)
    if not latencies:
        raise SystemExit("no request was accepted in the open-loop phase")
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print(
        f"(a) open loop at {rate:.0f}/s for {seconds:g} s: {len(latencies)} accepted, "
        f"{failures} failed, p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    return p99


# Baseline and execution ----------------------------------------------------------------------


def measure_baseline(url: str, rows: int) -> float:
    import psycopg

    with psycopg.connect(url) as connection:
        connection.execute("CREATE TEMP TABLE baseline (id bigserial PRIMARY KEY, payload jsonb)")
        connection.commit()
        started = time.perf_counter()
        for number in range(rows):
            connection.execute("INSERT INTO baseline (payload) VALUES (%s)", [f'{{"n": {number}}}'])
            connection.commit()
        elapsed = time.perf_counter() - started
    print(f"baseline: {rows} single-row INSERT + COMMIT in {elapsed:.2f} s")
    return rows / elapsed


def measure_executions(url: str, workers: int) -> float:
    from django.db.models import Max

    from closeloop.directory.models import Contact
    from closeloop.workflows.models import FINISHED_RUN_STATUSES, RunStatus, WorkflowRun

    runs = WorkflowRun.objects.filter(organization__brand_id=BRAND)
    total = runs.count()
    env = os.environ | {"DATABASE_URL": url}
    started = time.time()
    processes = start_workers(env, workers, "--batch", "100", "--idle-exit", "3")
    try:
        while runs.exclude(status__in=FINISHED_RUN_STATUSES).exists():
            time.sleep(0.2)
            if all(process.poll() is not None for process in processes):
                raise SystemExit("the workers exited before every run finished")
    finally:
        for process in processes:
            stop(process)
    last = runs.aggregate(last=Max("finished_at"))["last"].timestamp()
    succeeded = runs.filter(status=RunStatus.SUCCEEDED).count()
    contacts = Contact.objects.filter(organization__brand_id=BRAND).count()
    elapsed = last - started
    print(
        f"(b) {workers} workers ran {total} runs ({succeeded} succeeded, {contacts} contacts) "
        f"in {elapsed:.2f} s, worker start-up included"
    )
    if succeeded != total:
        raise SystemExit(f"only {succeeded} of {total} runs succeeded")
    return total / elapsed


def main() -> None:
    arguments = parse_arguments()
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("bench/workflows.py measures PostgreSQL: give a postgres:// DATABASE_URL")
    ensure_postgres_database(url)
    set_up_django(url)
    path, token = make_workflow()
    port = free_port()
    web = start_web(url, port, arguments.web_workers)
    try:
        warm_up(port, path, token, arguments.clients)
        accepted = measure_accepted(port, path, token, arguments.clients, arguments.seconds)
        p99 = measure_latency(port, path, token, arguments.clients, accepted / 2, arguments.seconds)
    finally:
        stop(web)
    from django.db import connections

    connections.close_all()
    executions = measure_executions(url, arguments.workers)
    baseline = measure_baseline(url, arguments.baseline_rows)
    print(
        f"accepted_per_s={accepted:.0f} ack_p99_ms={p99:.1f} executions_per_s={executions:.0f} "
        f"baseline_commits_per_s={baseline:.0f} ratio={accepted / baseline:.2f}"
    )


if __name__ == "__main__":
    main()
