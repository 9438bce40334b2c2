"""The demo Salesforce org: a demo account's client writes into local tables, answers as
Salesforce does (ids, errors), and sends nothing over the network."""

from __future__ import annotations

import pytest
import requests

from closeloop.integrations.salesforce import actions, demo_backend, oauth
from closeloop.integrations.salesforce.client import Rejected, SalesforceClient
from closeloop.integrations.salesforce.demo_models import DemoRecord, DemoWrite
from closeloop.integrations.salesforce.models import Environment
from closeloop.integrations.salesforce.outbound import SALESFORCE_ID

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a demo account must not make HTTP requests")

    monkeypatch.setattr(requests.Session, "request", refuse)
    monkeypatch.setattr(oauth, "revoke", refuse)


@pytest.fixture
def account(org_a):
    return demo_backend.link_demo_account(*org_a)


@pytest.fixture
def client(account):
    return SalesforceClient(account)


def test_the_demo_account_is_marked_and_shaped_like_a_linked_one(account):
    assert account.environment == Environment.DEMO
    assert account.get_environment_display() == demo_backend.DEMO_LABEL
    assert SALESFORCE_ID.match(account.salesforce_organization_id)
    assert account.salesforce_organization_id.startswith("00D")
    assert account.shared_with_organization


def test_describe_and_an_unknown_object(client):
    fields = {info.name: info for info in client.describe("Survey_Response__c")}
    assert fields["Response_Id__c"].external_id and fields["NPS__c"].type == "double"
    assert fields["Case__c"].reference_to == ("Case",) and not fields["Id"].createable
    with pytest.raises(Rejected) as refused:
        client.describe("Nothing__c")
    assert refused.value.codes == {"NOT_FOUND"} and refused.value.status == 404


def test_insert_update_upsert_delete_are_recorded(account, client):
    inserted = client.insert("Account", {"Name": "Acme"})
    assert inserted.created and inserted.id.startswith("001") and len(inserted.id) == 18
    client.update("Account", inserted.id[:15], {"Name": "Acme Corp"})
    record = DemoRecord.objects.get(record_id=inserted.id)
    assert record.values == {"Id": inserted.id, "Name": "Acme Corp"}
    first = client.upsert("Contact", "External_Id__c", "C-42", {"LastName": "Lovelace"})
    second = client.upsert("Contact", "External_Id__c", "C-42", {"FirstName": "Ada"})
    assert first.created and not second.created and first.id == second.id
    assert DemoRecord.objects.get(record_id=first.id).values["FirstName"] == "Ada"
    assert client.find_id("Contact", "External_Id__c", "C-42") == first.id
    assert client.find_id("Contact", "External_Id__c", "nobody") is None
    client.delete("Account", inserted.id)
    assert not DemoRecord.objects.filter(record_id=inserted.id).exists()
    posted = client.post_to_chatter(first.id, "NPS 9")
    writes = [(w.operation, w.sobject, w.method) for w in DemoWrite.objects.order_by("id")]
    assert writes == [
        ("insert", "Account", "POST"),
        ("update", "Account", "PATCH"),
        ("upsert", "Contact", "PATCH"),
        ("upsert", "Contact", "PATCH"),
        ("delete", "Account", "DELETE"),
        ("chatter", "FeedItem", "POST"),
    ]
    upsert = DemoWrite.objects.filter(operation="upsert").order_by("id").first()
    assert upsert.path == "/services/data/v66.0/sobjects/Contact/External_Id__c/C-42"
    assert upsert.values == {"LastName": "Lovelace"}
    assert demo_backend.write_for(account, "FeedItem", posted.id).values["subjectId"] == first.id


def test_refusals_are_salesforces(account, client):
    with pytest.raises(Rejected) as unknown:
        client.insert("Survey_Response__c", {"Score__c": 9})
    assert unknown.value.codes == {"INVALID_FIELD"} and "Score__c" in str(unknown.value)
    with pytest.raises(Rejected) as missing:
        client.insert("Contact", {"FirstName": "Ada"})
    assert missing.value.codes == {"REQUIRED_FIELD_MISSING"}
    with pytest.raises(Rejected) as dangling:
        client.insert("Survey_Response__c", {"Case__c": "5005g00000dQz1XAAS"})
    assert dangling.value.codes == {"MALFORMED_ID"}
    with pytest.raises(Rejected) as gone:
        client.update("Account", "0015g00000AbCdEAAV", {"Name": "x"})
    assert gone.value.codes == {"NOT_FOUND"}
    with pytest.raises(Rejected) as not_external:
        client.upsert("Contact", "Email", "a@example.com", {"LastName": "A"})
    assert not_external.value.codes == {"NOT_FOUND"}
    assert not DemoWrite.objects.exists()


def test_a_case_closed_in_the_demo_org_is_a_record_not_a_write(account, client):
    case = demo_backend.put_record(account, "Case", {"CaseNumber": "00001027", "IsClosed": True})
    written = client.insert("Survey_Response__c", {"Case__c": case.record_id, "NPS__c": 9})
    assert DemoWrite.objects.get().record_id == written.id
    assert demo_backend.count_records(account, "Case") == 1
    assert demo_backend.find_record(account, "Case", "CaseNumber", "00001027") == case


def test_removing_a_demo_account_revokes_nothing(org_a, account):
    assert actions.remove(account, org_a[1]) == ""
    assert not DemoRecord.objects.exists()
