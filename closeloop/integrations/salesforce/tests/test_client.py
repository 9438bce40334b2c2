"""The REST client of a linked account against the fake Salesforce: operations, token refresh,
what each kind of failure becomes, timeouts, and the cached describe."""

from __future__ import annotations

import pytest
import requests

from closeloop.integrations.salesforce import metadata
from closeloop.integrations.salesforce.client import (
    API_VERSION,
    TIMEOUTS,
    ReconnectNeeded,
    Rejected,
    SalesforceClient,
)
from closeloop.integrations.salesforce.models import AccountStatus
from closeloop.integrations.salesforce.tests.helpers import linked, requests_to
from closeloop.workflows.registry import RetryLater, TaskFailed

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(fake_salesforce, org_a):
    return linked(fake_salesforce, *org_a)


def test_operations_at_api_version_66(fake_salesforce, account):
    client = SalesforceClient(account)
    case = client.insert("Case", {"Subject": "Router"})
    assert case.created and case.id.startswith("500")
    assert client.update("Case", case.id, {"Status": "Closed"}).id == case.id
    upserted = client.upsert("Contact", "External_Id__c", "C-42/x y", {"LastName": "Lovelace"})
    again = client.upsert("Contact", "External_Id__c", "C-42/x y", {"LastName": "Byron"})
    assert (upserted.created, again.created, again.id) == (True, False, upserted.id)
    (contact,) = fake_salesforce.records_of("Contact")
    assert contact["External_Id__c"] == "C-42/x y" and contact["LastName"] == "Byron"
    assert client.find_id("Contact", "External_Id__c", "C-42/x y") == upserted.id
    assert client.find_id("Contact", "External_Id__c", "it's not there") is None
    post = client.post_to_chatter(case.id, "Closed the loop")
    assert fake_salesforce.records_of("FeedItem")[0]["Body"] == "Closed the loop"
    assert post.created
    client.delete("Case", case.id)
    assert fake_salesforce.records_of("Case") == []
    fields = {info.name: info for info in client.describe("Survey_Response__c")}
    assert fields["Case__c"].reference_to == ("Case",) and fields["Response_Id__c"].external_id
    assert fields["Id"].createable is False
    rest = [path for _method, path in fake_salesforce.requests if path.startswith("/services/data")]
    assert rest and all(path.startswith(f"/services/data/v{API_VERSION}/") for path in rest)
    assert API_VERSION == "66.0"


def test_every_call_has_a_timeout(account, monkeypatch):
    seen = []

    def record(self, method, url, *args, **kwargs):
        seen.append(kwargs.get("timeout"))
        raise requests.ConnectTimeout("no route")

    monkeypatch.setattr(requests.Session, "request", record)
    with pytest.raises(RetryLater):
        SalesforceClient(account).describe("Case")
    with pytest.raises(RetryLater):
        SalesforceClient(account, timeout=(1, 2)).describe("Case")
    assert seen == [TIMEOUTS, (1, 2)]


def test_an_expired_session_is_refreshed_once(fake_salesforce, account):
    fake_salesforce.expire_access_tokens()
    assert SalesforceClient(account).insert("Case", {"Subject": "x"}).created
    assert requests_to(fake_salesforce, "POST", "/services/oauth2/token") == 1
    assert len(fake_salesforce.records_of("Case")) == 1


def test_a_revoked_grant_needs_reconnecting(fake_salesforce, account):
    fake_salesforce.expire_access_tokens()
    fake_salesforce.revoke_refresh_tokens()
    with pytest.raises(ReconnectNeeded) as refused:
        SalesforceClient(account).insert("Case", {"Subject": "x"})
    assert isinstance(refused.value, TaskFailed)
    assert "Acme Owner must reconnect it on the Extensions → Salesforce page" in str(refused.value)
    account.refresh_from_db()
    assert account.status == AccountStatus.NEEDS_ATTENTION


def test_an_unreachable_token_endpoint_retries_later(fake_salesforce, account, settings):
    fake_salesforce.expire_access_tokens()
    account.login_url = "https://127.0.0.1:9"  # nothing listens there
    with pytest.raises(RetryLater) as later:
        SalesforceClient(account).insert("Case", {"Subject": "x"})
    assert "unreachable" in str(later.value)


def test_limits_wait_longer_with_each_attempt(fake_salesforce, account):
    delays = []
    for attempt in (1, 2, 3, 9):
        fake_salesforce.limit_exceeded_times = 1
        with pytest.raises(RetryLater) as later:
            SalesforceClient(account, attempt=attempt).describe("Case")
        assert "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded." in str(later.value)
        delays.append(later.value.delay_seconds)
    assert 240 <= delays[0] <= 300 and 480 <= delays[1] <= 600 and 960 <= delays[2] <= 1200
    assert delays[3] <= 3600


def test_server_errors_retry_later(fake_salesforce, account):
    fake_salesforce.server_error_times = 1
    with pytest.raises(RetryLater) as later:
        SalesforceClient(account).update("Case", "500000000000001AAA", {"Subject": "x"})
    assert "Salesforce answered 503" in str(later.value) and "SERVER_UNAVAILABLE" in str(
        later.value
    )
    assert 24 <= later.value.delay_seconds <= 30


def test_salesforce_errors_fail_with_their_code_message_and_fields(fake_salesforce, account):
    client = SalesforceClient(account)
    with pytest.raises(Rejected) as missing:
        client.insert("Contact", {"Email": "ada@example.com"})
    assert str(missing.value) == (
        "REQUIRED_FIELD_MISSING: Required fields are missing: [LastName] (fields: LastName)"
    )
    assert missing.value.codes == {"REQUIRED_FIELD_MISSING"} and missing.value.status == 400
    with pytest.raises(Rejected, match="ENTITY_IS_DELETED: entity is deleted"):
        client.delete("Case", "500000000000001AAA")
    with pytest.raises(Rejected, match="INVALID_FIELD: No such column 'Nope'"):
        client.update("Case", fake_salesforce.store("Case", None, {}), {"Nope": 1})


def test_two_records_with_one_external_id_are_refused(fake_salesforce, account):
    for _ in range(2):
        fake_salesforce.store("Contact", None, {"External_Id__c": "dup", "LastName": "x"})
    with pytest.raises(Rejected, match="More than one record matches"):
        SalesforceClient(account).upsert("Contact", "External_Id__c", "dup", {"LastName": "y"})


def test_a_create_without_an_answer_is_not_retried_blindly(account, monkeypatch):
    def slow(self, method, url, *args, **kwargs):
        raise requests.ReadTimeout("read timed out")

    monkeypatch.setattr(requests.Session, "request", slow)
    client = SalesforceClient(account)
    with pytest.raises(Rejected, match=r"may have written it anyway\. Check in Salesforce"):
        client.insert("Case", {"Subject": "x"})
    with pytest.raises(Rejected, match="may have written it anyway"):
        client.post_to_chatter("me", "hello")
    with pytest.raises(RetryLater, match="did not answer"):
        client.insert("Case", {"Subject": "x"}, repeatable=True)
    with pytest.raises(RetryLater, match="did not answer"):
        client.update("Case", "500000000000001AAA", {"Subject": "x"})


def test_describe_is_cached_per_account_object_and_version(fake_salesforce, org_a, account):
    first = metadata.object_fields(account, "Survey_Response__c")
    second = metadata.object_fields(account, "Survey_Response__c")
    assert first == second and first["NPS__c"].type == "double"
    assert requests_to(fake_salesforce, "GET", "/describe") == 1
    assert metadata.cache_key(account, "Survey_Response__c").endswith(":66.0")
    other = linked(fake_salesforce, *org_a, name="Other org")
    metadata.object_fields(other, "Survey_Response__c")
    metadata.object_fields(account, "Case")
    assert requests_to(fake_salesforce, "GET", "/describe") == 3
    metadata.object_fields(account, "Survey_Response__c", refresh=True)
    assert requests_to(fake_salesforce, "GET", "/describe") == 4
    metadata.forget(account, "Survey_Response__c")
    assert metadata.cached_fields(account, "Survey_Response__c") is None
