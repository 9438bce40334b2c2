"""Who am I, organizations and users as Qualtrics' API reference documents them (api.qualtrics.com:
Organizations → Who Am I, Get Organization; Users → List Users, Get User), keys and JSON types;
Segment's Qualtrics destination reads whoami's userName (qualtricsApiClient.ts WhoAmiResponse)."""

import pytest

from closeloop.accounts.tests.conftest import add_member
from closeloop.api.tests.conftest import assert_success, get

pytestmark = pytest.mark.django_db

WHO_AM_I = {
    "userName": str,
    "userId": str,
    "brandId": str,
    "firstName": str,
    "lastName": str,
    "email": str,
    "accountType": str,
    "datacenter": str,
}
ORGANIZATION = {"id": str, "name": str, "baseUrl": str, "type": str, "status": str}
USER = {
    "id": str,
    "divisionId": (str, type(None)),
    "username": str,
    "firstName": str,
    "lastName": str,
    "userType": str,
    "email": str,
    "accountStatus": str,
}


def problems(value: dict, shape: dict) -> list[str]:
    return [
        key
        for key, kind in shape.items()
        if key not in value or not isinstance(value[key], kind) or isinstance(value[key], bool)
    ]


def test_who_am_i(client, token_a):
    assert problems(assert_success(get(client, "/API/v3/whoami", token_a)), WHO_AM_I) == []


def test_organization(client, org_a, token_a):
    path = f"/API/v3/organizations/{org_a[0].brand_id}"
    assert problems(assert_success(get(client, path, token_a)), ORGANIZATION) == []


def test_users(client, org_a, token_a):
    alice = add_member(org_a[0], "alice@acme.test")
    listed = assert_success(get(client, "/API/v3/users", token_a))
    assert listed["nextPage"] is None
    for element in listed["elements"]:
        assert problems(element, USER) == []
    got = assert_success(get(client, f"/API/v3/users/{alice.public_id}", token_a))
    assert problems(got, {**USER, "organizationId": str, "accountCreationDate": str}) == []
    assert len(alice.public_id) == 18 and alice.public_id.startswith("UR_")
