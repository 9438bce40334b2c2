"""Salesforce outbound messages acknowledged per second on PostgreSQL, under gunicorn.

    .venv/bin/python bench/salesforce.py [--seconds 10] [--clients 20] [--web-workers 5]
                                         [--baseline-messages 300]

A bench organization with a linked Salesforce account and a workflow whose event is the
Salesforce Outbound Message (Case, five typed fields). Load clients post SOAP 1.1 messages of
100 Case notifications each to the workflow's endpoint URL (/inbound/salesforce/<token>,
text/xml, SOAPAction ""), every notification id new (18 characters made of the client's name,
its message number and the notification's place in it), so every notification starts a run.
The receiver answers 200 with Ack true only once all 100 runs and their jobs are committed,
in one statement.

notifications_per_s: --clients concurrent clients (keep-alive connections, each waiting for
    the Ack before sending again) for --seconds, after a 3 s warm-up (every gunicorn worker
    imports the views on its first request); acknowledged messages x 100 / seconds. The runs
    stored are counted afterwards: they must be exactly that many.
ack_p99_ms: the 99th percentile latency of a 100-notification message under an open-loop
    load of half that rate, counted from each message's scheduled send time (a stall is not
    hidden by the clients slowing down).
baseline_per_s: the raw commit rate of the same rows in the same run: over one raw psycopg
    connection, --baseline-messages transactions of a multi-row INSERT of 100 runs into
    workflows_workflowrun (RETURNING their ids), a multi-row INSERT of their 100 jobs into
    jobs_job, and COMMIT; column values are copied from a run (and its job) the receiver
    stored, with fresh public ids and dedup keys. Rows (notifications) per second.
ratio: notifications_per_s / baseline_per_s.

The runs are not executed (no `closeloop worker` runs here). The clients, gunicorn and
PostgreSQL share the machine: on 2 cores they compete for it, the baseline has it alone.

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/closeloop_bench_salesforce
(created if missing; the bench organization's rows are replaced on each run).
The last line is machine-readable:
notifications_per_s=… ack_p99_ms=… baseline_per_s=… ratio=…
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from common import (
    LOAD_PROCESSES,
    Endpoint,
    bench_database,
    child_pids,
    closed_loop,
    cpu_check_ms,
    cpu_seconds,
    free_port,
    open_loop,
    start_web,
    stop,
    threads_per_process,
    warm_up,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/closeloop_bench_salesforce"
BRAND = "bench-salesforce"
EMAIL = "bench@salesforce.test"
ORG_ID = "00D5g000004BnChAAK"
NOTIFICATIONS = 100  # per message: the most Salesforce sends in one
# The Case fields the workflow lists, by type (the messages also carry Id and Subject).
CASE_FIELDS = [
    {"name": name, "type": kind}
    for kind, names in (
        ("String", ("CaseNumber", "Status", "ContactEmail")),
        ("DateTime", ("ClosedDate",)),
        ("Boolean", ("IsClosed",)),
        ("Number", ("Survey_Score__c",)),
    )
    for name in names
]


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--web-workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--baseline-messages", type=int, default=300)
    return parser.parse_args()


# Set-up --------------------------------------------------------------------------------------


def remove_bench_organization() -> None:
    """The last run's bench organization and everything of it. Its runs and jobs (a hundred
    thousand or more, never executed) go first in plain SQL: Django's cascade would load them."""
    from django.db import connection

    from closeloop.accounts.models import Organization, User

    organizations = list(Organization.objects.filter(brand_id=BRAND).values_list("pk", flat=True))
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
    User.objects.filter(email=EMAIL).delete()


def make_workflow() -> tuple[str, int]:
    """A fresh bench organization, its owner's linked Salesforce account and an outbound-message
    workflow on Case: (endpoint path, workflow id)."""
    from django.db import connection

    from closeloop.accounts.models import Membership, Organization, Role, User
    from closeloop.distributions.secrets import encrypt
    from closeloop.integrations.salesforce.models import ConnectedAccount
    from closeloop.workflows import actions

    remove_bench_organization()
    organization = Organization.objects.create(name="Bench", brand_id=BRAND)
    user = User.objects.create_user(EMAIL, "unused bench password")
    Membership.objects.create(organization=organization, user=user, role=Role.OWNER)
    account = ConnectedAccount.objects.create(
        organization=organization,
        owner=user,
        name="Bench support org",
        environment="production",
        login_url="https://login.salesforce.com",
        instance_url="https://closeloop-bench.my.salesforce.com",
        salesforce_organization_id=ORG_ID,
        salesforce_user_id="0055g00000BeNcHAAV",
        username="bench@closeloop-bench.example",
        access_token_encrypted=encrypt("access"),
        refresh_token_encrypted=encrypt("refresh"),
    )
    definition = {
        "name": "Bench: closed cases",
        "event": {
            "type": "salesforce_outbound",
            "config": {"account": account.public_id, "object": "Case", "fields": CASE_FIELDS},
        },
    }
    workflow, _warnings = actions.create_workflow(organization, user, definition)
    with connection.cursor() as cursor:
        for table in ("workflows_workflowrun", "workflows_taskrun", "jobs_job"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return f"/inbound/salesforce/{workflow.trigger_token}", workflow.pk


# Clients -------------------------------------------------------------------------------------


def notification_id(client: str, number: int, index: int) -> str:
    """An 18-character Salesforce id no other notification of the run has: "04l" (the key
    prefix of outbound-message notifications), the client's 4-character name, the message
    number and the notification's place, then the case-safe checksum."""
    from closeloop.integrations.salesforce.outbound import id_checksum

    id15 = f"04l{client}{number:06d}{index:02d}"
    if len(id15) != 15:
        raise SystemExit(f"client {client} sent more than a million messages")
    return id15 + id_checksum(id15)


def request(client: str, number: int) -> tuple[bytes, dict]:
    """An outbound message of NOTIFICATIONS closed cases, as Salesforce posts it."""
    notifications = []
    for index in range(NOTIFICATIONS):
        case = f"{number:06d}{index:02d}"
        notifications.append(
            f"<Notification><Id>{notification_id(client, number, index)}</Id>"
            '<sObject xsi:type="sf:Case" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
            f"<sf:Id>5005g0{client}{case}</sf:Id><sf:CaseNumber>{case}</sf:CaseNumber>"
            "<sf:ClosedDate>2026-11-20T14:03:11.000Z</sf:ClosedDate>"
            f"<sf:ContactEmail>customer-{client}-{case}@example.com</sf:ContactEmail>"
            "<sf:IsClosed>true</sf:IsClosed><sf:Status>Closed</sf:Status>"
            f"<sf:Subject>Order {case} arrived damaged</sf:Subject>"
            '<sf:Survey_Score__c xsi:nil="true"/>'
            "</sObject></Notification>"
        )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{ORG_ID}</OrganizationId><ActionId>04k5g000000BeNcAAK</ActionId>"
        '<SessionId xsi:nil="true"/>'
        "<EnterpriseUrl>https://closeloop-bench.my.salesforce.com/services/Soap/c/62.0/00D5g"
        "</EnterpriseUrl>"
        "<PartnerUrl>https://closeloop-bench.my.salesforce.com/services/Soap/u/62.0/00D5g"
        f"</PartnerUrl>{''.join(notifications)}</notifications></soapenv:Body></soapenv:Envelope>"
    )
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
    return body.encode(), headers


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


def cpu_used(before: dict, after: dict, side: str) -> float:
    return sum(used - before[side].get(pid, 0.0) for pid, used in after[side].items())


def measure_acknowledged(endpoint: Endpoint, web, workflow_id: int, clients: int, seconds: float):
    before, cpu_before = stored_runs(workflow_id), server_cpu(web)
    acknowledged, other = closed_loop(endpoint, clients, seconds)
    stored, cpu_after = stored_runs(workflow_id) - before, server_cpu(web)
    notifications = acknowledged * NOTIFICATIONS
    print(
        f"(a) {threads_per_process(clients) * LOAD_PROCESSES} clients, {seconds:g} s: "
        f"{acknowledged} messages acknowledged (200 Ack) = {notifications} notifications, "
        f"{other} other answers; {stored} runs stored"
    )
    if stored != notifications:
        raise SystemExit(f"{notifications} notifications acknowledged but {stored} runs stored")
    if acknowledged:
        web_ms, database_ms = (
            cpu_used(cpu_before, cpu_after, side) * 1000 / acknowledged
            for side in ("gunicorn", "postgres")
        )
        machine_ms = (os.cpu_count() or 1) * seconds * 1000 / acknowledged
        print(
            f"(a) CPU per message: gunicorn workers {web_ms:.1f} ms, PostgreSQL backends "
            f"{database_ms:.1f} ms (of the {machine_ms:.1f} ms the machine's cores had per "
            "message, the clients and other processes included)"
        )
    return acknowledged / seconds


def measure_latency(endpoint: Endpoint, clients: int, rate: float, seconds: float) -> float:
    result = open_loop(endpoint, clients, rate, seconds)
    print(
        f"(b) open loop at {rate:.1f} messages/s ({rate * NOTIFICATIONS:.0f} notifications/s) "
        f"for {seconds:g} s: {result.summary('messages acknowledged')}"
    )
    return result.p99_ms


# Baseline ------------------------------------------------------------------------------------


RUN_QUERY = "SELECT * FROM workflows_workflowrun WHERE workflow_id = %s ORDER BY id LIMIT 1"
JOB_QUERY = (
    "SELECT * FROM jobs_job WHERE kind = 'workflows.run' AND payload->>'run' = "
    "(SELECT min(id)::text FROM workflows_workflowrun WHERE workflow_id = %s)"
)


def _template(connection, query: str, workflow_id: int) -> dict[str, str]:
    """Column (but id) → SQL literal, of the first row the query finds: a run or job exactly
    as the receiver stored it (JSON as text: PostgreSQL reads it into the jsonb column)."""
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


def measure_baseline(url: str, workflow_id: int, messages: int) -> float:
    """The raw commit rate of the receiver's rows: the statements, their values written in
    as literals (no parameters to convert, nothing for the client to do but send them), are
    made before the clock starts; each job's payload names its run, so the jobs' INSERT is
    written once the runs' ids are back."""
    import psycopg

    with psycopg.connect(url) as connection:
        run = _template(connection, RUN_QUERY, workflow_id)
        job = _template(connection, JOB_QUERY, workflow_id)
        statements = []
        for number in range(1, messages + 1):
            rows = []
            for index in range(NOTIFICATIONS):
                key = f"salesforce:{notification_id('b000', number, index)}"
                values = run | {
                    "public_id": _quoted(f"WR_bench{number:05d}{index:02d}"),
                    "dedup_key": _quoted(key),
                }
                rows.append("(" + ", ".join(values.values()) + ")")
            statements.append(
                f"{_insert('workflows_workflowrun', run)} VALUES {', '.join(rows)}"
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
    print(
        f"baseline: {messages} transactions of {NOTIFICATIONS} runs + {NOTIFICATIONS} jobs "
        f"(two multi-row INSERTs, COMMIT) over one psycopg connection in {elapsed:.2f} s"
    )
    return messages * NOTIFICATIONS / elapsed


def machine_check() -> None:
    """Others' processes and a shared virtual machine move the figures: say how things stand."""
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"cpu check: {cpu_check_ms():.0f} ms; load average {load} on {os.cpu_count()} cores")


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # in order with the server's log lines
    arguments = parse_arguments()
    url = bench_database(DEFAULT_DATABASE_URL, "bench/salesforce.py")
    machine_check()
    path, workflow_id = make_workflow()
    port = free_port()
    endpoint = Endpoint(port, path, request, 200)
    web = start_web(url, port, arguments.web_workers)
    print(f"gunicorn: {arguments.web_workers} workers x 4 threads (gthread)")
    try:
        warm_up(endpoint, arguments.clients)
        messages_per_s = measure_acknowledged(
            endpoint, web, workflow_id, arguments.clients, arguments.seconds
        )
        p99 = measure_latency(endpoint, arguments.clients, messages_per_s / 2, arguments.seconds)
    finally:
        stop(web)
    from django.db import connections

    connections.close_all()
    baseline = measure_baseline(url, workflow_id, arguments.baseline_messages)
    machine_check()
    notifications = messages_per_s * NOTIFICATIONS
    print(
        f"notifications_per_s={notifications:.0f} ack_p99_ms={p99:.1f} "
        f"baseline_per_s={baseline:.0f} ratio={notifications / baseline:.2f}"
    )


if __name__ == "__main__":
    main()
