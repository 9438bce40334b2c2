"""Tenant isolation on every settings page: organization B never sees organization A's rows."""

import pytest
from django.urls import reverse

from closeloop.accounts import actions
from closeloop.accounts.models import ApiToken, Invitation, Membership, Role
from closeloop.accounts.tests.conftest import add_member, logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_orgs(org_a, org_b):
    add_member(org_a[0], "alice@acme.test")
    add_member(org_b[0], "bob@globex.test")
    actions.create_api_token(*org_a, "acme-secret-script")
    actions.create_api_token(*org_b, "globex-secret-script")
    actions.invite_member(org_a[0], "pending@acme.test", Role.MEMBER, org_a[1])
    actions.invite_member(org_b[0], "pending@globex.test", Role.MEMBER, org_b[1])
    return org_a, org_b


@pytest.mark.parametrize("viewer, own, foreign", [(0, "acme", "globex"), (1, "globex", "acme")])
def test_members_page(two_orgs, client, viewer, own, foreign):
    logged_in(client, two_orgs[viewer][1])
    content = client.get(reverse("accounts:members")).content.decode()
    assert f"owner@{own}.test" in content
    assert f"pending@{own}.test" in content
    assert f"@{foreign}.test" not in content


@pytest.mark.parametrize("viewer, own, foreign", [(0, "acme", "globex"), (1, "globex", "acme")])
def test_tokens_page(two_orgs, client, viewer, own, foreign):
    logged_in(client, two_orgs[viewer][1])
    content = client.get(reverse("accounts:tokens")).content.decode()
    assert f"{own}-secret-script" in content
    assert f"{foreign}-secret-script" not in content


def test_cannot_act_on_another_organizations_rows(two_orgs, client):
    (org_a, _), (_, owner_b) = two_orgs
    logged_in(client, owner_b)
    foreign_token = ApiToken.objects.get(organization=org_a)
    foreign_membership = Membership.objects.filter(organization=org_a).first()
    foreign_invitation = Invitation.objects.get(organization=org_a)
    posts = [
        reverse("accounts:revoke_token", args=[foreign_token.id]),
        reverse("accounts:change_role", args=[foreign_membership.id]),
        reverse("accounts:remove_member", args=[foreign_membership.id]),
        reverse("accounts:revoke_invitation", args=[foreign_invitation.id]),
    ]
    for url in posts:
        assert client.post(url, {"role": "member"}).status_code == 404, url
    foreign_token.refresh_from_db()
    foreign_invitation.refresh_from_db()
    assert foreign_token.revoked_at is None
    assert foreign_invitation.revoked_at is None
    assert Membership.objects.filter(pk=foreign_membership.pk).exists()


def test_switching_only_to_own_organizations(two_orgs, client):
    (org_a, owner_a), (org_b, _) = two_orgs
    logged_in(client, owner_a)
    client.post(reverse("accounts:switch_organization"), {"organization": org_b.id})
    assert client.session.get("organization_id") != org_b.id
    assert client.get(reverse("accounts:organization")).context["current_organization"] == org_a
