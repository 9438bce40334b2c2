"""The outbound-message receiver, replaying the protocol samples the way Salesforce sends them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from django.db import DatabaseError

from closeloop.distributions.secrets import encrypt
from closeloop.integrations.salesforce import outbound
from closeloop.integrations.salesforce.models import ConnectedAccount
from closeloop.jobs.models import Job
from closeloop.workflows import actions, lookup_cache
from closeloop.workflows.models import RunStatus, WorkflowRun

FIXTURES = Path(__file__).parent / "fixtures"
ORG_ID = "00D5g000004ClXkEAK"
SOAP_HEADERS = {"content_type": "text/xml; charset=utf-8", "HTTP_SOAPACTION": '""'}
CASE_FIELDS = [
    {"name": "CaseNumber", "type": "String"},
    {"name": "ClosedDate", "type": "DateTime"},
    {"name": "ContactEmail", "type": "String"},
    {"name": "IsClosed", "type": "Boolean"},
    {"name": "Survey_Score__c", "type": "Number"},
]


def sample(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def linked_account(
    organization, owner, org_id=ORG_ID, name="Support org", environment="production"
):
    return ConnectedAccount.objects.create(
        organization=organization,
        owner=owner,
        name=name,
        environment=environment,
        login_url="https://login.salesforce.com",
        instance_url="https://closeloop-demo.my.salesforce.com",
        salesforce_organization_id=org_id,
        salesforce_user_id="0055g00000AbCdEAAV",
        username=f"{name.lower().replace(' ', '.')}@example.com",
        access_token_encrypted=encrypt("access"),
        refresh_token_encrypted=encrypt("refresh"),
    )


def outbound_workflow(organization, owner, account, object_name="Case", fields=CASE_FIELDS):
    workflow, _ = actions.create_workflow(
        organization,
        owner,
        {
            "name": "Closed cases",
            "event": {
                "type": "salesforce_outbound",
                "config": {"account": account.public_id, "object": object_name, "fields": fields},
            },
        },
    )
    return workflow


@pytest.fixture
def endpoint(org_a):
    organization, owner = org_a
    lookup_cache.forget_all()
    account = linked_account(organization, owner)
    workflow = outbound_workflow(organization, owner, account)
    return workflow, f"/inbound/salesforce/{workflow.trigger_token}"


def post(client, url, body: bytes, **headers):
    return client.generic("POST", url, body, **{**SOAP_HEADERS, **headers})


def batch(count: int, org_id: str = ORG_ID, sobject: str = "Case", first: int = 0) -> bytes:
    notifications = "".join(
        f"""<Notification><Id>04l5g00000H{index:07d}</Id>
        <sObject xsi:type="sf:{sobject}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
        <sf:Id>5005g00000d{index:07d}</sf:Id><sf:CaseNumber>{index:08d}</sf:CaseNumber>
        <sf:IsClosed>true</sf:IsClosed><sf:ContactEmail>c{index}@example.com</sf:ContactEmail>
        </sObject></Notification>"""
        for index in range(first, first + count)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound">
<OrganizationId>{org_id}</OrganizationId><ActionId>04k5g000000TzQeAAK</ActionId>
<SessionId xsi:nil="true"/><EnterpriseUrl>https://x.my.salesforce.com/c</EnterpriseUrl>
<PartnerUrl>https://x.my.salesforce.com/u</PartnerUrl>{notifications}</notifications>
</soapenv:Body></soapenv:Envelope>""".encode()


def assert_ack(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/xml")
    root = outbound.parse_xml(response.content)
    ack = root.find(f".//{{{outbound.OUTBOUND_NS}}}Ack")
    assert ack is not None and ack.text == "true"


def fault_of(response) -> tuple[str, str]:
    assert response["Content-Type"].startswith("text/xml")
    root = outbound.parse_xml(response.content)
    fault = root.find(f".//{{{outbound.SOAP_ENVELOPE_NS}}}Fault")
    assert fault is not None, response.content
    return fault.findtext("faultcode"), fault.findtext("faultstring")


def nothing_stored():
    return (
        not WorkflowRun.objects.exists() and not Job.objects.filter(kind="workflows.run").exists()
    )


@pytest.mark.django_db(transaction=True)
def test_a_closed_case_is_stored_then_acknowledged_with_typed_fields(client, endpoint):
    workflow, url = endpoint
    assert_ack(post(client, url, sample("case_closed.xml")))
    run = WorkflowRun.objects.get()
    assert run.workflow == workflow and run.source == "salesforce"
    assert run.status == RunStatus.QUEUED and run.dedup_key == "salesforce:04l5g00000HkT2mAAF"
    assert run.fields["Case.IsClosed"] is True
    assert run.fields["Case.CaseNumber"] == "00001027"  # text, leading zeros kept
    assert run.fields["Case.ClosedDate"] == "2026-11-20T14:03:11.000Z"
    assert run.fields["Case.Survey_Score__c"] == ""  # listed but not sent: empty
    assert run.fields["Case.Status"] == "Closed"  # not listed: still there, as text
    assert run.fields["Case.Id"] == "5005g00000dQz1XAAS"
    assert run.fields["OrganizationId"] == ORG_ID
    assert run.fields["ActionId"] == "04k5g000000TzQeAAK"
    assert run.fields["NotificationId"] == "04l5g00000HkT2mAAF"
    payload = json.loads(run.payload)
    assert payload["Case"]["ContactEmail"] == "maria.lopez@example.com"
    assert "SessionId" not in run.payload
    assert Job.objects.filter(kind="workflows.run").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_same_notification_three_times_starts_one_run(client, endpoint):
    _, url = endpoint
    for _ in range(3):
        assert_ack(post(client, url, sample("case_closed.xml")))
    assert WorkflowRun.objects.count() == 1
    assert Job.objects.filter(kind="workflows.run").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_batch_of_100_is_100_runs_and_one_ack(client, endpoint):
    _, url = endpoint
    assert_ack(post(client, url, batch(100)))
    assert WorkflowRun.objects.count() == 100
    assert Job.objects.filter(kind="workflows.run").count() == 100
    # A later message repeats 90 of them with 10 new ones: only the new ones start runs.
    assert_ack(post(client, url, batch(100, first=10)))
    assert WorkflowRun.objects.count() == 110
    assert Job.objects.filter(kind="workflows.run").count() == 110


@pytest.mark.django_db(transaction=True)
def test_the_15_character_organization_id_is_the_same_org(client, endpoint):
    _, url = endpoint
    assert_ack(post(client, url, batch(1, org_id=ORG_ID[:15])))
    assert WorkflowRun.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "fault_text"),
    [
        (batch(1, org_id="00D000000000001AAA"), "comes from Salesforce org"),
        (batch(2, sobject="Opportunity"), "is about a Opportunity"),
        (batch(101), "at most 100"),
        (sample("bad_entity_expansion.xml"), "not allowed"),
        (sample("bad_external_entity.xml"), "not allowed"),
        (sample("bad_truncated.xml"), "not well-formed"),
        (b'{"event": "case closed"}', "not well-formed"),
        (b"<html><body>hello</body></html>", "not a SOAP 1.1 envelope"),
        (b" ", "not well-formed"),
    ],
)
@pytest.mark.django_db(transaction=True)
def test_bad_messages_get_a_client_fault_and_store_nothing(client, endpoint, body, fault_text):
    _, url = endpoint
    started = time.perf_counter()
    response = post(client, url, body)
    assert time.perf_counter() - started < 1.0
    assert response.status_code == 400
    code, text = fault_of(response)
    assert code == "soapenv:Client" and fault_text in text, text
    assert nothing_stored()


@pytest.mark.django_db(transaction=True)
def test_an_opportunity_batch_goes_to_an_opportunity_workflow(client, org_a):
    organization, owner = org_a
    lookup_cache.forget_all()
    account = linked_account(organization, owner)
    fields = [{"name": "Amount", "type": "Number"}, {"name": "IsWon", "type": "Boolean"}]
    workflow = outbound_workflow(organization, owner, account, "Opportunity", fields)
    response = post(
        client, f"/inbound/salesforce/{workflow.trigger_token}", sample("opportunity_won_batch.xml")
    )
    assert_ack(response)
    runs = list(WorkflowRun.objects.order_by("id"))
    assert len(runs) == 3
    amounts = [run.fields["Opportunity.Amount"] for run in runs]
    assert "" in amounts  # the xsi:nil amount and the one left out are both empty
    assert any(isinstance(amount, float) for amount in amounts)
    assert any("&" in json.dumps(run.fields) for run in runs)  # &amp; arrives unescaped


@pytest.mark.django_db(transaction=True)
def test_a_10_mb_body_is_refused_before_it_is_read(client, endpoint):
    _, url = endpoint
    body = b"<a>" + b"x" * (10 * 1024 * 1024) + b"</a>"
    started = time.perf_counter()
    response = post(client, url, body)
    assert time.perf_counter() - started < 2.0
    assert response.status_code == 413
    assert fault_of(response)[0] == "soapenv:Client"
    assert nothing_stored()


@pytest.mark.django_db(transaction=True)
def test_other_methods_media_types_and_urls_get_faults(client, endpoint):
    _, url = endpoint
    response = client.get(url)
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert fault_of(response)[0] == "soapenv:Client"
    response = post(client, url, sample("case_closed.xml"), content_type="application/json")
    assert response.status_code == 415
    response = post(client, "/inbound/salesforce/not-a-token", sample("case_closed.xml"))
    assert response.status_code == 404 and "No Salesforce" in fault_of(response)[1]
    assert nothing_stored()


@pytest.mark.django_db(transaction=True)
def test_a_database_failure_is_a_server_fault_so_salesforce_retries(client, endpoint, monkeypatch):
    _, url = endpoint

    def failing(*_args, **_kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(actions, "start_runs", failing)
    response = post(client, url, sample("case_closed.xml"))
    assert response.status_code == 500
    code, text = fault_of(response)
    assert code == "soapenv:Server" and "deliver it again" in text
    assert nothing_stored()


@pytest.mark.django_db(transaction=True)
def test_a_removed_account_refuses_messages(client, endpoint):
    _, url = endpoint
    ConnectedAccount.objects.all().delete()
    lookup_cache.forget_all()
    response = post(client, url, sample("case_closed.xml"))
    assert response.status_code == 400 and "no linked Salesforce account" in fault_of(response)[1]
    assert nothing_stored()


@pytest.mark.django_db(transaction=True)
def test_while_listening_a_message_is_captured_not_run(client, endpoint):
    workflow, url = endpoint
    actions.start_capture(workflow)
    lookup_cache.forget_all()
    assert_ack(post(client, url, sample("case_closed.xml")))
    workflow.refresh_from_db()
    assert "04l5g00000HkT2mAAF" in workflow.captured_payload
    assert not WorkflowRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_disabled_workflow_records_the_notifications_as_skipped(client, endpoint):
    workflow, url = endpoint
    actions.set_enabled(workflow, workflow.owner, False)
    lookup_cache.forget_all()
    assert_ack(post(client, url, batch(3)))
    assert list(WorkflowRun.objects.values_list("status", flat=True)) == [RunStatus.SKIPPED] * 3
    assert_ack(post(client, url, batch(3)))
    assert WorkflowRun.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_each_organization_receives_only_its_own_messages(client, org_a, org_b):
    lookup_cache.forget_all()
    (organization_a, owner_a), (organization_b, owner_b) = org_a, org_b
    workflow_a = outbound_workflow(organization_a, owner_a, linked_account(organization_a, owner_a))
    other_org = "00D5g000009ZzZzEAK"
    workflow_b = outbound_workflow(
        organization_b, owner_b, linked_account(organization_b, owner_b, org_id=other_org)
    )
    # Org B's Salesforce message sent to org A's URL is refused, and the reverse.
    response = post(client, f"/inbound/salesforce/{workflow_a.trigger_token}", batch(1, other_org))
    assert response.status_code == 400
    response = post(client, f"/inbound/salesforce/{workflow_b.trigger_token}", batch(1))
    assert response.status_code == 400
    assert_ack(post(client, f"/inbound/salesforce/{workflow_b.trigger_token}", batch(2, other_org)))
    assert WorkflowRun.objects.filter(organization=organization_b).count() == 2
    assert not WorkflowRun.objects.filter(organization=organization_a).exists()


@pytest.mark.django_db(transaction=True)
def test_a_content_length_that_is_no_number_is_a_client_fault(client, endpoint):
    _, url = endpoint
    response = post(client, url, sample("case_closed.xml"), CONTENT_LENGTH="lots")
    assert response.status_code == 400
    assert fault_of(response) == ("soapenv:Client", "The Content-Length header is not a number.")
    assert nothing_stored()
