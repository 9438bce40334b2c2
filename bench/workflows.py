"""Workflows throughput on PostgreSQL, the web server under gunicorn.

    .venv/bin/python bench/workflows.py [--seconds 10] [--clients 50] [--web-workers 5]
                                        [--workers 2] [--baseline-rows 5000]

(a) accepted_per_s: --clients concurrent clients (keep-alive connections, each waiting for its
    answer before sending again) POST JSON events to a workflow's trigger URL for --seconds,
    after a 3 s warm-up (every gunicorn worker imports the views on its first request);
    every 202 means the run and its job were committed. baseline_commits_per_s: the same
    rows committed raw, one run (copied from a stored one) and its job per transaction into
    workflows_workflowrun and jobs_job, over one psycopg connection; ratio = the two.
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
import functools
import json
import os
import time

from common import (
    LOAD_PROCESSES,
    Endpoint,
    bench_database,
    closed_loop,
    free_port,
    measure_baseline,
    open_loop,
    start_web,
    start_workers,
    stop,
    threads_per_process,
    warm_up,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/closeloop_bench_workflows"
BRAND = "bench-workflows"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--web-workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--workers", type=int, default=max(2, os.cpu_count() or 1))
    parser.add_argument("--baseline-rows", type=int, default=5_000)
    return parser.parse_args()


# Set-up --------------------------------------------------------------------------------------


def make_workflow() -> tuple[str, str, int]:
    """A fresh bench organization with a JSON-event workflow; (trigger path, API token, id)."""
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
    return f"/inbound/json/{workflow.trigger_token}", token, workflow.pk


# Clients -------------------------------------------------------------------------------------


def request(token: str, client: str, number: int) -> tuple[bytes, dict]:
    """A JSON event (an order of a buyer of its own) with an idempotency key of its own."""
    body = {
        "customer": {
            "first": "Ada",
            "last": f"Client {client}",
            "email": f"buyer-{client}-{number}@bench.example",
        },
        "order": {"id": f"{client}-{number}", "total": 42.5, "store": "Soho"},
    }
    headers = {
        "Content-Type": "application/json",
        "X-API-TOKEN": token,
        "Idempotency-Key": f"{client}-{number}",
    }
    return json.dumps(body).encode(), headers


def measure_accepted(endpoint: Endpoint, clients: int, seconds: float) -> float:
    accepted, other = closed_loop(endpoint, clients, seconds)
    print(
        f"(a) {threads_per_process(clients) * LOAD_PROCESSES} clients, {seconds:g} s: "
        f"{accepted} accepted (202), {other} other answers"
    )
    return accepted / seconds


def measure_latency(endpoint: Endpoint, clients: int, rate: float, seconds: float) -> float:
    result = open_loop(endpoint, clients, rate, seconds)
    print(f"(a) open loop at {rate:.0f}/s for {seconds:g} s: {result.summary()}")
    return result.p99_ms


# Baseline and execution ----------------------------------------------------------------------


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
    url = bench_database(DEFAULT_DATABASE_URL, "bench/workflows.py")
    path, token, workflow_id = make_workflow()
    port = free_port()
    endpoint = Endpoint(port, path, functools.partial(request, token), 202)
    web = start_web(url, port, arguments.web_workers)
    try:
        warm_up(endpoint, arguments.clients)
        accepted = measure_accepted(endpoint, arguments.clients, arguments.seconds)
        p99 = measure_latency(endpoint, arguments.clients, accepted / 2, arguments.seconds)
    finally:
        stop(web)
    from django.db import connections

    connections.close_all()
    executions = measure_executions(url, arguments.workers)
    # The rows an accepted event commits, one run and its job a transaction, into the real
    # tables (a TEMP table, as before, writes no WAL and overstated the commit rate).
    baseline = measure_baseline(
        url, workflow_id, arguments.baseline_rows, 1, lambda number, _index: f"base-{number}", "j"
    )
    print(
        f"accepted_per_s={accepted:.0f} ack_p99_ms={p99:.1f} executions_per_s={executions:.0f} "
        f"baseline_commits_per_s={baseline:.0f} ratio={accepted / baseline:.2f}"
    )


if __name__ == "__main__":
    main()
