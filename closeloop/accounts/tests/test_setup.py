"""First run: a fresh install sends everyone to /setup/, which works exactly once."""

import pytest
from django.urls import reverse

from closeloop.accounts import actions, queries
from closeloop.accounts.models import Membership, Organization, Role, User

pytestmark = pytest.mark.django_db

SETUP = {
    "organization_name": "Initech",
    "first_name": "Peter",
    "last_name": "Gibbons",
    "email": "Peter@Initech.test",
    "password": "tps reports forever",
    "password_again": "tps reports forever",
}


def test_fresh_install_redirects_to_setup(client):
    for path in ("/", "/login/", "/settings/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"] == reverse("accounts:setup")


def test_fresh_install_api_is_not_redirected(client):
    response = client.get("/API/v3/whoami")
    assert response.status_code == 401


def test_fresh_install_event_receivers_answer_in_their_protocol(client):
    soap = client.post("/inbound/salesforce/no-such-url", b"<x/>", content_type="text/xml")
    assert soap.status_code == 404 and b"soapenv:Client" in soap.content
    json_event = client.post("/inbound/json/no-such-url", {}, content_type="application/json")
    assert json_event.status_code == 401
    assert json_event["Content-Type"] == "application/problem+json"


def test_setup_page_renders(client):
    response = client.get("/setup/")
    assert response.status_code == 200
    assert b"Organization name" in response.content


def test_setup_creates_organization_and_owner_and_logs_in(client):
    response = client.post("/setup/", SETUP)
    assert response.status_code == 302
    assert response["Location"] == reverse("web:home")

    organization = Organization.objects.get()
    assert organization.name == "Initech"
    assert organization.brand_id == "initech"
    user = User.objects.get()
    assert user.email == "peter@initech.test"
    assert user.check_password("tps reports forever")
    assert Membership.objects.get(user=user, organization=organization).role == Role.OWNER

    home = client.get("/")
    assert home.status_code == 200
    assert home.context["user"] == user
    assert queries.needs_setup() is False


def test_setup_refused_once_done(client, org_a):
    response = client.get("/setup/")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:login")
    response = client.post("/setup/", SETUP)
    assert response.status_code == 302
    assert Organization.objects.count() == 1
    assert not User.objects.filter(email="peter@initech.test").exists()


def test_setup_action_refused_once_done(org_a):
    with pytest.raises(actions.SetupAlreadyDone):
        actions.setup_first_organization("Other", "x@other.test", "a long password 1")


def test_setup_needs_matching_strong_passwords(client):
    response = client.post("/setup/", SETUP | {"password_again": "something else entirely"})
    assert response.status_code == 200
    assert b"The two passwords are different" in response.content
    assert b'class="errorlist' in response.content

    response = client.post("/setup/", SETUP | {"password": "123", "password_again": "123"})
    assert response.status_code == 200
    assert b"too short" in response.content
    assert not Organization.objects.exists()


def test_setup_after_cached_needs_setup_is_seen(client):
    assert queries.needs_setup() is True  # nothing cached while true
    client.post("/setup/", SETUP)
    client.logout()
    response = client.get("/")
    assert response["Location"].startswith(reverse("accounts:login"))


def test_brand_ids_are_unique_slugs(org_a):
    owner = org_a[1]
    second = actions.create_organization("Acme Corp", owner)
    third = actions.create_organization("Acme Corp", owner)
    assert {org_a[0].brand_id, second.brand_id, third.brand_id} == {
        "acme-corp",
        "acme-corp-2",
        "acme-corp-3",
    }
    assert actions.unique_brand_id("!!!") == "organization"
    assert len(actions.unique_brand_id("x" * 300)) <= 50
