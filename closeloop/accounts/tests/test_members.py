"""Roles: owners and admins manage members; the last owner can never be removed or demoted."""

import pytest
from django.urls import reverse

from closeloop.accounts import actions
from closeloop.accounts.models import ApiToken, Membership, Role
from closeloop.accounts.tests.conftest import add_member, logged_in

pytestmark = pytest.mark.django_db


def membership_of(organization, user) -> Membership:
    return Membership.objects.get(organization=organization, user=user)


def test_members_page_lists_roles_for_everyone(org_a, member_a, client):
    logged_in(client, member_a)
    page = client.get(reverse("accounts:members"))
    assert page.status_code == 200
    assert b"owner@acme.test" in page.content
    assert b"member@acme.test" in page.content
    assert b"Invite someone" not in page.content  # read-only for members
    assert page.context["active"] == "settings"


def test_owner_changes_a_role(owner_a, org_a, member_a):
    membership = membership_of(org_a[0], member_a)
    response = owner_a.post(
        reverse("accounts:change_role", args=[membership.id]), {"role": "admin"}
    )
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN


def test_member_cannot_change_roles_or_remove(org_a, member_a, client):
    owner_membership = membership_of(org_a[0], org_a[1])
    logged_in(client, member_a)
    url = reverse("accounts:change_role", args=[owner_membership.id])
    assert client.post(url, {"role": "member"}).status_code == 403
    url = reverse("accounts:remove_member", args=[owner_membership.id])
    assert client.post(url).status_code == 403
    owner_membership.refresh_from_db()
    assert owner_membership.role == Role.OWNER


def test_last_owner_cannot_be_demoted_or_removed(owner_a, org_a):
    organization, owner = org_a
    membership = membership_of(organization, owner)
    with pytest.raises(actions.LastOwner):
        actions.change_role(membership, Role.ADMIN, owner)
    with pytest.raises(actions.LastOwner):
        actions.remove_member(membership, owner)

    response = owner_a.post(reverse("accounts:remove_member", args=[membership.id]), follow=True)
    assert b"last owner" in response.content
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_second_owner_makes_demotion_possible(org_a):
    organization, owner = org_a
    other = add_member(organization, "second@acme.test", Role.OWNER)
    actions.change_role(membership_of(organization, owner), Role.ADMIN, other)
    assert membership_of(organization, owner).role == Role.ADMIN


def test_admin_cannot_touch_owners(org_a, admin_a):
    organization, owner = org_a
    with pytest.raises(actions.NotAllowed):
        actions.change_role(membership_of(organization, owner), Role.MEMBER, admin_a)
    member = add_member(organization, "m@acme.test")
    with pytest.raises(actions.NotAllowed):
        actions.change_role(membership_of(organization, member), Role.OWNER, admin_a)
    actions.change_role(membership_of(organization, member), Role.ADMIN, admin_a)


def test_removing_a_member_revokes_their_tokens(owner_a, org_a, member_a):
    token, _ = actions.create_api_token(org_a[0], member_a, "script")
    membership = membership_of(org_a[0], member_a)
    response = owner_a.post(reverse("accounts:remove_member", args=[membership.id]))
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None


def test_unknown_role_is_refused(owner_a, org_a, member_a):
    membership = membership_of(org_a[0], member_a)
    owner_a.post(reverse("accounts:change_role", args=[membership.id]), {"role": "superuser"})
    membership.refresh_from_db()
    assert membership.role == Role.MEMBER


def test_removed_user_sees_no_organization(org_a, member_a, client):
    actions.remove_member(membership_of(org_a[0], member_a), org_a[1])
    logged_in(client, member_a)
    assert client.get(reverse("accounts:members")).status_code == 403
    assert client.get(reverse("accounts:settings")).status_code == 200
