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


def make_workflow() -> tuple[str, int]:
    """A fresh bench organization, its owner's linked Salesforce account and an outbound-message
    workflow on Case: (endpoint path, workflow id)."""
    from closeloop.distributions.secrets import encrypt
    from closeloop.integrations.salesforce.models import ConnectedAccount
    from closeloop.workflows import actions

    organization, user = new_bench_organization(BRAND, EMAIL)
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
    vacuum_run_tables()
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


def measure_acknowledged(endpoint: Endpoint, web, workflow_id: int, clients: int, seconds: float):
    result = measured_closed_loop(endpoint, web, workflow_id, clients, seconds)
    notifications = result.accepted * NOTIFICATIONS
    print(
        f"(a) {result.clients} clients, {seconds:g} s: "
        f"{result.accepted} messages acknowledged (200 Ack) = {notifications} notifications, "
        f"{result.other} other answers; {result.stored} runs stored"
    )
    if result.stored != notifications:
        raise SystemExit(
            f"{notifications} notifications acknowledged but {result.stored} runs stored"
        )
    print(result.cpu_line("(a)", "message", NOTIFICATIONS))
    return result.accepted / seconds


def measure_latency(endpoint: Endpoint, clients: int, rate: float, seconds: float) -> float:
    result = open_loop(endpoint, clients, rate, seconds)
    print(
        f"(b) open loop at {rate:.1f} messages/s ({rate * NOTIFICATIONS:.0f} notifications/s) "
        f"for {seconds:g} s: {result.summary('messages acknowledged')}"
    )
    return result.p99_ms


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # in order with the server's log lines
    arguments = parse_arguments()
    url = bench_database(DEFAULT_DATABASE_URL, "bench/salesforce.py")
    machine_check()
    path, workflow_id = make_workflow()
    port = free_port()
    endpoint = Endpoint(port, path, request, 200)
    with web_server(url, port, arguments.web_workers) as web:
        warm_up(endpoint, arguments.clients)
        messages_per_s = measure_acknowledged(
            endpoint, web, workflow_id, arguments.clients, arguments.seconds
        )
        p99 = measure_latency(endpoint, arguments.clients, messages_per_s / 2, arguments.seconds)
    baseline = measure_baseline(
        url,
        workflow_id,
        arguments.baseline_messages,
        NOTIFICATIONS,
        lambda number, index: f"salesforce:{notification_id('b000', number, index)}",
        tag="b",
    )
    machine_check()
    notifications = messages_per_s * NOTIFICATIONS
    print(
        f"notifications_per_s={notifications:.0f} ack_p99_ms={p99:.1f} "
        f"baseline_per_s={baseline:.0f} ratio={notifications / baseline:.2f}"
    )


if __name__ == "__main__":
    main()
