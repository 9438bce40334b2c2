"""Every /API/v3 directory endpoint called the way Qualtrics' API reference shows it, and the
reply compared with the documented shape; the paths and ids other clients rely on.

Shapes come from Qualtrics' API reference (api.qualtrics.com: XM Directory → Directories,
Contacts, Mailing Lists, Mailing List Contacts, Transactions) and from what its clients read:
the Python client QualtricsAPI (Jaseibert/QualtricsAPI: XM/xmdirectory.py,
XM/mailinglists.py, Setup/credentials.py), the R package qualtRics (ropensci/qualtRics:
R/list_mailing_lists.R, R/mailing_list_contacts.R) and Segment's Qualtrics destination
(segmentio/action-destinations: destinations/qualtrics/qualtricsApiClient.ts). A documented
shape lists the keys a reply must have and their JSON types; Closeloop may send more.
"""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import get_resolver, resolve

from closeloop.accounts import actions as accounts_actions
from closeloop.api.middleware import normalized_api_path
from closeloop.directory import actions
from closeloop.directory.models import MailingListMembership
from closeloop.directory.tests.factories import make_directory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("closeloop.directory.tests.urls")]

TEXT, NUMBER, BOOLEAN, OBJECT, LIST = str, int, bool, dict, list
NULLABLE_TEXT = (str, type(None))
MILLIS = int  # epoch milliseconds: qualtRics divides them by 1000, QualtricsAPI reads unit="ms"
NULLABLE_MILLIS = (int, type(None))

META = {"httpStatus": TEXT, "requestId": TEXT}
ERROR_META = {**META, "error": {"errorMessage": TEXT, "errorCode": TEXT}}

# Directories: "List Directories"; Segment reads directoryId and name.
DIRECTORY = {
    "directoryId": TEXT,
    "name": TEXT,
    "contactCount": NUMBER,
    "isDefault": BOOLEAN,
    "deduplicationCriteria": {
        "email": BOOLEAN,
        "firstName": BOOLEAN,
        "lastName": BOOLEAN,
        "externalDataReference": BOOLEAN,
        "phone": BOOLEAN,
    },
}
# Contacts: "Create Directory Contact" answers {"id"}; "List Directory Contacts" elements.
CREATED = {"id": TEXT}
LISTED_CONTACT = {
    "contactId": TEXT,
    "firstName": TEXT,
    "lastName": TEXT,
    "email": TEXT,
    "phone": TEXT,
    "extRef": TEXT,
    "language": TEXT,
    "unsubscribed": BOOLEAN,
}
# "Get Directory Contact"; QualtricsAPI get_contact reads creationDate / lastModified as ms.
CONTACT = {
    **LISTED_CONTACT,
    "embeddedData": OBJECT,
    "emailDomain": TEXT,
    "creationDate": MILLIS,
    "lastModified": MILLIS,
    "directoryUnsubscribed": BOOLEAN,
    "directoryUnsubscribeDate": NULLABLE_MILLIS,
    "mailingListMembership": OBJECT,
}
MEMBERSHIP = {
    "contactLookupId": TEXT,
    "name": TEXT,
    "ownerId": NULLABLE_TEXT,
    "unsubscribed": BOOLEAN,
    "unsubscribeDate": NULLABLE_MILLIS,
}
# "Search Directory Contacts" elements (Segment's SearchDirectoryContactResponse).
SEARCHED_CONTACT = {
    "id": TEXT,
    "firstName": TEXT,
    "lastName": TEXT,
    "email": TEXT,
    "phoneNumber": TEXT,
    "externalDataReference": TEXT,
    "language": TEXT,
    "unsubscribed": BOOLEAN,
    "embeddedData": OBJECT,
    "creationDate": MILLIS,
    "lastModified": MILLIS,
}
# Mailing lists: "List Mailing Lists" / "Get Mailing List" (qualtRics list_mailing_lists,
# QualtricsAPI get_list and list_lists read these keys).
MAILING_LIST = {
    "mailingListId": TEXT,
    "name": TEXT,
    "ownerId": NULLABLE_TEXT,
    "lastModifiedDate": MILLIS,
    "creationDate": MILLIS,
    "contactCount": NUMBER,
}
# Mailing list contacts: "Create Contact In Mailing List" answers {"id", "contactLookupId"};
# "List Contacts In Mailing List" / "Get Contact In Mailing List".
CREATED_IN_LIST = {"id": TEXT, "contactLookupId": TEXT}
LIST_CONTACT = {
    **LISTED_CONTACT,
    "embeddedData": OBJECT,
    "mailingListUnsubscribed": BOOLEAN,
    "contactLookupId": TEXT,
}
# Transactions: "Create Transactions" (Segment's CreateContactTransactionResponse).
TRANSACTIONS = {"createdTransactions": OBJECT, "unprocessedTransactions": OBJECT}
TRANSACTION = {
    "id": TEXT,
    "contactId": TEXT,
    "mailingListId": NULLABLE_TEXT,
    "transactionDate": TEXT,
    "data": OBJECT,
}


def shape_problems(value, shape, where="result") -> list[str]:
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{where} is {type(value).__name__}, not an object"]
        problems = []
        for key, expected in shape.items():
            if key not in value:
                problems.append(f"{where}.{key} is missing")
            else:
                problems += shape_problems(value[key], expected, f"{where}.{key}")
        return problems
    types = shape if isinstance(shape, tuple) else (shape,)
    if isinstance(value, bool) and bool not in types:
        return [f"{where} is a boolean"]
    if not isinstance(value, types):
        return [f"{where} is {type(value).__name__}, not {'/'.join(t.__name__ for t in types)}"]
    return []


class Reference:
    """curl as the reference shows it: base URL /API/v3, X-API-TOKEN, JSON bodies."""

    def __init__(self, client, token):
        self.client, self.token = client, token

    def call(self, method, path, body=None):
        kwargs = {"headers": {"X-API-TOKEN": self.token, "Accept": "application/json"}}
        if body is not None:
            kwargs["data"] = json.dumps(body)
            kwargs["content_type"] = "application/json"
        response = getattr(self.client, method)("/API/v3" + path, **kwargs)
        assert response["Content-Type"].startswith("application/json"), response
        return response.status_code, response.json()

    def ok(self, method, path, body=None, shape=None, elements=None):
        status, reply = self.call(method, path, body)
        assert status == 200, reply
        assert reply["meta"]["httpStatus"] == "200 - OK"
        assert shape_problems(reply["meta"], META, "meta") == []
        result = reply.get("result")
        if shape is not None:
            assert shape_problems(result, shape) == []
        if elements is not None:
            assert shape_problems(result, {"elements": LIST, "nextPage": NULLABLE_TEXT}) == []
            for number, element in enumerate(result["elements"]):
                assert shape_problems(element, elements, f"elements[{number}]") == []
        return result

    def done(self, method, path, body=None):
        """Updates and deletes answer the meta block only."""
        status, reply = self.call(method, path, body)
        assert status == 200, reply
        assert set(reply) == {"meta"} and reply["meta"]["httpStatus"] == "200 - OK"

    def error(self, method, path, status, body=None):
        got, reply = self.call(method, path, body)
        assert got == status, reply
        assert set(reply) == {"meta"}
        assert shape_problems(reply["meta"], ERROR_META, "meta") == []
        assert reply["meta"]["httpStatus"].startswith(f"{status} - ")
        return reply["meta"]["error"]


@pytest.fixture
def directory(org_a):
    return make_directory(org_a[0])


@pytest.fixture
def api(client, token_a, directory):
    return Reference(client, token_a)


@pytest.fixture
def pool(directory):
    return f"/directories/{directory.public_id}"


JANE = {  # the reference's Create Contact example
    "firstName": "Jane",
    "lastName": "Doe",
    "email": "JaneDoe@email.com",
    "phone": "111-111-1111",
    "extRef": "my_Internal_ID_12345",
    "embeddedData": {"level": "mid", "area": "coast"},
    "language": "",
    "unsubscribed": False,
}
JOHN = {  # the reference's Create Contact in Mailing List example (with "false" spelled right)
    "firstName": "John",
    "lastName": "Doe",
    "email": "JohnDoe@email.com",
    "phone": "6153214454",
    "extRef": "myExtRefID123",
    "embeddedData": {},
    "language": "en/US",
    "unsubscribed": False,
}


def test_directories(api, directory):
    result = api.ok("get", "/directories", elements=DIRECTORY)
    assert [e["directoryId"] for e in result["elements"]] == [directory.public_id]


def test_contacts(api, pool):
    created = api.ok("post", f"{pool}/contacts", JANE, shape=CREATED)
    contact_id = created["id"]
    listed = api.ok("get", f"{pool}/contacts?pageSize=100", elements=LISTED_CONTACT)
    assert [e["contactId"] for e in listed["elements"]] == [contact_id]
    got = api.ok("get", f"{pool}/contacts/{contact_id}", shape=CONTACT)
    assert got["email"] == "JaneDoe@email.com" and got["embeddedData"] == JANE["embeddedData"]
    assert got["lastModified"] >= got["creationDate"] > 1_700_000_000_000
    api.done("put", f"{pool}/contacts/{contact_id}", {"lastName": "Roe", "language": "EN"})
    assert api.ok("get", f"{pool}/contacts/{contact_id}")["lastName"] == "Roe"
    search = {"filter": {"comparison": "eq", "filterType": "lastName", "value": "roe"}}
    found = api.ok("post", f"{pool}/contacts/search?pageSize=5", search, elements=SEARCHED_CONTACT)
    assert [e["id"] for e in found["elements"]] == [contact_id]
    api.done("delete", f"{pool}/contacts/{contact_id}")
    assert api.error("get", f"{pool}/contacts/{contact_id}", 404)["errorCode"] == "RES_01"


def test_mailing_lists(api, pool, org_a):
    list_id = api.ok("post", f"{pool}/mailinglists", {"name": "Customers"}, shape=CREATED)["id"]
    listed = api.ok("get", f"{pool}/mailinglists?pageSize=100", elements=MAILING_LIST)
    assert [(e["mailingListId"], e["ownerId"]) for e in listed["elements"]] == [
        (list_id, org_a[1].public_id)
    ]
    got = api.ok("get", f"{pool}/mailinglists/{list_id}", shape=MAILING_LIST)
    assert got["contactCount"] == 0 and got["name"] == "Customers"
    api.done("put", f"{pool}/mailinglists/{list_id}", {"name": "Best customers"})
    assert api.ok("get", f"{pool}/mailinglists/{list_id}")["name"] == "Best customers"
    api.done("delete", f"{pool}/mailinglists/{list_id}")
    api.error("get", f"{pool}/mailinglists/{list_id}", 404)


def test_a_mailing_list_body_may_carry_the_documented_fields(api, pool, org_a):
    body = {"name": "VIP", "ownerId": org_a[1].public_id, "prioritizeListMetadata": False}
    api.ok("post", f"{pool}/mailinglists", body, shape=CREATED)
    api.error("post", f"{pool}/mailinglists", 400, {"name": "VIP", "category": "x"})


def test_mailing_list_contacts(api, pool):
    list_id = api.ok("post", f"{pool}/mailinglists", {"name": "Customers"})["id"]
    base = f"{pool}/mailinglists/{list_id}/contacts"
    created = api.ok("post", base, JOHN, shape=CREATED_IN_LIST)
    contact_id, lookup_id = created["id"], created["contactLookupId"]
    assert re.fullmatch(r"CGC_[0-9A-Za-z]{15}", lookup_id)
    assert api.ok("post", base, JOHN) == created  # deduplicated: same contact, same lookup id
    listed = api.ok("get", f"{base}?pageSize=50&includeEmbedded=true", elements=LIST_CONTACT)
    assert [(e["contactId"], e["contactLookupId"]) for e in listed["elements"]] == [
        (contact_id, lookup_id)
    ]
    got = api.ok("get", f"{base}/{contact_id}", shape=LIST_CONTACT)
    assert got["contactLookupId"] == lookup_id and got["mailingListUnsubscribed"] is False
    api.done("put", f"{base}/{contact_id}", {"firstName": "Johnny", "embeddedData": {"a": "1"}})
    got = api.ok("get", f"{base}/{contact_id}")
    assert got["firstName"] == "Johnny" and got["embeddedData"] == {"a": "1"}
    # Qualtrics refuses its own reply fields on the way back in; so does Closeloop.
    api.error("put", f"{base}/{contact_id}", 400, {"contactLookupId": lookup_id})
    contact = api.ok("get", f"{pool}/contacts/{contact_id}", shape=CONTACT)
    membership = contact["mailingListMembership"][list_id]
    assert shape_problems(membership, MEMBERSHIP) == []
    assert membership["contactLookupId"] == lookup_id
    api.done("delete", f"{base}/{contact_id}")
    api.error("get", f"{base}/{contact_id}", 404)
    api.error("put", f"{base}/{contact_id}", 404, {"firstName": "x"})
    assert api.ok("get", f"{pool}/contacts/{contact_id}")["mailingListMembership"] == {}


def test_transactions(api, pool, directory):
    contact, _ = actions.upsert_contact(directory, {"email": "jane@example.com"})
    body = {
        "k3j9x0a1b2c3d4e5": {
            "contactId": contact.public_id,
            "mailingListId": None,
            "transactionDate": "2026-11-21 10:02:44",
            "data": {"order_id": "SO-100482"},
        }
    }
    result = api.ok("post", f"{pool}/transactions", body, shape=TRANSACTIONS)
    transaction_id = result["createdTransactions"]["k3j9x0a1b2c3d4e5"]["id"]
    got = api.ok("get", f"{pool}/transactions/{transaction_id}", shape=TRANSACTION)
    assert got["transactionDate"] == "2026-11-21 10:02:44"


def test_errors_use_the_envelope(api, pool, client):
    assert api.error("get", "/directories/POOL_012345678901234/contacts", 404)["errorMessage"]
    api.error("post", f"{pool}/contacts", 400, {"email": "not an address"})
    status, reply = Reference(client, "x" * 40).call("get", "/directories")
    assert status == 401 and reply["meta"]["error"]["errorCode"] == "AUTH_02"


# Ids keep Qualtrics' lengths ---------------------------------------------------------------


def test_ids_have_qualtrics_lengths(api, pool, org_a, directory):
    """POOL_ 20, CID_ 19, CG_ 18, CGC_ 19, CTR_ 19, BT_ 18, UR_ 18 characters, tokens 40:
    the lengths QualtricsAPI checks (credentials.py: token 40, directory 20; contact 19,
    mailing list 18) and Qualtrics' ids have."""
    list_id = api.ok("post", f"{pool}/mailinglists", {"name": "L"})["id"]
    created = api.ok("post", f"{pool}/mailinglists/{list_id}/contacts", JOHN)
    contact = actions.upsert_contact(directory, {"email": "x@example.com"})[0]
    transaction = actions.add_transaction(contact, "2026-01-01 00:00:00", {})
    batch = actions.create_transaction_batch(directory)
    expected = {
        directory.public_id: ("POOL_", 20),
        created["id"]: ("CID_", 19),
        list_id: ("CG_", 18),
        created["contactLookupId"]: ("CGC_", 19),
        transaction.public_id: ("CTR_", 19),
        batch.public_id: ("BT_", 18),
        org_a[1].public_id: ("UR_", 18),
        accounts_actions.create_api_token(*org_a, "t")[1]: ("", 40),
    }
    for value, (prefix, length) in expected.items():
        assert value.startswith(prefix) and len(value) == length, value
        assert re.fullmatch(r"[0-9A-Za-z]+", value[len(prefix) :]), value


# Paths as clients build them ---------------------------------------------------------------


def test_qualtricsapi_paths_with_doubled_slashes(client, token_a, directory):
    """QualtricsAPI's base URL is …/API/v3/directories/POOL_…/ and its calls append
    "/contacts", "/mailinglists" …: every path it sends has a doubled slash."""
    base = f"/API/v3/directories/{directory.public_id}/"
    headers = {"x-api-token": token_a, "Content-Type": "application/json"}
    list_reply = client.post(
        base + "/mailinglists",
        data={"name": "Pilot"},
        content_type="application/json",
        headers=headers,
    ).json()
    list_id = list_reply["result"]["id"]
    created = client.post(
        base + f"/mailinglists/{list_id}/contacts",
        data={
            "firstName": "Ada",
            "email": "ada@example.com",
            "phone": "null",
            "lastName": "null",
            "embeddedData": {},
            "language": "en",
            "unsubscribed": False,
        },
        content_type="application/json",
        headers=headers,
    ).json()["result"]
    assert set(created) == {"id", "contactLookupId"}
    contact_id = created["id"]
    listed = client.get(
        base + "/contacts?pageSize=1000&useNewPaginationScheme=true", headers=headers
    ).json()
    assert [e["contactId"] for e in listed["result"]["elements"]] == [contact_id]
    got = client.get(base + f"/contacts/{contact_id}", headers=headers).json()["result"]
    assert isinstance(got["creationDate"], int) and isinstance(got["lastModified"], int)
    reply = client.put(
        base + f"/contacts/{contact_id}",
        data={"lastName": "Lovelace"},
        content_type="application/json",
        headers=headers,
    ).json()
    assert reply["meta"]["httpStatus"] == "200 - OK"
    lists = client.get(base + "/mailinglists?pageSize=100", headers=headers).json()["result"]
    assert [e["mailingListId"] for e in lists["elements"]] == [list_id]
    members = client.get(base + f"/mailinglists/{list_id}/contacts?pageSize=500", headers=headers)
    assert members.json()["result"]["elements"][0]["lastName"] == "Lovelace"
    assert client.delete(base + f"/contacts/{contact_id}", headers=headers).status_code == 200
    assert client.delete(base + f"/mailinglists/{list_id}", headers=headers).status_code == 200


def _v3_routes():
    """Every /API/v3 route of the URLconf, as an example path with ids filled in."""
    resolver = get_resolver("closeloop.urls")
    (v3,) = [p for p in resolver.url_patterns if str(p.pattern) == "API/v3/"]
    paths = []
    for pattern in v3.url_patterns:
        route = str(pattern.pattern)
        if route.startswith("^") or "openapi" in route or "docs" in route:
            continue  # the catch-all for unknown routes, the schema and its page
        paths.append("/API/v3/" + re.sub(r"<(?:\w+:)?(\w+)>", r"\1_x", route))
    return paths


def test_every_v3_route_is_served_with_doubled_slashes():
    routes = _v3_routes()
    assert "/API/v3/directories/directoryId_x/contacts" in routes
    assert any(route.startswith("/API/v3/distributions") for route in routes)
    for route in dict.fromkeys(routes):
        canonical = resolve(route)
        assert canonical.url_name != "unknown-route", route
        head, _, tail = route.rpartition("/")
        for variant in (f"{head}//{tail}", route.replace("/API/v3/", "/API/v3//") + "/"):
            served = resolve(normalized_api_path(variant))
            assert served.func == canonical.func and served.kwargs == canonical.kwargs, variant


# Tenant isolation of the mailing-list contact reads ------------------------------------------


def test_another_organizations_list_members_are_not_found(
    api, pool, directory, org_b, client, token_b
):
    theirs = make_directory(org_b[0], name="Theirs")
    their_list = actions.create_mailing_list(theirs, "Theirs")
    their_contact, _ = actions.upsert_contact(
        theirs, {"email": "t@example.com"}, mailing_list=their_list
    )
    mine = actions.create_mailing_list(directory, "Mine")
    my_contact, _ = actions.upsert_contact(directory, {"email": "m@example.com"}, mailing_list=mine)
    their_pool = f"/directories/{theirs.public_id}"
    their_path = f"{their_pool}/mailinglists/{their_list.public_id}/contacts"
    api.error("get", their_path, 404)
    api.error("get", f"{their_path}/{their_contact.public_id}", 404)
    api.error("put", f"{their_path}/{their_contact.public_id}", 404, {"firstName": "x"})
    # Their contact under my list and directory: not found either.
    api.error(
        "get", f"{pool}/mailinglists/{mine.public_id}/contacts/{their_contact.public_id}", 404
    )
    their_contact.refresh_from_db()
    assert their_contact.first_name == ""
    # And they see their own, with their lookup id, never mine.
    theirs_api = Reference(client, token_b)
    listed = theirs_api.ok("get", their_path)["elements"]
    assert [e["contactId"] for e in listed] == [their_contact.public_id]
    assert (
        listed[0]["contactLookupId"]
        == MailingListMembership.objects.get(contact=their_contact).public_id
    )
    theirs_api.error(
        "get", f"{pool}/mailinglists/{mine.public_id}/contacts/{my_contact.public_id}", 404
    )
    got = theirs_api.ok("get", f"{their_pool}/contacts/{their_contact.public_id}")
    assert list(got["mailingListMembership"]) == [their_list.public_id]


# The migration gives existing memberships their lookup ids -----------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_lookup_ids_of_existing_memberships(org_a):
    executor = MigrationExecutor(connection)
    before = [("directory", "0008_contact_first_name_index_with_id")]
    after = [("directory", "0009_membership_lookup_id")]
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    Directory = apps.get_model("directory", "Directory")
    Contact = apps.get_model("directory", "Contact")
    MailingList = apps.get_model("directory", "MailingList")
    Membership = apps.get_model("directory", "MailingListMembership")
    directory = Directory.objects.create(organization_id=org_a[0].pk, name="Old")
    mailing_list = MailingList.objects.create(
        organization_id=org_a[0].pk, directory=directory, name="Old list"
    )
    for number in range(3):
        contact = Contact.objects.create(
            organization_id=org_a[0].pk, directory=directory, public_id=f"CID_old{number:012d}"
        )
        Membership.objects.create(mailing_list=mailing_list, contact=contact)
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    lookup_ids = list(MailingListMembership.objects.values_list("public_id", flat=True))
    assert len(set(lookup_ids)) == 3
    assert all(re.fullmatch(r"CGC_[0-9A-Za-z]{15}", value) for value in lookup_ids)
