"""Organizations and users on /API/v3, with two organizations to prove isolation."""

from urllib.parse import urlsplit

import pytest

from closeloop.accounts.tests.conftest import add_member
from closeloop.api.tests.conftest import assert_envelope_error, assert_success, get

pytestmark = pytest.mark.django_db


def test_get_own_organization(client, org_a, token_a):
    result = assert_success(get(client, f"/API/v3/organizations/{org_a[0].brand_id}", token_a))
    assert result["id"] == "acme-corp"
    assert result["name"] == "Acme Corp"
    assert result["status"] == "Active"


def test_other_organization_is_403(client, org_a, org_b, token_b):
    response = get(client, f"/API/v3/organizations/{org_a[0].brand_id}", token_b)
    assert_envelope_error(response, 403, "AUTH_03")


def test_unknown_organization_is_also_403(client, token_a):
    assert_envelope_error(
        get(client, "/API/v3/organizations/no-such-brand", token_a), 403, "AUTH_03"
    )


def test_list_users_only_own_organization(client, org_a, org_b, token_a, token_b):
    add_member(org_a[0], "alice@acme.test")
    add_member(org_b[0], "bob@globex.test")
    emails_a = {
        u["email"] for u in assert_success(get(client, "/API/v3/users", token_a))["elements"]
    }
    emails_b = {
        u["email"] for u in assert_success(get(client, "/API/v3/users", token_b))["elements"]
    }
    assert emails_a == {"owner@acme.test", "alice@acme.test"}
    assert emails_b == {"owner@globex.test", "bob@globex.test"}


def test_list_users_pagination(client, org_a, token_a):
    for number in range(4):
        add_member(org_a[0], f"user{number}@acme.test")
    seen, url, pages = [], "/API/v3/users?pageSize=2", 0
    while url:
        result = assert_success(get(client, url, token_a))
        seen += [user["id"] for user in result["elements"]]
        pages += 1
        next_page = result["nextPage"]
        if next_page:
            parts = urlsplit(next_page)
            assert "skipToken=" in parts.query
            url = f"{parts.path}?{parts.query}"
        else:
            url = None
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5


def test_bad_skip_token(client, token_a):
    response = get(client, "/API/v3/users?skipToken=%%%garbage", token_a)
    assert_envelope_error(response, 400, "REQ_01")


def test_get_user(client, org_a, token_a):
    alice = add_member(org_a[0], "alice@acme.test")
    result = assert_success(get(client, f"/API/v3/users/{alice.public_id}", token_a))
    assert result["email"] == "alice@acme.test"
    assert result["organizationId"] == "acme-corp"
    assert result["userType"] == "UT_FULLUSER"


def test_get_user_of_other_organization_is_404(client, org_a, org_b, token_b):
    response = get(client, f"/API/v3/users/{org_a[1].public_id}", token_b)
    assert_envelope_error(response, 404, "RES_01")
