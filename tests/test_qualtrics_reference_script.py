"""A script written against Qualtrics' API reference runs unchanged against Closeloop.

`reference_script` uses only `requests` and the request shapes of Qualtrics' API reference
(api.qualtrics.com, XM Directory: Directories, Contacts, Mailing Lists, Mailing List
Contacts): base URL https://<datacenter>.qualtrics.com/API/v3, the X-API-TOKEN header, JSON
bodies, the {"result", "meta"} envelope, nextPage links. Nothing in it knows Closeloop: the
test hands it a live server's URL instead of a datacenter's, and a token.
"""

from __future__ import annotations

import pytest
import requests

from closeloop.accounts import actions as accounts_actions

pytestmark = pytest.mark.django_db(transaction=True)


def reference_script(base_url: str, api_token: str) -> dict:
    """Create a contact in the directory and one in a mailing list; list, get and update
    contacts and lists; delete them. Returns what it saw, for the test to check."""
    api = f"{base_url}/API/v3"
    headers = {"X-API-TOKEN": api_token, "Content-Type": "application/json"}
    seen = {}

    def call(method, url, body=None, expect=200):
        response = requests.request(method, url, json=body, headers=headers, timeout=30)
        reply = response.json()
        assert response.status_code == expect, (method, url, response.status_code, reply)
        assert reply["meta"]["httpStatus"].startswith(f"{expect} - ")
        return reply.get("result")

    def every(url):
        """A list endpoint's elements, following nextPage until it is null."""
        elements = []
        while url:
            page = call("GET", url)
            elements += page["elements"]
            url = page["nextPage"]
        return elements

    # Who am I, and which directory.
    seen["user"] = call("GET", f"{api}/whoami")["userName"]
    directory_id = every(f"{api}/directories")[0]["directoryId"]
    pool = f"{api}/directories/{directory_id}"

    # Create Directory Contact.
    jane = {
        "firstName": "Jane",
        "lastName": "Doe",
        "email": "JaneDoe@email.com",
        "phone": "111-111-1111",
        "extRef": "my_Internal_ID_12345",
        "embeddedData": {"level": "mid", "area": "coast"},
        "language": "",
        "unsubscribed": False,
    }
    jane_id = call("POST", f"{pool}/contacts", jane)["id"]

    # Create Mailing List, then Create Contact In Mailing List.
    list_id = call("POST", f"{pool}/mailinglists", {"name": "Customers"})["id"]
    john = {
        "firstName": "John",
        "lastName": "Doe",
        "email": "JohnDoe@email.com",
        "phone": "6153214454",
        "extRef": "myExtRefID123",
        "embeddedData": {},
        "language": "en/US",
        "unsubscribed": False,
    }
    created = call("POST", f"{pool}/mailinglists/{list_id}/contacts", john)
    john_id, john_lookup_id = created["id"], created["contactLookupId"]

    # List Directory Contacts (a small page, to walk nextPage), Get Directory Contact.
    contacts = every(f"{pool}/contacts?pageSize=1")
    seen["directory contacts"] = sorted(c["contactId"] for c in contacts)
    got = call("GET", f"{pool}/contacts/{jane_id}")
    seen["jane"] = {key: got[key] for key in ("firstName", "email", "extRef", "embeddedData")}
    seen["john's lists"] = {
        cg: membership["contactLookupId"]
        for cg, membership in call("GET", f"{pool}/contacts/{john_id}")[
            "mailingListMembership"
        ].items()
    }

    # Update Directory Contact (meta only in reply), read it back.
    assert call("PUT", f"{pool}/contacts/{jane_id}", {"lastName": "Roe"}) is None
    seen["jane's last name"] = call("GET", f"{pool}/contacts/{jane_id}")["lastName"]

    # List Mailing Lists, Get Mailing List, Update Mailing List.
    seen["lists"] = [(m["mailingListId"], m["name"]) for m in every(f"{pool}/mailinglists")]
    assert call("PUT", f"{pool}/mailinglists/{list_id}", {"name": "Best customers"}) is None
    got_list = call("GET", f"{pool}/mailinglists/{list_id}")
    seen["list"] = (got_list["name"], got_list["contactCount"])

    # List / Get / Update Contact(s) In Mailing List.
    members = every(f"{pool}/mailinglists/{list_id}/contacts?includeEmbedded=true")
    seen["members"] = [(m["contactId"], m["contactLookupId"]) for m in members]
    call("PUT", f"{pool}/mailinglists/{list_id}/contacts/{john_id}", {"firstName": "Johnny"})
    member = call("GET", f"{pool}/mailinglists/{list_id}/contacts/{john_id}")
    seen["member"] = (member["firstName"], member["mailingListUnsubscribed"])

    # Delete: the contact from the list, the contacts, the list.
    call("DELETE", f"{pool}/mailinglists/{list_id}/contacts/{john_id}")
    seen["members after removal"] = every(f"{pool}/mailinglists/{list_id}/contacts")
    call("DELETE", f"{pool}/contacts/{jane_id}")
    call("DELETE", f"{pool}/contacts/{john_id}")
    call("DELETE", f"{pool}/mailinglists/{list_id}")
    missing = requests.get(f"{pool}/contacts/{jane_id}", headers=headers, timeout=30)
    seen["deleted contact"] = (missing.status_code, bool(missing.json()["meta"]["error"]))
    call("GET", f"{pool}/mailinglists/{list_id}", expect=404)
    seen["directory contacts after"] = every(f"{pool}/contacts")
    seen["ids"] = {"directory": directory_id, "list": list_id, "lookup": john_lookup_id}
    return seen


@pytest.fixture
def server(live_server, settings):
    settings.CLOSELOOP_BASE_URL = live_server.url  # nextPage links point at this server
    return live_server.url


def test_the_reference_script_runs_unchanged(server, org_a):
    _token, secret = accounts_actions.create_api_token(*org_a, "reference script")
    seen = reference_script(server, secret)
    list_id, lookup_id = seen["ids"]["list"], seen["ids"]["lookup"]
    assert seen["user"] == "owner@acme.test"
    assert len(seen["ids"]["directory"]) == 20 and len(list_id) == 18
    assert len(lookup_id) == 19 and lookup_id.startswith("CGC_")
    assert len(seen["directory contacts"]) == 2
    assert seen["jane"] == {
        "firstName": "Jane",
        "email": "JaneDoe@email.com",
        "extRef": "my_Internal_ID_12345",
        "embeddedData": {"level": "mid", "area": "coast"},
    }
    assert seen["john's lists"] == {list_id: lookup_id}
    assert seen["jane's last name"] == "Roe"
    assert seen["lists"] == [(list_id, "Customers")]
    assert seen["list"] == ("Best customers", 1)
    assert [lookup for _contact, lookup in seen["members"]] == [lookup_id]
    assert seen["member"] == ("Johnny", False)
    assert seen["members after removal"] == []
    assert seen["deleted contact"] == (404, True)
    assert seen["directory contacts after"] == []


def test_a_doubled_slash_over_http_is_the_single_slash_path(server, org_a):
    _token, secret = accounts_actions.create_api_token(*org_a, "QualtricsAPI")
    headers = {"x-api-token": secret}
    directories = requests.get(f"{server}/API/v3/directories", headers=headers, timeout=30)
    directory_id = directories.json()["result"]["elements"][0]["directoryId"]
    # QualtricsAPI's base URL ends with "/" and its calls begin with "/".
    response = requests.get(
        f"{server}/API/v3/directories/{directory_id}//contacts?pageSize=1000",
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json()["result"] == {"elements": [], "nextPage": None}


def test_another_organizations_token_sees_none_of_it(server, org_a, org_b):
    _token, mine = accounts_actions.create_api_token(*org_a, "a")
    _token, theirs = accounts_actions.create_api_token(*org_b, "b")
    seen = reference_script(server, mine)
    pool = f"{server}/API/v3/directories/{seen['ids']['directory']}"
    response = requests.get(f"{pool}/contacts", headers={"X-API-TOKEN": theirs}, timeout=30)
    assert response.status_code == 404
    assert response.json()["meta"]["error"]["errorCode"] == "RES_01"
