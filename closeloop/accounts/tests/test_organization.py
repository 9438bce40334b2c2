"""Settings: profile, renaming the organization, switching between organizations."""

import pytest
from django.urls import reverse

from closeloop.accounts.models import Membership, Role
from closeloop.accounts.tests.conftest import logged_in

pytestmark = pytest.mark.django_db


def test_settings_tabs(owner_a):
    page = owner_a.get(reverse("accounts:settings"))
    assert page.status_code == 200
    for tab in (b"Profile", b"Password", b"API tokens", b"Members", b"Organization"):
        assert tab in page.content
    assert page.context["active"] == "settings"


def test_profile_update(owner_a, org_a):
    response = owner_a.post(
        reverse("accounts:settings"), {"first_name": "Wile", "last_name": "Coyote"}
    )
    assert response.status_code == 302
    org_a[1].refresh_from_db()
    assert org_a[1].get_full_name() == "Wile Coyote"


def test_owner_renames_organization(owner_a, org_a):
    response = owner_a.post(reverse("accounts:organization"), {"name": "Acme Rockets"})
    assert response.status_code == 302
    org_a[0].refresh_from_db()
    assert org_a[0].name == "Acme Rockets"


def test_member_cannot_rename(org_a, member_a, client):
    logged_in(client, member_a)
    assert client.get(reverse("accounts:organization")).status_code == 200
    assert client.post(reverse("accounts:organization"), {"name": "Hacked"}).status_code == 403
    org_a[0].refresh_from_db()
    assert org_a[0].name == "Acme Corp"


def test_switch_between_organizations(org_a, org_b, client):
    owner = org_a[1]
    Membership.objects.create(organization=org_b[0], user=owner, role=Role.MEMBER)
    logged_in(client, owner)
    page = client.get(reverse("accounts:organization"))
    assert page.context["can_switch"] is True
    assert page.context["current_organization"] == org_a[0]

    client.post(reverse("accounts:switch_organization"), {"organization": org_b[0].id})
    assert client.session["organization_id"] == org_b[0].id
    page = client.get(reverse("accounts:members"))
    assert page.context["current_organization"] == org_b[0]
    assert b"owner@globex.test" in page.content
