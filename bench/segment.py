"""Twilio Segment events durably accepted per second on PostgreSQL, under gunicorn.

    .venv/bin/python bench/segment.py [--seconds 10] [--batch-clients 20] [--single-clients 50]
                                      [--web-workers 5] [--baseline-batches 300]
                                      [--baseline-singles 3000]

A bench organization with a Twilio Segment workflow (the event's default mapping: Segment's
14 preset fields) and no shared secret, so the URL alone admits a request. Load clients post
what the Webhooks (Actions) destination sends to the workflow's URL (/inbound/segment/<token>,
application/json): track events of about 0.8 KB (an "Order Completed" with properties and
context.traits), each with a messageId of its own (the client's name, its request number and
the event's place), so every event starts a run. The receiver answers 202 only once the
runs and their jobs are committed.

batched_events_per_s: --batch-clients clients (keep-alive connections, each waiting for the
    answer before sending again) post batches (JSON arrays) of 100 events for --seconds,
    after a 3 s warm-up (every gunicorn worker imports the views on its first request);
    accepted batches x 100 / seconds. The runs stored are counted afterwards: they must be
    exactly that many.
single_events_per_s: the same with --single-clients clients posting one event (a JSON
    object) a request.
single_p99_ms: the 99th percentile latency of a single event under an open-loop load of half
    single_events_per_s, counted from each request's scheduled send time (a stall is not
    hidden by the clients slowing down).
baseline_per_s: the raw commit rate of the same rows in the same run: over one raw psycopg
    connection, --baseline-batches transactions of a multi-row INSERT of 100 runs into
    workflows_workflowrun (RETURNING their ids), a multi-row INSERT of their 100 jobs into
    jobs_job, and COMMIT; column values are copied from a run (and its job) the receiver
    stored, with fresh public ids and dedup keys. Rows (events) per second.
ratio: batched_events_per_s / baseline_per_s (the batched baseline).
The single events are set beside the single-row commit rate: --baseline-singles transactions
of one run + its job (INSERT, INSERT, COMMIT) the same way; printed, not in the last line.

The runs are not executed (no `closeloop worker` runs here). The clients, gunicorn and
PostgreSQL share the machine: on 2 cores they compete for it, the baselines have it alone.

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/closeloop_bench_segment (created
if missing; the bench organization's rows are replaced on each run).
The last line is machine-readable:
batched_events_per_s=… single_p99_ms=… baseline_per_s=… ratio=…
"""

from __future__ import annotations

import argparse
import os
import sys

from common import (
    Endpoint,
    bench_database,
    free_port,
    machine_check,
    measure_baseline,
    measured_closed_loop,
    new_bench_organization,
    open_loop,
    vacuum_run_tables,
    warm_up,
    web_server,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/closeloop_bench_segment"
BRAND = "bench-segment"
EMAIL = "bench@segment.test"
BATCH = 100  # events per Webhooks (Actions) batch
HEADERS = {"Content-Type": "application/json", "User-Agent": "Segment (Actions)"}
# A track call as Segment's Webhooks (Actions) destination sends it; {client}, {number} and
# {index} make its messageId, user and order unique in the run.
EVENT = (
    '{{"anonymousId":"2b1f6e0c-3c5a-4f7e-9d41-{client}{number:08d}",'
    '"context":{{"ip":"203.0.113.24","library":{{"name":"analytics.js","version":"5.2.0"}},'
    '"locale":"en-US","userAgent":"Mozilla/5.0 (X11; Linux x86_64)",'
    '"traits":{{"email":"buyer-{client}-{number}-{index}@bench.example","firstName":"Ada",'
    '"lastName":"Client {client}","phone":"+14155550123"}}}},'
    '"event":"Order Completed","integrations":{{"All":true}},'
    '"messageId":"ajs-next-1763820000000-{client}-{number:06d}-{index:03d}",'
    '"properties":{{"order_id":"{client}-{number}-{index}","total":42.5,"currency":"USD",'
    '"store":"Soho","coupon":null,"products":[{{"sku":"SKU-1","quantity":2}}]}},'
    '"receivedAt":"2026-11-21T09:15:02.318Z","sentAt":"2026-11-21T09:15:02.101Z",'
    '"originalTimestamp":"2026-11-21T09:15:01.990Z","timestamp":"2026-11-21T09:15:02.207Z",'
    '"type":"track","userId":"user_{client}_{number}_{index}","version":2}}'
)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch-clients", type=int, default=20)
    parser.add_argument("--single-clients", type=int, default=50)
    parser.add_argument("--web-workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--baseline-batches", type=int, default=300)
    parser.add_argument("--baseline-singles", type=int, default=3000)
    return parser.parse_args()


def make_workflow() -> tuple[str, int]:
    """A fresh bench organization with a Segment-event workflow: (endpoint path, workflow id)."""
    from closeloop.workflows import actions

    organization, user = new_bench_organization(BRAND, EMAIL)
    definition = {"name": "Bench: Segment orders", "event": {"type": "segment"}}
    workflow, _warnings = actions.create_workflow(organization, user, definition)
    vacuum_run_tables()
    return f"/inbound/segment/{workflow.trigger_token}", workflow.pk


def event(client: str, number: int, index: int) -> str:
    return EVENT.format(client=client, number=number, index=index)


def batch_request(client: str, number: int) -> tuple[bytes, dict]:
    """A Webhooks (Actions) batch: a JSON array of BATCH events."""
    events = ",".join(event(client, number, index) for index in range(BATCH))
    return f"[{events}]".encode(), HEADERS


def single_request(client: str, number: int) -> tuple[bytes, dict]:
    return event(client, number, 0).encode(), HEADERS


def measure_batched(endpoint: Endpoint, web, workflow_id: int, clients: int, seconds: float):
    result = measured_closed_loop(endpoint, web, workflow_id, clients, seconds)
    events = result.accepted * BATCH
    print(
        f"(a) batches of {BATCH}, {result.clients} clients, {seconds:g} s: {result.accepted} "
        f"batches accepted (202) = {events} events, {result.other} other answers; "
        f"{result.stored} runs stored; {events / seconds:.0f} events/s"
    )
    if result.stored != events:
        raise SystemExit(f"{events} events accepted but {result.stored} runs stored")
    print(result.cpu_line("(a)", "batch", BATCH))
    return events / seconds


def measure_single(endpoint: Endpoint, web, workflow_id: int, clients: int, seconds: float):
    result = measured_closed_loop(endpoint, web, workflow_id, clients, seconds, phase="s")
    print(
        f"(b) single events, {result.clients} clients, {seconds:g} s: {result.accepted} "
        f"accepted (202), {result.other} other answers; {result.stored} runs stored; "
        f"{result.accepted / seconds:.0f} events/s"
    )
    if result.stored != result.accepted:
        raise SystemExit(f"{result.accepted} events accepted but {result.stored} runs stored")
    print(result.cpu_line("(b)", "event"))
    return result.accepted / seconds


def measure_latency(endpoint: Endpoint, clients: int, rate: float, seconds: float) -> float:
    result = open_loop(endpoint, clients, rate, seconds)
    print(f"(c) single events, open loop at {rate:.0f}/s for {seconds:g} s: {result.summary()}")
    return result.p99_ms


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)
    arguments = parse_arguments()
    url = bench_database(DEFAULT_DATABASE_URL, "bench/segment.py")
    machine_check()
    path, workflow_id = make_workflow()
    port = free_port()
    batched = Endpoint(port, path, batch_request, 202)
    single = Endpoint(port, path, single_request, 202)
    with web_server(url, port, arguments.web_workers) as web:
        warm_up(batched, arguments.batch_clients)
        batched_per_s = measure_batched(
            batched, web, workflow_id, arguments.batch_clients, arguments.seconds
        )
        single_per_s = measure_single(
            single, web, workflow_id, arguments.single_clients, arguments.seconds
        )
        p99 = measure_latency(single, arguments.single_clients, single_per_s / 2, arguments.seconds)
    baseline = measure_baseline(
        url,
        workflow_id,
        arguments.baseline_batches,
        BATCH,
        lambda number, index: f"segment:bench-b-{number}-{index}",
        tag="b",
    )
    single_baseline = measure_baseline(
        url,
        workflow_id,
        arguments.baseline_singles,
        1,
        lambda number, index: f"segment:bench-s-{number}",
        tag="s",
    )
    machine_check()
    print(
        f"single events: {single_per_s:.0f}/s against {single_baseline:.0f} single-row "
        f"commits/s (ratio {single_per_s / single_baseline:.2f}); batched: "
        f"{batched_per_s:.0f} events/s against {baseline:.0f} rows/s committed 100 a "
        f"transaction (ratio {batched_per_s / baseline:.2f}, the one in the last line)"
    )
    print(
        f"batched_events_per_s={batched_per_s:.0f} single_p99_ms={p99:.1f} "
        f"baseline_per_s={baseline:.0f} ratio={batched_per_s / baseline:.2f}"
    )


if __name__ == "__main__":
    main()
