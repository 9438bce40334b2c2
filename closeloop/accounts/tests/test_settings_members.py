"""Settings → Members: inviting, changing a role and removing a member are in the audit log;
the last owner can be neither demoted nor removed; refused changes record nothing."""

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from closeloop.accounts import actions
from closeloop.accounts.models import AuditEvent, Invitation, Membership, Role
from closeloop.accounts.tests.conftest import add_member, logged_in

pytestmark = pytest.mark.django_db


def events(organization, action):
    return list(AuditEvent.objects.filter(organization=organization, action=action).order_by("id"))


def membership_of(organization, user) -> Membership:
    return Membership.objects.get(organization=organization, user=user)


def test_an_invitation_is_recorded(owner_a, org_a):
    response = owner_a.post(
        reverse("accounts:invite"), {"email": "New@Example.test", "role": Role.ADMIN}
    )
    assert response.status_code == 302
    [event] = events(org_a[0], "member.invited")
    assert event.actor == org_a[1]
    assert event.summary == "new@example.test invited as Admin"
    invitation = Invitation.objects.get()
    assert (event.target_type, event.target_id) == ("invitation", str(invitation.pk))

    url = reverse("accounts:revoke_invitation", args=[invitation.pk])
    assert owner_a.post(url).status_code == 302
    [withdrawn] = events(org_a[0], "invitation.revoked")
    assert "new@example.test" in withdrawn.summary


def test_an_invitation_that_could_not_be_sent_is_not_recorded(owner_a, org_a, settings):
    settings.EMAIL_BACKEND = "closeloop.accounts.tests.test_settings_members.BrokenBackend"
    response = owner_a.post(
        reverse("accounts:invite"), {"email": "x@example.test", "role": "member"}
    )
    assert response.status_code == 200
    assert "could not be sent" in response.content.decode()
    assert not events(org_a[0], "member.invited")


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("no mail server")


@pytest.mark.parametrize(
    "data",
    [
        {"email": "not an address", "role": "member"},
        {"email": "", "role": "member"},
        {"email": "x@example.test", "role": "superuser"},
        {"email": "x@example.test", "role": "owner"},  # only owners may grant owner
        {"email": '"><script>alert(1)</script>@x.test', "role": "member"},
        {"email": "a" * 400 + "@example.test", "role": "member"},
    ],
)
def test_bad_invitations_are_form_errors_and_record_nothing(org_a, admin_a, client, data):
    logged_in(client, admin_a)
    response = client.post(reverse("accounts:invite"), data)
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
    assert "<script>alert(1)" not in response.content.decode()
    assert not Invitation.objects.exists()
    assert not mail.outbox
    assert not events(org_a[0], "member.invited")


def test_a_role_change_is_recorded_once(owner_a, org_a, member_a):
    membership = membership_of(org_a[0], member_a)
    url = reverse("accounts:change_role", args=[membership.id])
    assert owner_a.post(url, {"role": Role.ADMIN}).status_code == 302
    assert owner_a.post(url, {"role": Role.ADMIN}).status_code == 302  # no change
    [event] = events(org_a[0], "member.role_changed")
    assert event.summary == "member@acme.test: Member → Admin"
    assert event.extra == {"before": "member", "after": "admin"}
    assert event.target_id == member_a.public_id


def test_bad_roles_change_nothing(owner_a, org_a, member_a):
    membership = membership_of(org_a[0], member_a)
    url = reverse("accounts:change_role", args=[membership.id])
    for role in ("", "root", "<b>admin</b>", "admin" * 100):
        response = owner_a.post(url, {"role": role}, follow=True)
        assert "Choose one of the listed roles." in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.MEMBER
    assert not events(org_a[0], "member.role_changed")


def test_a_removal_is_recorded(owner_a, org_a, member_a):
    membership = membership_of(org_a[0], member_a)
    assert owner_a.post(reverse("accounts:remove_member", args=[membership.id])).status_code == 302
    [event] = events(org_a[0], "member.removed")
    assert event.summary == "member@acme.test (Member) removed"
    assert event.actor == org_a[1]


def test_the_last_owner_can_neither_be_demoted_nor_removed(owner_a, org_a, admin_a, client):
    organization, owner = org_a
    membership = membership_of(organization, owner)
    response = owner_a.post(
        reverse("accounts:change_role", args=[membership.id]), {"role": Role.ADMIN}, follow=True
    )
    assert "at least one owner" in response.content.decode()
    response = owner_a.post(reverse("accounts:remove_member", args=[membership.id]), follow=True)
    assert "last owner" in response.content.decode()
    # an admin may not touch an owner at all
    logged_in(client, admin_a)
    response = client.post(
        reverse("accounts:change_role", args=[membership.id]), {"role": Role.MEMBER}, follow=True
    )
    assert "Only an owner" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.OWNER
    assert not events(organization, "member.role_changed")
    assert not events(organization, "member.removed")


def test_with_a_second_owner_the_first_may_step_down(org_a):
    organization, owner = org_a
    second = add_member(organization, "second@acme.test", Role.OWNER)
    actions.change_role(membership_of(organization, owner), Role.ADMIN, second)
    assert membership_of(organization, owner).role == Role.ADMIN
    with pytest.raises(actions.LastOwner):
        actions.remove_member(membership_of(organization, second), second)


def test_members_are_refused(org_a, member_a, admin_a, client):
    logged_in(client, member_a)
    target = membership_of(org_a[0], admin_a)
    assert (
        client.post(reverse("accounts:invite"), {"email": "x@x.test", "role": "member"}).status_code
        == 403
    )
    url = reverse("accounts:change_role", args=[target.id])
    assert client.post(url, {"role": "member"}).status_code == 403
    assert client.post(reverse("accounts:remove_member", args=[target.id])).status_code == 403
    assert not AuditEvent.objects.filter(action__startswith="member.").exists()


def test_another_organizations_admin_cannot_reach_the_members(org_a, org_b, member_a):
    other = logged_in(Client(), org_b[1])
    target = membership_of(org_a[0], member_a)
    url = reverse("accounts:change_role", args=[target.id])
    assert other.post(url, {"role": "admin"}).status_code == 404
    assert other.post(reverse("accounts:remove_member", args=[target.id])).status_code == 404
    page = other.get(reverse("accounts:members")).content.decode()
    assert member_a.email not in page
    target.refresh_from_db()
    assert target.role == Role.MEMBER
    assert not AuditEvent.objects.filter(action__startswith="member.").exists()


def test_joining_is_recorded(org_a):
    organization, owner = org_a
    actions.invite_member(organization, "joiner@example.test", Role.MEMBER, owner)
    body = mail.outbox[0].body
    secret = body.split("/invite/")[1].split("/")[0]
    actions.accept_invitation(secret, "correct horse battery", "Jo", "Iner")
    [event] = events(organization, "member.joined")
    assert event.summary == "joiner@example.test joined as Member"
