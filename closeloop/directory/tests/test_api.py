"""/API/v3/directories: the Qualtrics shapes, the Segment destination's requests, and errors."""

import json
import uuid

import pytest

from closeloop.directory import actions
from closeloop.directory.models import Contact, MailingList, Transaction
from closeloop.directory.tests.factories import make_directory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("closeloop.directory.tests.urls")]


class Api:
    def __init__(self, client, token):
        self.client, self.token = client, token

    def call(self, method, path, body=None, raw=None, **params):
        kwargs = {"HTTP_X_API_TOKEN": self.token}
        if raw is not None or body is not None:
            kwargs["data"] = raw if raw is not None else json.dumps(body)
            kwargs["content_type"] = "application/json"
        if params:
            path += "?" + "&".join(f"{k}={v}" for k, v in params.items())
        return getattr(self.client, method)(f"/API/v3{path}", **kwargs)


def ok(response, status=200):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["meta"]["httpStatus"] == "200 - OK"
    uuid.UUID(body["meta"]["requestId"])
    return body.get("result")


def error(response, status, code=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"meta"}
    assert body["meta"]["httpStatus"].startswith(f"{status} - ")
    assert body["meta"]["error"]["errorMessage"]
    if code:
        assert body["meta"]["error"]["errorCode"] == code
    return body["meta"]["error"]["errorMessage"]


@pytest.fixture
def directory(org_a):
    return make_directory(org_a[0])


@pytest.fixture
def api(client, token_a, directory):
    return Api(client, token_a)


@pytest.fixture
def base(directory):
    return f"/directories/{directory.public_id}"


SEGMENT_CONTACT = {
    "firstName": "Jane",
    "lastName": "Doe",
    "phone": "+14155550123",
    "email": "jane.doe@example.com",
    "extRef": "user_48213",
    "unsubscribed": False,
    "language": "EN",
    "embeddedData": {"plan": "Pro", "onboarding_completed": True, "seats": 12},
}


# Directories -------------------------------------------------------------------------------


def test_a_new_organization_lists_its_default_directory(client, token_a):
    api = Api(client, token_a)
    elements = ok(api.call("get", "/directories"))["elements"]
    assert len(elements) == 1
    assert elements[0]["isDefault"] and elements[0]["directoryId"].startswith("POOL_")
    assert ok(api.call("get", "/directories"))["elements"] == elements  # created once


def test_list_directories_with_dedup_criteria(api, directory, org_b):
    make_directory(org_b[0], name="Not mine")
    actions.upsert_contact(directory, {"email": "a@example.com"})
    for path in ("/directories", "/directories/"):
        result = ok(api.call("get", path))
        assert result["nextPage"] is None
        assert result["elements"] == [
            {
                "directoryId": directory.public_id,
                "name": "Main directory",
                "contactCount": 1,
                "isDefault": True,
                "deduplicationCriteria": {
                    "email": True,
                    "firstName": False,
                    "lastName": False,
                    "externalDataReference": True,
                    "phone": False,
                    "embeddedData": [],
                    "rules": [["extRef"], ["email"]],
                },
            }
        ]


def test_no_token_no_answer(client, directory):
    response = client.get("/API/v3/directories")
    error(response, 401, "AUTH_01")


# Contacts ----------------------------------------------------------------------------------


def test_segment_create_contact_then_dedup(api, base, directory):
    first = ok(api.call("post", f"{base}/contacts", SEGMENT_CONTACT))
    assert first["id"].startswith("CID_") and len(first["id"]) == 19
    again = ok(api.call("post", f"{base}/contacts", {**SEGMENT_CONTACT, "firstName": "Janet"}))
    assert again == first
    contact = Contact.objects.get()
    assert contact.first_name == "Janet"
    assert contact.embedded_data == {"plan": "Pro", "onboarding_completed": "true", "seats": "12"}


def test_get_update_delete_contact(api, base, directory):
    contact_id = ok(api.call("post", f"{base}/contacts", SEGMENT_CONTACT))["id"]
    got = ok(api.call("get", f"{base}/contacts/{contact_id}"))
    assert got["contactId"] == contact_id
    assert got["email"] == "jane.doe@example.com" and got["emailDomain"] == "example.com"
    assert got["phone"] == "+14155550123" and got["extRef"] == "user_48213"
    assert got["embeddedData"]["plan"] == "Pro"
    assert got["mailingListMembership"] == {}
    updated = api.call(
        "put", f"{base}/contacts/{contact_id}", {"lastName": "Roe", "embeddedData": {"x": "1"}}
    )
    assert updated.json()["meta"]["httpStatus"] == "200 - OK"
    got = ok(api.call("get", f"{base}/contacts/{contact_id}/"))
    assert got["lastName"] == "Roe" and got["firstName"] == "Jane"
    assert got["embeddedData"]["x"] == "1" and got["embeddedData"]["plan"] == "Pro"
    ok(api.call("delete", f"{base}/contacts/{contact_id}"))
    error(api.call("get", f"{base}/contacts/{contact_id}"), 404, "RES_01")


def test_list_contacts_pages_with_next_page(api, base, directory):
    for number in range(5):
        actions.upsert_contact(directory, {"email": f"p{number}@example.com"})
    seen, path, params = [], f"{base}/contacts", {"pageSize": 2}
    while True:
        result = ok(api.call("get", path, **params))
        seen += [element["email"] for element in result["elements"]]
        if not result["nextPage"]:
            break
        assert len(result["elements"]) == 2
        next_page = result["nextPage"]
        assert "skipToken=" in next_page
        path = next_page[next_page.index("/API/v3") + len("/API/v3") :]
        params = {}
    assert seen == [f"p{n}@example.com" for n in range(5)]


@pytest.mark.parametrize(("size", "expected"), [("0", 1), ("500", 3), ("-4", 1)])
def test_page_size_is_clamped(api, base, directory, size, expected):
    for number in range(3):
        actions.upsert_contact(directory, {"email": f"p{number}@example.com"})
    assert len(ok(api.call("get", f"{base}/contacts", pageSize=size))["elements"]) == expected


def test_a_forged_skip_token_is_a_400(api, base):
    error(api.call("get", f"{base}/contacts", skipToken="%%%"), 400)


# Search ------------------------------------------------------------------------------------


@pytest.fixture
def people(directory):
    jane, _ = actions.upsert_contact(
        directory,
        {
            "email": "jane.doe@example.com",
            "extRef": "user_48213",
            "phone": "+14155550123",
            "firstName": "Jane",
        },
        {"Tier": "Gold"},
    )
    john, _ = actions.upsert_contact(
        directory, {"email": "john@example.com", "extRef": "user_2", "firstName": "John"}
    )
    return jane, john


def search(api, base, spec, **params):
    return ok(api.call("post", f"{base}/contacts/search", {"filter": spec}, **params))


def test_segment_search_with_one_filter(api, base, people):
    jane, _ = people
    result = search(api, base, {"filterType": "extRef", "comparison": "eq", "value": "user_48213"})
    assert [element["id"] for element in result["elements"]] == [jane.public_id]
    element = result["elements"][0]
    assert element["externalDataReference"] == "user_48213"
    assert element["phoneNumber"] == "+14155550123"


def test_segment_search_with_a_conjunction_of_ext_ref_phone_email(api, base, people):
    jane, _ = people
    spec = {
        "conjunction": "and",
        "filters": [
            {"filterType": "extRef", "comparison": "eq", "value": "user_48213"},
            {"filterType": "phone", "comparison": "eq", "value": "(415) 555-0123"},
            {"filterType": "email", "comparison": "eq", "value": "JANE.DOE@example.com"},
        ],
    }
    assert [e["id"] for e in search(api, base, spec)["elements"]] == [jane.public_id]
    spec["filters"][2]["value"] = "john@example.com"
    assert search(api, base, spec)["elements"] == []


def test_search_or_nested_and_embedded_data(api, base, people):
    jane, john = people
    spec = {
        "conjunction": "or",
        "filters": [
            {"filterType": "firstName", "comparison": "eq", "value": "john"},
            {
                "conjunction": "and",
                "filters": [
                    {
                        "filterType": "embeddedData",
                        "key": "Tier",
                        "comparison": "eq",
                        "value": "Gold",
                    },
                    {"filterType": "unsubscribed", "comparison": "eq", "value": False},
                ],
            },
        ],
    }
    found = {e["id"] for e in search(api, base, spec)["elements"]}
    assert found == {jane.public_id, john.public_id}


@pytest.mark.parametrize(
    "spec",
    [
        {"filterType": "shoeSize", "comparison": "eq", "value": "9"},
        {"filterType": "email", "comparison": "contains", "value": "x"},
        {"filterType": "email", "comparison": "eq"},
        {"filterType": "email", "comparison": "eq", "value": "x", "extra": 1},
        {"conjunction": "xor", "filters": [{"filterType": "email", "value": "x"}]},
        {"conjunction": "and", "filters": []},
        {"filterType": "embeddedData", "comparison": "eq", "value": "Gold"},
        {"filterType": "email", "comparison": "eq", "value": {"a": 1}},
        "email",
    ],
)
def test_bad_filters_are_400(api, base, people, spec):
    error(api.call("post", f"{base}/contacts/search", {"filter": spec}), 400)


# Errors: bad input changes nothing --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ('{"firstName": "Jane",', "REQ_02"),
        ("not json", "REQ_02"),
        (json.dumps({**SEGMENT_CONTACT, "favouriteColour": "blue"}), "REQ_01"),
        (json.dumps({"email": "not-an-email"}), "REQ_01"),
        (json.dumps({"firstName": "x" * 201}), "REQ_01"),
        (json.dumps({"embeddedData": {"n": "x" * 1025}}), "REQ_01"),
        (json.dumps({"embeddedData": {"nested": {"a": 1}}}), "REQ_01"),
        (json.dumps({"unsubscribed": "perhaps"}), "REQ_01"),
        (json.dumps({"firstName": True}), "REQ_01"),
        (json.dumps({"extRef": ["a"]}), "REQ_01"),
        (json.dumps(["a list"]), "REQ_01"),
    ],
)
def test_bad_contact_bodies_change_nothing(api, base, raw, code):
    error(api.call("post", f"{base}/contacts", raw=raw), 400, code)
    assert not Contact.objects.exists()


def test_unknown_directory_and_other_organizations_ids_are_404(
    api, base, directory, org_b, token_b, client
):
    theirs = make_directory(org_b[0], name="Theirs")
    their_contact, _ = actions.upsert_contact(theirs, {"email": "x@example.com"})
    their_list = actions.create_mailing_list(theirs, "L")
    error(api.call("get", "/directories/POOL_doesnotexist123/contacts"), 404)
    error(api.call("post", f"/directories/{theirs.public_id}/contacts", SEGMENT_CONTACT), 404)
    error(api.call("get", f"{base}/contacts/{their_contact.public_id}"), 404)
    error(api.call("put", f"{base}/contacts/{their_contact.public_id}", {"lastName": "x"}), 404)
    error(api.call("delete", f"{base}/contacts/{their_contact.public_id}"), 404)
    error(api.call("get", f"{base}/mailinglists/{their_list.public_id}"), 404)
    error(api.call("post", f"{base}/mailinglists/{their_list.public_id}/contacts", {}), 404)
    assert Contact.objects.filter(directory=directory).count() == 0
    their_contact.refresh_from_db()
    assert their_contact.last_name == ""
    # And their token does not see ours.
    mine, _ = actions.upsert_contact(directory, {"email": "mine@example.com"})
    theirs_api = Api(client, token_b)
    error(theirs_api.call("get", f"{base}/contacts/{mine.public_id}"), 404)
    assert ok(theirs_api.call("get", "/directories"))["elements"][0]["name"] == "Theirs"


def test_a_contact_of_another_directory_of_the_same_organization_is_404(api, base, org_a):
    other = make_directory(org_a[0], name="Other")
    contact, _ = actions.upsert_contact(other, {"email": "x@example.com"})
    error(api.call("get", f"{base}/contacts/{contact.public_id}"), 404)


# Mailing lists -----------------------------------------------------------------------------


def test_mailing_list_lifecycle(api, base, directory, org_a):
    list_id = ok(api.call("post", f"{base}/mailinglists", {"name": "VIP"}))["id"]
    assert list_id.startswith("CG_")
    listed = ok(api.call("get", f"{base}/mailinglists"))["elements"]
    assert [(e["mailingListId"], e["name"], e["contactCount"]) for e in listed] == [
        (list_id, "VIP", 0)
    ]
    assert listed[0]["ownerId"] == org_a[1].public_id
    contact_id = ok(api.call("post", f"{base}/mailinglists/{list_id}/contacts", SEGMENT_CONTACT))[
        "id"
    ]
    ok(api.call("post", f"{base}/mailinglists/{list_id}/contacts", SEGMENT_CONTACT))
    got = ok(api.call("get", f"{base}/mailinglists/{list_id}"))
    assert got["contactCount"] == 1
    members = ok(api.call("get", f"{base}/mailinglists/{list_id}/contacts"))["elements"]
    assert [m["contactId"] for m in members] == [contact_id]
    assert members[0]["mailingListUnsubscribed"] is False
    contact = ok(api.call("get", f"{base}/contacts/{contact_id}"))
    assert contact["mailingListMembership"][list_id]["name"] == "VIP"
    ok(api.call("put", f"{base}/mailinglists/{list_id}", {"name": "Gold"}))
    assert MailingList.objects.get().name == "Gold"
    error(api.call("put", f"{base}/mailinglists/{list_id}", {"name": " "}), 400)
    ok(api.call("delete", f"{base}/mailinglists/{list_id}/contacts/{contact_id}"))
    error(api.call("delete", f"{base}/mailinglists/{list_id}/contacts/{contact_id}"), 404)
    ok(api.call("delete", f"{base}/mailinglists/{list_id}"))
    assert not MailingList.objects.exists()
    assert Contact.objects.filter(public_id=contact_id).exists()


def test_mailing_list_bodies_are_checked(api, base):
    error(api.call("post", f"{base}/mailinglists", {"name": "VIP", "colour": "red"}), 400)
    error(api.call("post", f"{base}/mailinglists", {}), 400)
    assert not MailingList.objects.exists()


# Transactions ------------------------------------------------------------------------------


def test_segment_create_transaction_keyed_by_a_random_client_id(api, base, directory):
    contact, _ = actions.upsert_contact(directory, {"email": "jane.doe@example.com"})
    vip = actions.create_mailing_list(directory, "VIP")
    body = {
        "k3j9x0a1b2c3d4e5": {
            "contactId": contact.public_id,
            "mailingListId": vip.public_id,
            "data": {
                "order_id": "SO-100482",
                "store": "Berlin Mitte",
                "total": 149.9,
                "first_purchase": False,
            },
            "transactionDate": "2026-11-21 10:02:44",
        }
    }
    result = ok(api.call("post", f"{base}/transactions", body))
    assert result["unprocessedTransactions"] == {}
    transaction_id = result["createdTransactions"]["k3j9x0a1b2c3d4e5"]["id"]
    assert transaction_id.startswith("CTR_")
    got = ok(api.call("get", f"{base}/transactions/{transaction_id}"))
    assert got == {
        "id": transaction_id,
        "contactId": contact.public_id,
        "mailingListId": vip.public_id,
        "batchId": None,
        "transactionDate": "2026-11-21 10:02:44",
        "data": body["k3j9x0a1b2c3d4e5"]["data"],
    }


def test_bad_transactions_are_reported_and_good_ones_land(api, base, directory, org_b):
    contact, _ = actions.upsert_contact(directory, {"email": "jane.doe@example.com"})
    theirs, _ = actions.upsert_contact(make_directory(org_b[0]), {"email": "t@example.com"})
    good = {"contactId": contact.public_id, "transactionDate": "2026-11-21T10:02:44Z"}
    body = {
        "good": good,
        "no_contact": {**good, "contactId": "CID_doesnotexist123"},
        "theirs": {**good, "contactId": theirs.public_id},
        "bad_date": {**good, "transactionDate": "tomorrow"},
        "no_date": {"contactId": contact.public_id},
        "bad_list": {**good, "mailingListId": "CG_nope"},
        "extra": {**good, "colour": "red"},
        "nested": {**good, "data": {"items": [1, 2]}},
        "not_an_object": "x",
    }
    result = ok(api.call("post", f"{base}/transactions", body))
    assert list(result["createdTransactions"]) == ["good"]
    reasons = result["unprocessedTransactions"]
    assert set(reasons) == set(body) - {"good"}
    assert reasons["no_contact"]["error"] == "CONTACT_NOT_FOUND"
    assert reasons["theirs"]["error"] == "CONTACT_NOT_FOUND"
    assert "transactionDate" in reasons["bad_date"]["errorMessage"]
    assert reasons["bad_list"]["error"] == "MAILING_LIST_NOT_FOUND"
    assert Transaction.objects.count() == 1


@pytest.mark.parametrize("raw", ["{", "[]", "{}", '"x"'])
def test_bad_transaction_bodies_are_400(api, base, raw):
    error(api.call("post", f"{base}/transactions", raw=raw), 400)


def test_a_too_large_transaction_body_is_413(api, base, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = {"a": {"contactId": "CID_x", "transactionDate": "2026-01-01", "data": {"k": "x" * 999}}}
    error(api.call("post", f"{base}/transactions", body), 413, "REQ_05")
    assert not Transaction.objects.exists()


def test_numbers_are_accepted_as_text(api, base):
    contact_id = ok(api.call("post", f"{base}/contacts", {"extRef": 48213, "phone": 4155550123}))[
        "id"
    ]
    got = ok(api.call("get", f"{base}/contacts/{contact_id}"))
    assert (got["extRef"], got["phone"]) == ("48213", "4155550123")


def test_transaction_batches(api, base, directory):
    contact, _ = actions.upsert_contact(directory, {"email": "jane.doe@example.com"})
    one = actions.add_transaction(contact, "2026-11-21 10:02:44", {})
    two = actions.add_transaction(contact, "2026-11-21 10:02:45", {})
    batch_id = ok(
        api.call("post", f"{base}/transactionbatches", {"transactionIds": [one.public_id]})
    )["id"]
    assert batch_id.startswith("BT_")
    ok(
        api.call(
            "post",
            f"{base}/transactionbatches/{batch_id}/transactions",
            {"transactionIds": [two.public_id]},
        )
    )
    got = ok(api.call("get", f"{base}/transactionbatches/{batch_id}"))
    assert got["transactionIds"] == [one.public_id, two.public_id]
    error(
        api.call(
            "post",
            f"{base}/transactionbatches/{batch_id}/transactions",
            {"transactionIds": ["CTR_nope"]},
        ),
        400,
    )
    error(api.call("get", f"{base}/transactionbatches/BT_nope"), 404)
    error(api.call("get", f"{base}/transactions/CTR_nope"), 404)


def test_openapi_lists_the_directory_endpoints(client, directory):
    schema = client.get("/API/v3/openapi.json").json()
    paths = schema["paths"]
    assert "/API/v3/directories/{directoryId}/contacts/search" in paths
    assert "post" in paths["/API/v3/directories/{directoryId}/transactions"]
