"""Hostile input: markup is escaped everywhere it is shown, oversized values are form errors."""

import pytest
from django.core import mail
from django.urls import reverse

from closeloop.accounts import actions
from closeloop.accounts.models import Organization, Role
from closeloop.accounts.tests.conftest import add_member

pytestmark = pytest.mark.django_db

SCRIPT = '<script>alert("x")</script>'


def test_script_in_names_is_escaped(owner_a, org_a):
    organization, owner = org_a
    owner.first_name = SCRIPT
    owner.save()
    organization.name = SCRIPT
    organization.save()
    actions.create_api_token(organization, owner, SCRIPT)
    for url in (
        "accounts:members",
        "accounts:tokens",
        "accounts:organization",
        "accounts:settings",
    ):
        content = owner_a.get(reverse(url)).content.decode()
        assert SCRIPT not in content, url
        assert "&lt;script&gt;" in content, url


def test_script_in_invitation_email_html_is_escaped(org_a):
    organization, owner = org_a
    organization.name = SCRIPT
    organization.save()
    actions.invite_member(organization, "x@example.test", Role.MEMBER, owner)
    html = mail.outbox[0].alternatives[0][0]
    assert SCRIPT not in html
    assert "&lt;script&gt;" in html


def test_oversized_names_are_rejected(owner_a, org_a):
    response = owner_a.post(reverse("accounts:organization"), {"name": "x" * 201})
    assert response.status_code == 200
    assert b'class="errorlist' in response.content
    assert Organization.objects.get().name == "Acme Corp"

    response = owner_a.post(
        reverse("accounts:settings"), {"first_name": "y" * 151, "last_name": ""}
    )
    assert response.status_code == 200
    assert b'class="errorlist' in response.content


def test_setup_rejects_oversized_organization_name(client):
    response = client.post(
        "/setup/",
        {
            "organization_name": "z" * 5000,
            "first_name": "A",
            "last_name": "",
            "email": "a@example.test",
            "password": "long enough passphrase",
            "password_again": "long enough passphrase",
        },
    )
    assert response.status_code == 200
    assert not Organization.objects.exists()


def test_invite_rejects_bad_email_and_role(owner_a):
    for data in ({"email": "not an email", "role": "member"}, {"email": "a@b.test", "role": "god"}):
        response = owner_a.post(reverse("accounts:invite"), data)
        assert response.status_code == 200
        assert b'class="errorlist' in response.content
    assert mail.outbox == []


def test_member_role_form_tampering(org_a, client):
    member = add_member(org_a[0], "m@acme.test")
    client.force_login(member)
    response = client.post(reverse("accounts:invite"), {"email": "a@b.test", "role": "owner"})
    assert response.status_code == 403
