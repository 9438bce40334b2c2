"""The fake Salesforce answers the way simple-salesforce and an OAuth client expect."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from closeloop.integrations.salesforce.outbound import ack_response
from tests.fakes import serving
from tests.fakes.salesforce import FakeSalesforce

CASE_CLOSED = (
    Path(__file__).resolve().parent.parent
    / "closeloop/integrations/salesforce/tests/fixtures/case_closed.xml"
)


@pytest.fixture
def fake(monkeypatch):
    fake = FakeSalesforce().start()
    # requests prefers these variables to a session's own `verify`: trust the fake's certificate.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_path))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    yield fake
    fake.stop()


def authorize(fake: FakeSalesforce, session: requests.Session) -> dict:
    """The web server flow with PKCE, as a browser and a client would walk it."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    params = {
        "response_type": "code",
        "client_id": fake.client_id,
        "redirect_uri": "https://closeloop.test/callback",
        "state": "opaque-state",
        "code_challenge": challenge.decode(),
        "code_challenge_method": "S256",
    }
    page = session.get(f"{fake.base_url}/services/oauth2/authorize", params=params)
    assert page.status_code == 200 and "Allow Access?" in page.text
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    decision = session.post(
        f"{fake.base_url}/services/oauth2/authorize",
        data={**fields, "decision": "allow"},
        allow_redirects=False,
    )
    query = parse_qs(urlsplit(decision.headers["Location"]).query)
    assert query["state"] == ["opaque-state"]
    token = session.post(
        f"{fake.base_url}/services/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "redirect_uri": params["redirect_uri"],
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.text
    return token.json()


def test_oauth_flow_identity_refresh_and_revoke(fake):
    session = requests.Session()
    token = authorize(fake, session)
    assert token["instance_url"] == fake.base_url and token["refresh_token"]
    identity = session.get(
        token["id"], headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert identity.json()["organization_id"] == fake.organization_id
    fake.expire_access_tokens()
    assert (
        session.get(
            token["id"], headers={"Authorization": f"Bearer {token['access_token']}"}
        ).status_code
        == 403
    )
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": token["refresh_token"],
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
    }
    refreshed = session.post(f"{fake.base_url}/services/oauth2/token", data=refresh)
    assert refreshed.status_code == 200 and "refresh_token" not in refreshed.json()
    session.post(f"{fake.base_url}/services/oauth2/revoke", data={"token": token["refresh_token"]})
    revoked = session.post(f"{fake.base_url}/services/oauth2/token", data=refresh)
    assert revoked.status_code == 400 and revoked.json()["error"] == "invalid_grant"


def test_pkce_verifier_and_client_secret_are_checked(fake):
    session = requests.Session()
    bad = session.post(
        f"{fake.base_url}/services/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": "x",
            "client_id": fake.client_id,
            "client_secret": "wrong",
        },
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"


def test_rest_api_through_simple_salesforce(fake):
    session = requests.Session()
    token = authorize(fake, session)
    client = Salesforce(
        instance_url=token["instance_url"],
        session_id=token["access_token"],
        version="66.0",
        session=session,
    )
    case = client.Case.create({"Subject": "Router", "Status": "Closed"})
    assert case["success"] and case["id"].startswith("500")
    created = client.Survey_Response__c.create({"Case__c": case["id"], "NPS__c": 9})
    assert fake.records_of("Survey_Response__c")[0]["NPS__c"] == 9
    assert client.Survey_Response__c.update(created["id"], {"Comment__c": "Great"}) == 204
    upserted = client.Survey_Response__c.upsert("Response_Id__c/R_abc", {"NPS__c": 10})
    assert upserted == 201
    again = client.Survey_Response__c.upsert("Response_Id__c/R_abc", {"NPS__c": 8})
    assert again == 200 and len(fake.records_of("Survey_Response__c")) == 2
    described = client.Survey_Response__c.describe()
    assert {f["name"]: f["type"] for f in described["fields"]}["NPS__c"] == "double"
    assert (
        client.query("SELECT Id, NPS__c FROM Survey_Response__c WHERE Response_Id__c = 'R_abc'")[
            "totalSize"
        ]
        == 1
    )
    with pytest.raises(SalesforceMalformedRequest) as invalid:
        client.Survey_Response__c.create({"Case__c": "500000000000000AAA"})
    assert invalid.value.content[0]["errorCode"] == "MALFORMED_ID"
    with pytest.raises(SalesforceMalformedRequest) as missing:
        client.Contact.create({"Email": "a@example.com"})
    assert missing.value.content[0]["fields"] == ["LastName"]
    assert client.Survey_Response__c.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        client.Survey_Response__c.delete(created["id"])
    fake.expire_access_tokens()
    with pytest.raises(SalesforceExpiredSession):
        client.Case.create({"Subject": "x"})


def test_chatter_posts_a_feed_item_on_a_record(fake):
    session = requests.Session()
    token = authorize(fake, session)
    client = Salesforce(
        instance_url=token["instance_url"],
        session_id=token["access_token"],
        version="66.0",
        session=session,
    )
    case = client.Case.create({"Subject": "Router"})
    posted = client.restful(
        "chatter/feed-elements",
        method="POST",
        json={
            "feedElementType": "FeedItem",
            "subjectId": case["id"],
            "body": {"messageSegments": [{"type": "Text", "text": "NPS 9: great"}]},
        },
    )
    assert posted["id"].startswith("0D5") and posted["parent"]["id"] == case["id"]
    assert fake.records_of("FeedItem") == [
        {"Id": posted["id"], "ParentId": case["id"], "Body": "NPS 9: great"}
    ]
    with pytest.raises(SalesforceResourceNotFound):
        client.restful(
            "chatter/feed-elements",
            method="POST",
            json={
                "feedElementType": "FeedItem",
                "subjectId": "500000000000000AAA",
                "body": {"messageSegments": [{"type": "Text", "text": "x"}]},
            },
        )
    with pytest.raises(SalesforceMalformedRequest):
        client.restful(
            "chatter/feed-elements",
            method="POST",
            json={"feedElementType": "FeedItem", "subjectId": "me", "body": {}},
        )


def test_outbound_sender_retries_until_ack(fake):
    """A receiver that fails once, then acknowledges: two deliveries of the same bytes."""
    received = []

    class Receiver(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["SOAPAction"], self.headers["Content-Type"], body))
            status, reply = (500, b"<Fault/>") if len(received) == 1 else (200, ack_response())
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    server = serving.serve(Receiver)
    try:
        url = serving.base_url(server) + "/inbound/salesforce/token"
        replies = fake.send_outbound_message(url, CASE_CLOSED.read_bytes())
    finally:
        serving.stop(server)
    assert [status for status, _, _ in replies] == [500, 200]
    assert received[0] == received[1]
    assert received[0][0] == '""' and received[0][1].startswith("text/xml")
