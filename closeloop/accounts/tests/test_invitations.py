"""Inviting people by email and accepting: once, before expiry, unless withdrawn."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from closeloop.accounts import actions
from closeloop.accounts.models import Invitation, Membership, Role, User, hash_secret
from closeloop.accounts.tests.conftest import PASSWORD, add_member, logged_in

pytestmark = pytest.mark.django_db

NEW_PERSON = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "password": "analytical engine 1843",
    "password_again": "analytical engine 1843",
}


def invite_by_page(client, email="ada@example.test", role=Role.MEMBER):
    response = client.post(reverse("accounts:invite"), {"email": email, "role": role})
    assert response.status_code == 302, response.content
    return link_path(mail.outbox[-1])


def link_path(message) -> str:
    return re.search(r"https?://[^/\s]+(/invite/[^/\s]+/)", message.body).group(1)


def test_invite_sends_email_with_secret_link_and_stores_only_hash(owner_a, org_a):
    path = invite_by_page(owner_a)
    message = mail.outbox[0]
    assert message.to == ["ada@example.test"]
    assert "Acme Corp" in message.subject
    assert message.alternatives and path in message.alternatives[0][0]
    secret = path.split("/")[2]
    invitation = Invitation.objects.get()
    assert invitation.token_hash == hash_secret(secret)
    assert secret not in str(Invitation.objects.values_list())
    assert invitation.invited_by == org_a[1]


def test_members_page_lists_pending_invitations(owner_a):
    invite_by_page(owner_a, "grace@example.test")
    page = owner_a.get(reverse("accounts:members"))
    assert b"grace@example.test" in page.content
    assert b"Pending invitations" in page.content


def test_accept_creates_account_membership_and_logs_in(owner_a, org_a, client):
    path = invite_by_page(owner_a, role=Role.ADMIN)
    owner_a.logout()
    page = client.get(path)
    assert page.status_code == 200
    assert b"ada@example.test" in page.content

    response = client.post(path, NEW_PERSON)
    assert response.status_code == 302
    user = User.objects.get(email="ada@example.test")
    assert user.first_name == "Ada"
    assert user.check_password(NEW_PERSON["password"])
    assert Membership.objects.get(user=user, organization=org_a[0]).role == Role.ADMIN
    assert client.get("/").context["user"] == user
    assert Invitation.objects.get().accepted_at is not None


def test_invitation_cannot_be_reused(owner_a, client):
    path = invite_by_page(owner_a)
    owner_a.logout()
    client.post(path, NEW_PERSON)
    client.logout()
    response = client.get(path)
    assert response.status_code == 404
    assert b"already been used" in response.content
    response = client.post(path, NEW_PERSON | {"first_name": "Mallory"})
    assert response.status_code == 404
    assert User.objects.filter(email="ada@example.test").count() == 1


def test_expired_invitation_is_refused(owner_a, client):
    path = invite_by_page(owner_a)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    owner_a.logout()
    response = client.post(path, NEW_PERSON)
    assert response.status_code == 404
    assert b"expired" in response.content
    assert not User.objects.filter(email="ada@example.test").exists()


def test_withdrawn_invitation_is_refused(owner_a, client):
    path = invite_by_page(owner_a)
    invitation = Invitation.objects.get()
    response = owner_a.post(reverse("accounts:revoke_invitation", args=[invitation.id]))
    assert response.status_code == 302
    owner_a.logout()
    response = client.get(path)
    assert response.status_code == 404
    assert b"withdrawn" in response.content


def test_unknown_invitation_link(client, org_a):
    response = client.get("/invite/not-a-real-secret/")
    assert response.status_code == 404
    assert b"not valid" in response.content


def test_reinviting_withdraws_the_older_link(owner_a):
    first = invite_by_page(owner_a)
    second = invite_by_page(owner_a)
    assert first != second
    owner_a.logout()
    assert owner_a.get(first).status_code == 404
    assert owner_a.get(second).status_code == 200


def test_inviting_an_existing_member_is_an_inline_error(owner_a):
    response = owner_a.post(
        reverse("accounts:invite"), {"email": "owner@acme.test", "role": "member"}
    )
    assert response.status_code == 200
    assert b"already a member" in response.content
    assert b'class="errorlist' in response.content
    assert mail.outbox == []


def test_weak_password_on_acceptance_is_an_inline_error(owner_a, client):
    path = invite_by_page(owner_a)
    owner_a.logout()
    response = client.post(path, NEW_PERSON | {"password": "ada", "password_again": "ada"})
    assert response.status_code == 200
    assert b'class="errorlist' in response.content
    assert not User.objects.filter(email="ada@example.test").exists()


def test_existing_account_joins_after_logging_in(org_a, org_b, client):
    invitation_secret = _invite(org_a, "owner@globex.test")
    path = f"/invite/{invitation_secret}/"
    page = client.get(path)
    assert b"Log in" in page.content
    globex_owner = org_b[1]
    logged_in(client, globex_owner)
    assert client.get(path).status_code == 200
    response = client.post(path)
    assert response.status_code == 302
    assert Membership.objects.filter(user=globex_owner, organization=org_a[0]).exists()
    assert client.session["organization_id"] == org_a[0].id


def test_invitation_for_someone_else_is_refused(org_a, org_b, client):
    secret = _invite(org_a, "ada@example.test")
    logged_in(client, org_b[1])
    response = client.post(f"/invite/{secret}/")
    assert response.status_code == 403
    assert not Membership.objects.filter(user=org_b[1], organization=org_a[0]).exists()


def test_accept_action_rejects_reuse_directly(org_a):
    secret = _invite(org_a, "ada@example.test")
    actions.accept_invitation(secret, "analytical engine 1843", "Ada", "L")
    with pytest.raises(actions.InvitationNotUsable):
        actions.accept_invitation(secret, "analytical engine 1843", "Ada", "L")


def test_members_cannot_invite(org_a, client):
    member = add_member(org_a[0], "member@acme.test")
    logged_in(client, member)
    response = client.post(
        reverse("accounts:invite"), {"email": "x@example.test", "role": "member"}
    )
    assert response.status_code == 403
    assert not Invitation.objects.exists()
    with pytest.raises(actions.NotAllowed):
        actions.invite_member(org_a[0], "x@example.test", Role.MEMBER, member)


def test_admins_cannot_invite_owners(org_a):
    admin = add_member(org_a[0], "admin@acme.test", Role.ADMIN)
    with pytest.raises(actions.NotAllowed):
        actions.invite_member(org_a[0], "x@example.test", Role.OWNER, admin)
    assert actions.invite_member(org_a[0], "x@example.test", Role.ADMIN, admin).role == Role.ADMIN


def test_failed_email_withdraws_the_invitation(org_a, settings):
    settings.EMAIL_BACKEND = "closeloop.accounts.tests.test_invitations.BrokenBackend"
    with pytest.raises(actions.AccountsError, match="could not be sent"):
        actions.invite_member(org_a[0], "x@example.test", Role.MEMBER, org_a[1])
    assert Invitation.objects.get().revoked_at is not None


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("no mail server")


def _invite(organization_and_owner, email: str) -> str:
    organization, owner = organization_and_owner
    actions.invite_member(organization, email, Role.MEMBER, owner)
    return link_path(mail.outbox[-1]).split("/")[2]


def test_password_constant_is_usable():
    assert len(PASSWORD) >= 8
