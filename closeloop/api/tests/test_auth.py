"""Token authentication on /API/v3: X-API-TOKEN or Bearer; missing, wrong or revoked → 401."""

import pytest

from closeloop.accounts import actions
from closeloop.accounts.models import ApiToken, Membership
from closeloop.api.tests.conftest import assert_envelope_error, assert_success, get

pytestmark = pytest.mark.django_db


def test_whoami_with_x_api_token(client, org_a, token_a):
    result = assert_success(get(client, "/API/v3/whoami", token_a))
    organization, owner = org_a
    assert result == {
        "userName": "owner@acme.test",
        "userId": owner.public_id,
        "brandId": organization.brand_id,
        "organizationId": organization.brand_id,
        "firstName": "Acme",
        "lastName": "Owner",
        "email": "owner@acme.test",
        "accountType": "UT_BRANDADMIN",
        "datacenter": "127.0.0.1",
    }
    assert result["userId"].startswith("UR_")


def test_whoami_with_bearer(client, token_a):
    response = client.get("/API/v3/whoami", HTTP_AUTHORIZATION=f"Bearer {token_a}")
    assert assert_success(response)["email"] == "owner@acme.test"


def test_trailing_slash_is_accepted(client, token_a):
    assert assert_success(get(client, "/API/v3/whoami/", token_a))["email"] == "owner@acme.test"


def test_member_account_type(client, org_a):
    from closeloop.accounts.tests.conftest import add_member

    member = add_member(org_a[0], "member@acme.test")
    _, secret = actions.create_api_token(org_a[0], member, "m")
    assert assert_success(get(client, "/API/v3/whoami", secret))["accountType"] == "UT_FULLUSER"


def test_missing_token(client, org_a):
    error = assert_envelope_error(client.get("/API/v3/whoami"), 401, "AUTH_01")
    assert "X-API-TOKEN" in error["errorMessage"]


@pytest.mark.parametrize("header", ["HTTP_X_API_TOKEN", "HTTP_AUTHORIZATION"])
def test_wrong_token(client, org_a, header):
    value = "x" * 40 if header == "HTTP_X_API_TOKEN" else "Bearer " + "x" * 40
    assert_envelope_error(client.get("/API/v3/whoami", **{header: value}), 401, "AUTH_02")


def test_other_auth_scheme_is_missing_token(client, org_a):
    response = client.get("/API/v3/whoami", HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert_envelope_error(response, 401, "AUTH_01")


def test_revoked_token(client, org_a, token_a):
    actions.revoke_api_token(ApiToken.objects.get())
    assert_envelope_error(get(client, "/API/v3/whoami", token_a), 401, "AUTH_02")


def test_token_of_removed_member_stops_working(client, org_a):
    from closeloop.accounts.tests.conftest import add_member

    member = add_member(org_a[0], "member@acme.test")
    _, secret = actions.create_api_token(org_a[0], member, "m")
    Membership.objects.filter(user=member).delete()  # even without remove_member's revocation
    assert_envelope_error(get(client, "/API/v3/whoami", secret), 401, "AUTH_02")


def test_inactive_user_token(client, org_a, token_a):
    org_a[1].is_active = False
    org_a[1].save()
    assert_envelope_error(get(client, "/API/v3/whoami", token_a), 401, "AUTH_02")


def test_use_updates_last_used(client, token_a):
    assert ApiToken.objects.get().last_used_at is None
    get(client, "/API/v3/whoami", token_a)
    assert ApiToken.objects.get().last_used_at is not None


def test_session_login_is_not_api_auth(client, org_a):
    client.force_login(org_a[1])
    assert_envelope_error(client.get("/API/v3/whoami"), 401, "AUTH_01")


def test_post_without_csrf_token_gets_envelope_not_csrf_page(client, token_a):
    client = client.__class__(enforce_csrf_checks=True)
    response = client.post("/API/v3/whoami", HTTP_X_API_TOKEN=token_a)
    assert_envelope_error(response, 405, "REQ_03")
