"""Settings → Groups: admins create, rename and delete groups and choose their members (members
of the organization only); everyone sees them; every change is in the audit log; another
organization's admin never sees or changes them."""

import pytest
from django.urls import reverse

from closeloop.accounts import actions
from closeloop.accounts.models import AuditEvent, MemberGroup, Membership, Role
from closeloop.accounts.tests.conftest import add_member, logged_in

pytestmark = pytest.mark.django_db

SCRIPT = '<script>alert("x")</script>'


def group_events(organization):
    return list(
        AuditEvent.objects.filter(organization=organization, action="group.changed")
        .order_by("id")
        .values_list("summary", flat=True)
    )


@pytest.fixture
def group_a(org_a):
    return actions.create_group(org_a[0], "Support", org_a[1])


def test_admin_creates_renames_fills_and_deletes_a_group(org_a, admin_a, member_a, client):
    organization = org_a[0]
    logged_in(client, admin_a)
    response = client.post(reverse("accounts:groups"), {"name": "  Customer   care "})
    group = MemberGroup.objects.get(organization=organization)
    assert response.status_code == 302 and response.url == reverse(
        "accounts:group", args=[group.pk]
    )
    assert group.name == "Customer care"

    url = reverse("accounts:add_group_member", args=[group.pk])
    assert client.post(url, {"user": member_a.public_id}).status_code == 302
    assert list(group.members.all()) == [member_a]
    page = client.get(reverse("accounts:groups")).content.decode()
    assert "Customer care" in page and member_a.email in page

    url = reverse("accounts:rename_group", args=[group.pk])
    assert client.post(url, {"name": "Care"}).status_code == 302
    group.refresh_from_db()
    assert group.name == "Care"

    url = reverse("accounts:remove_group_member", args=[group.pk, member_a.public_id])
    assert client.post(url).status_code == 302
    assert not group.members.exists()

    assert client.post(reverse("accounts:delete_group", args=[group.pk])).status_code == 302
    assert not MemberGroup.objects.filter(organization=organization).exists()

    assert group_events(organization) == [
        "Customer care: created",
        f"Customer care: {member_a.email} added",
        "Care: renamed from Customer care",
        f"Care: {member_a.email} removed",
        "Care: deleted",
    ]
    assert AuditEvent.objects.filter(action="group.changed", actor=admin_a).count() == 5


def test_members_see_groups_but_cannot_change_them(org_a, member_a, group_a, client):
    actions.add_group_member(group_a, member_a, org_a[1])
    logged_in(client, member_a)
    page = client.get(reverse("accounts:groups"))
    assert page.status_code == 200
    assert "Support" in page.content.decode()
    assert "Create a group" not in page.content.decode()
    detail = client.get(reverse("accounts:group", args=[group_a.pk])).content.decode()
    assert member_a.email in detail and "Remove from group" not in detail

    refused = [
        client.post(reverse("accounts:groups"), {"name": "Mine"}),
        client.post(reverse("accounts:rename_group", args=[group_a.pk]), {"name": "Mine"}),
        client.post(reverse("accounts:delete_group", args=[group_a.pk])),
        client.post(
            reverse("accounts:add_group_member", args=[group_a.pk]), {"user": org_a[1].public_id}
        ),
        client.post(reverse("accounts:remove_group_member", args=[group_a.pk, member_a.public_id])),
    ]
    assert [response.status_code for response in refused] == [403] * 5
    group_a.refresh_from_db()
    assert group_a.name == "Support"
    assert list(group_a.members.all()) == [member_a]
    assert MemberGroup.objects.count() == 1
    with pytest.raises(actions.NotAllowed):
        actions.create_group(org_a[0], "Mine", member_a)
    with pytest.raises(actions.NotAllowed):
        actions.add_group_member(group_a, member_a, member_a)


@pytest.mark.parametrize(
    "name, error",
    [
        ("", "This field is required."),
        ("   ", "This field is required."),
        ("x" * 101, "at most 100 characters"),
        ("support", "There is already a group called support."),
    ],
)
def test_bad_group_names_are_form_errors(owner_a, org_a, group_a, name, error):
    other = actions.create_group(org_a[0], "Sales", org_a[1])
    response = owner_a.post(reverse("accounts:groups"), {"name": name})
    assert response.status_code == 200
    assert error in response.content.decode()
    assert MemberGroup.objects.count() == 2

    response = owner_a.post(reverse("accounts:rename_group", args=[other.pk]), {"name": name})
    assert response.status_code == 200
    assert error in response.content.decode()
    other.refresh_from_db()
    assert other.name == "Sales"
    assert group_events(org_a[0]) == ["Support: created", "Sales: created"]


def test_renaming_to_its_own_name_in_other_letters_is_allowed(owner_a, group_a):
    url = reverse("accounts:rename_group", args=[group_a.pk])
    assert owner_a.post(url, {"name": "SUPPORT"}).status_code == 302
    group_a.refresh_from_db()
    assert group_a.name == "SUPPORT"


def test_markup_in_a_group_name_is_escaped(owner_a, org_a):
    group = actions.create_group(org_a[0], SCRIPT, org_a[1])
    for url in (reverse("accounts:groups"), reverse("accounts:group", args=[group.pk])):
        content = owner_a.get(url).content.decode()
        assert SCRIPT not in content and "&lt;script&gt;" in content


def test_only_members_of_the_organization_can_join_a_group(owner_a, org_a, org_b, group_a):
    outsider = org_b[1]
    url = reverse("accounts:add_group_member", args=[group_a.pk])
    for value in (outsider.public_id, "", "nobody", "1 OR 1=1", SCRIPT):
        response = owner_a.post(url, {"user": value})
        assert response.status_code == 200, value
        assert 'class="errorlist' in response.content.decode()
        assert SCRIPT not in response.content.decode()
    assert not group_a.members.exists()
    with pytest.raises(actions.AccountsError):
        actions.add_group_member(group_a, outsider, org_a[1])
    assert not group_a.members.exists()


def test_a_member_already_in_the_group_is_not_offered_again(owner_a, org_a, member_a, group_a):
    actions.add_group_member(group_a, member_a, org_a[1])
    url = reverse("accounts:add_group_member", args=[group_a.pk])
    response = owner_a.post(url, {"user": member_a.public_id})
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
    assert group_a.members.count() == 1


def test_leaving_the_organization_leaves_its_groups(org_a, member_a, group_a):
    organization, owner = org_a
    actions.add_group_member(group_a, member_a, owner)
    membership = Membership.objects.get(organization=organization, user=member_a)
    actions.remove_member(membership, owner)
    assert not group_a.members.exists()


def test_another_organizations_admin_never_sees_or_changes_the_groups(org_a, org_b, group_a):
    from django.test import Client

    member = add_member(org_a[0], "member@acme.test")
    actions.add_group_member(group_a, member, org_a[1])
    other = logged_in(Client(), org_b[1])
    listing = other.get(reverse("accounts:groups")).content.decode()
    assert "Support" not in listing and member.email not in listing
    assert other.get(reverse("accounts:group", args=[group_a.pk])).status_code == 404
    for response in (
        other.post(reverse("accounts:rename_group", args=[group_a.pk]), {"name": "Taken"}),
        other.post(reverse("accounts:delete_group", args=[group_a.pk])),
        other.post(
            reverse("accounts:add_group_member", args=[group_a.pk]), {"user": org_b[1].public_id}
        ),
        other.post(reverse("accounts:remove_group_member", args=[group_a.pk, member.public_id])),
    ):
        assert response.status_code == 404
    group_a.refresh_from_db()
    assert group_a.name == "Support"
    assert list(group_a.members.all()) == [member]
    with pytest.raises(actions.NotAllowed):
        actions.rename_group(group_a, "Taken", org_b[1])
    with pytest.raises(actions.NotAllowed):
        actions.delete_group(group_a, org_b[1])
    assert not AuditEvent.objects.filter(organization=org_b[0], action="group.changed").exists()


def test_the_same_name_in_two_organizations_is_fine(org_a, org_b, group_a):
    group_b = actions.create_group(org_b[0], "Support", org_b[1])
    assert group_b.organization == org_b[0]


def test_settings_navigation_links_groups(owner_a, org_a):
    page = owner_a.get(reverse("accounts:members")).content.decode()
    assert reverse("accounts:groups") in page
    page = owner_a.get(reverse("accounts:groups")).content.decode()
    assert 'aria-current="page">Groups' in page


def test_an_admin_may_change_groups_owners_made(org_a, group_a):
    admin = add_member(org_a[0], "admin@acme.test", Role.ADMIN)
    actions.rename_group(group_a, "Helpdesk", admin)
    group_a.refresh_from_db()
    assert group_a.name == "Helpdesk"
