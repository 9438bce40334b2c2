"""Segment's Qualtrics destination against /API/v3, request by request.

The requests are those of segmentio/action-destinations,
packages/destination-actions/src/destinations/qualtrics/ (qualtricsApiClient.ts, utils.ts,
dynamicFields.ts, addContactToXmd/, upsertContactTransaction/): every call carries
`Content-type: application/json` and `X-API-TOKEN` (plus `Internal-Team` / `Internal-Service`
in recent versions), the request client adds `user-agent: Segment (Actions)`, bodies are
JSON.stringify output (no spaces, undefined fields left out). A reply is parsed as JSON only
when its Content-Type includes application/json (actions-core prepare-response.ts); a
non-2xx reply is an HTTPError whose body the destination reads as `meta.error.errorMessage`.

  testAuthentication:        GET  /API/v3/whoami                  -> result.userName
  Directory ID choices:      GET  /API/v3/directories/            -> result.elements[].directoryId, name
  Create and/or update contact in XM Directory:
                             POST /API/v3/directories/{POOL}/contacts
  Upsert contact transaction (no contactId mapped):
                             POST /API/v3/directories/{POOL}/contacts/search
                                  {"filter": {…}} one filter, or {"conjunction": "and", "filters": [...]}
                                  of extRef, phone, email in that order -> result.elements[].id
                             POST /API/v3/directories/{POOL}/contacts   when none is found
                             POST /API/v3/directories/{POOL}/transactions
                                  {"<16 random [a-z1-9]>": {contactId, mailingListId, data,
                                   transactionDate: "YYYY-MM-DD HH:MM:SS" (UTC)}}
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest

from closeloop.directory import actions
from closeloop.directory.models import Contact, Transaction
from closeloop.directory.tests.factories import make_directory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("closeloop.directory.tests.urls")]


class SegmentHttpError(Exception):
    def __init__(self, status: int, data):
        super().__init__(status)
        self.status, self.data = status, data


class QualtricsDestination:
    """Sends what the destination sends and reads replies as it reads them."""

    def __init__(self, client, api_token: str):
        self.client, self.api_token = client, api_token
        self.sent: list[tuple[str, str, dict]] = []

    def request(self, method: str, endpoint: str, body: dict | None = None):
        headers = {
            "Content-type": "application/json",
            "X-API-TOKEN": self.api_token,
            "Internal-Team": "integrations",
            "Internal-Service": "segment-destination",
            "user-agent": "Segment (Actions)",
        }
        kwargs = {"headers": headers}
        if body is not None:
            # JSON.stringify: compact, keys whose value is undefined left out.
            kwargs["data"] = json.dumps(
                {k: v for k, v in body.items() if v is not None}, separators=(",", ":")
            )
            kwargs["content_type"] = "application/json"
        response = getattr(self.client, method)(endpoint, **kwargs)
        self.sent.append((method, endpoint, headers))
        content = response.content.decode()
        data = json.loads(content) if "application/json" in response["Content-Type"] else content
        if not 200 <= response.status_code < 300:
            raise SegmentHttpError(response.status_code, data)
        return data

    # qualtricsApiClient.ts --------------------------------------------------------------

    def who_am_i(self) -> dict:
        return self.request("get", "/API/v3/whoami")["result"]

    def list_directories(self) -> dict:
        return self.request("get", "/API/v3/directories/")["result"]

    def create_directory_contact(self, directory_id: str, body: dict) -> dict:
        return self.request("post", f"/API/v3/directories/{directory_id}/contacts", body)["result"]

    def create_contact_transaction(self, directory_id: str, body: dict) -> dict:
        return self.request("post", f"/API/v3/directories/{directory_id}/transactions", body)[
            "result"
        ]

    def search_directory_for_contact(self, directory_id: str, lookup: dict) -> list:
        filters = [
            {"filterType": key, "comparison": "eq", "value": lookup[key]}
            for key in ("extRef", "phone", "email")
            if lookup.get(key) is not None
        ]
        if not filters:
            return []
        body = (
            {"filter": filters[0]}
            if len(filters) == 1
            else {"filter": {"conjunction": "and", "filters": filters}}
        )
        endpoint = f"/API/v3/directories/{directory_id}/contacts/search"
        return self.request("post", endpoint, body)["result"]["elements"]

    # dynamicFields.ts: getDirectoryIds ----------------------------------------------------

    def directory_choices(self) -> dict:
        try:
            response = self.list_directories()
        except SegmentHttpError as error:
            message = (error.data.get("meta", {}).get("error", {}).get("errorMessage")) or (
                "Unknown Error"
            )
            return {"choices": [], "error": {"message": message, "code": str(error.status)}}
        return {
            "choices": [
                {"label": directory["name"], "value": directory["directoryId"]}
                for directory in response["elements"]
            ]
        }

    # the actions --------------------------------------------------------------------------

    def add_contact_to_xmd(self, payload: dict) -> dict:
        body = {
            key: payload.get(key)
            for key in (
                "firstName",
                "lastName",
                "phone",
                "email",
                "extRef",
                "unsubscribed",
                "language",
                "embeddedData",
            )
        }
        return self.create_directory_contact(payload["directoryId"], body)

    def upsert_contact_transaction(self, payload: dict) -> dict:
        contact_id = payload.get("contactId")
        if not contact_id:
            contacts = self.search_directory_for_contact(payload["directoryId"], payload)
            if not contacts:
                contact_id = self.add_contact_to_xmd(payload)["id"]
            elif len(contacts) != 1:
                raise AssertionError("Unable to located one and only one contact")
            else:
                contact_id = contacts[0]["id"]
        key = "".join(random.choice("abcdefghijklmnopqrstuvwxyz123456789") for _ in range(16))
        body = {
            key: {
                "contactId": contact_id,
                "mailingListId": payload["mailingListId"],
                "data": payload.get("transactionData") or {},
                "transactionDate": transaction_date(payload.get("transactionDate")),
            }
        }
        return self.create_contact_transaction(payload["directoryId"], body)


def transaction_date(timestamp: str | None) -> str:
    """utils.ts parsedTransactionDate: toISOString() with "T" -> " " and the millis cut."""
    moment = datetime.fromisoformat(timestamp) if timestamp else datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def directory(org_a):
    return make_directory(org_a[0])


@pytest.fixture
def segment(client, token_a, directory):
    return QualtricsDestination(client, token_a)


IDENTIFY = {  # the action's default mapping of an identify call
    "firstName": "Jane",
    "lastName": "Doe",
    "email": "janedoe@email.com",
    "phone": "0005551234",  # as in the destination's own tests: not a valid number
    "extRef": "user_id_1",  # $.userId
    "language": "EN",  # the default when traits.language is missing
    "unsubscribed": False,  # the default
}


# Settings: testAuthentication and the Directory ID field --------------------------------


def test_authentication_reads_the_user_name(segment):
    assert segment.who_am_i()["userName"] == "owner@acme.test"


def test_a_bad_token_fails_authentication_with_401_and_a_message(client, directory):
    with pytest.raises(SegmentHttpError) as raised:
        QualtricsDestination(client, "x" * 40).who_am_i()
    assert raised.value.status == 401
    assert raised.value.data["meta"]["error"]["errorMessage"]
    assert raised.value.data["meta"]["httpStatus"] == "401 - Unauthorized"


def test_the_directory_field_lists_the_organizations_directories(segment, directory, org_b):
    make_directory(org_b[0], name="Globex directory")
    assert segment.directory_choices() == {
        "choices": [{"label": "Main directory", "value": directory.public_id}]
    }


def test_the_directory_field_shows_the_error_message_of_a_bad_token(client, directory):
    choices = QualtricsDestination(client, "not-valid").directory_choices()
    assert choices["choices"] == []
    assert choices["error"]["code"] == "401"
    assert choices["error"]["message"] == "The API token is not valid or was revoked."


# Create and/or update contact in XM Directory -------------------------------------------


def test_identify_creates_then_updates_the_same_contact(segment, directory):
    created = segment.add_contact_to_xmd({"directoryId": directory.public_id, **IDENTIFY})
    assert created["id"].startswith("CID_") and len(created["id"]) == 19
    again = segment.add_contact_to_xmd(
        {
            "directoryId": directory.public_id,
            **IDENTIFY,
            "lastName": "Roe",
            "embeddedData": {"region": "region", "seats": 12, "trial": True},
        }
    )
    assert again == created
    contact = Contact.objects.get()
    assert (contact.first_name, contact.last_name, contact.phone) == ("Jane", "Roe", "0005551234")
    assert contact.embedded_data == {"region": "region", "seats": "12", "trial": "true"}
    assert not contact.unsubscribed
    for _method, _endpoint, headers in segment.sent:
        assert headers["user-agent"] == "Segment (Actions)"


def test_a_contact_without_embedded_data_or_names_is_created(segment, directory):
    created = segment.add_contact_to_xmd(
        {"directoryId": directory.public_id, "extRef": "user_2", "unsubscribed": False}
    )
    assert Contact.objects.get().public_id == created["id"]


def test_a_bad_value_is_400_with_the_reason(segment, directory):
    with pytest.raises(SegmentHttpError) as raised:
        segment.add_contact_to_xmd({"directoryId": directory.public_id, "email": "not-an-email"})
    assert raised.value.status == 400
    assert "email" in raised.value.data["meta"]["error"]["errorMessage"].lower()
    assert not Contact.objects.exists()


def test_an_unknown_directory_is_404_with_the_reason(segment):
    with pytest.raises(SegmentHttpError) as raised:
        segment.add_contact_to_xmd({"directoryId": "POOL_doesnotexist12", **IDENTIFY})
    assert raised.value.status == 404
    assert "POOL_doesnotexist12" in raised.value.data["meta"]["error"]["errorMessage"]


def test_another_organizations_directory_is_404(segment, org_b):
    theirs = make_directory(org_b[0], name="Theirs")
    with pytest.raises(SegmentHttpError) as raised:
        segment.add_contact_to_xmd({"directoryId": theirs.public_id, **IDENTIFY})
    assert raised.value.status == 404
    assert not Contact.objects.exists()


# Upsert contact transaction -------------------------------------------------------------


@pytest.fixture
def mailing_list(directory):
    return actions.create_mailing_list(directory, "Purchasers")


def test_search_sends_one_filter_or_an_and_conjunction(segment, directory):
    jane, _ = actions.upsert_contact(directory, IDENTIFY)
    one = segment.search_directory_for_contact(directory.public_id, {"extRef": "user_id_1"})
    assert [element["id"] for element in one] == [jane.public_id]
    all_three = segment.search_directory_for_contact(directory.public_id, IDENTIFY)
    assert isinstance(all_three, list) and [e["id"] for e in all_three] == [jane.public_id]
    nobody = segment.search_directory_for_contact(
        directory.public_id, {**IDENTIFY, "email": "someone.else@email.com"}
    )
    assert nobody == []


def test_search_elements_carry_the_search_names(segment, directory):
    actions.upsert_contact(directory, IDENTIFY, {"plan": "Pro"})
    (element,) = segment.search_directory_for_contact(directory.public_id, IDENTIFY)
    assert element["externalDataReference"] == "user_id_1"
    assert element["phoneNumber"] == "0005551234"
    assert element["embeddedData"] == {"plan": "Pro"}
    assert isinstance(element["creationDate"], int)


def test_the_transaction_goes_to_the_contact_found(segment, directory, mailing_list):
    jane, _ = actions.upsert_contact(directory, IDENTIFY)
    result = segment.upsert_contact_transaction(
        {
            "directoryId": directory.public_id,
            "mailingListId": mailing_list.public_id,
            **IDENTIFY,
            "transactionDate": "2026-11-21T10:02:44.123Z",
            "transactionData": {"order_id": "SO-100482", "total": 149.9, "gift": False},
        }
    )
    assert result["unprocessedTransactions"] == {}
    ((_key, created),) = result["createdTransactions"].items()
    row = Transaction.objects.get()
    assert created == {"id": row.public_id} and len(row.public_id) == 19
    assert row.contact == jane and row.mailing_list == mailing_list
    assert row.transaction_date == datetime(2026, 11, 21, 10, 2, 44, tzinfo=UTC)
    assert row.data == {"order_id": "SO-100482", "total": 149.9, "gift": False}
    assert Contact.objects.count() == 1


def test_the_contact_is_created_when_none_is_found(segment, directory, mailing_list):
    result = segment.upsert_contact_transaction(
        {
            "directoryId": directory.public_id,
            "mailingListId": mailing_list.public_id,
            **IDENTIFY,
            "transactionDate": "2026-11-21T12:02:44+02:00",
            "transactionData": {"Key": "Value"},
        }
    )
    contact = Contact.objects.get()
    assert contact.ext_ref == "user_id_1" and contact.email == "janedoe@email.com"
    row = Transaction.objects.get()
    assert row.contact == contact and row.data == {"Key": "Value"}
    assert row.transaction_date == datetime(2026, 11, 21, 10, 2, 44, tzinfo=UTC)
    assert list(result["createdTransactions"].values()) == [{"id": row.public_id}]
    endpoints = [endpoint.rsplit("/", 1)[-1] for _method, endpoint, _h in segment.sent]
    assert endpoints == ["search", "contacts", "transactions"]


def test_a_mapped_contact_id_skips_the_search(segment, directory, mailing_list):
    jane, _ = actions.upsert_contact(directory, IDENTIFY)
    segment.upsert_contact_transaction(
        {
            "directoryId": directory.public_id,
            "mailingListId": mailing_list.public_id,
            "contactId": jane.public_id,
            "transactionDate": "2026-11-21T10:02:44Z",
        }
    )
    assert Transaction.objects.get().contact == jane
    assert [endpoint for _m, endpoint, _h in segment.sent] == [
        f"/API/v3/directories/{directory.public_id}/transactions"
    ]


def test_a_transaction_for_another_organizations_contact_is_unprocessed(
    segment, directory, mailing_list, org_b
):
    theirs, _ = actions.upsert_contact(make_directory(org_b[0]), IDENTIFY)
    result = segment.upsert_contact_transaction(
        {
            "directoryId": directory.public_id,
            "mailingListId": mailing_list.public_id,
            "contactId": theirs.public_id,
        }
    )
    assert result["createdTransactions"] == {}
    (reason,) = result["unprocessedTransactions"].values()
    assert reason["error"] == "CONTACT_NOT_FOUND" and reason["errorMessage"]
    assert not Transaction.objects.exists()


def test_search_in_another_organizations_directory_is_404(segment, org_b):
    theirs = make_directory(org_b[0], name="Theirs")
    actions.upsert_contact(theirs, IDENTIFY)
    with pytest.raises(SegmentHttpError) as raised:
        segment.search_directory_for_contact(theirs.public_id, IDENTIFY)
    assert raised.value.status == 404


def test_every_reply_is_application_json(segment, directory, client):
    replies = [
        client.get("/API/v3/whoami", headers={"X-API-TOKEN": segment.api_token}),
        client.get("/API/v3/whoami", headers={"X-API-TOKEN": "bad"}),
        client.get("/API/v3/directories/", headers={"X-API-TOKEN": segment.api_token}),
        client.post(
            f"/API/v3/directories/{directory.public_id}/contacts/search",
            data='{"filter":{"filterType":"email","comparison":"eq","value":"x@y.z"}}',
            content_type="application/json",
            headers={"X-API-TOKEN": segment.api_token},
        ),
        client.post(
            f"/API/v3/directories/{directory.public_id}/transactions",
            data="{",
            content_type="application/json",
            headers={"X-API-TOKEN": segment.api_token},
        ),
    ]
    for reply in replies:
        assert "application/json" in reply["Content-Type"], reply
        json.loads(reply.content)
