"""Logging in and out, changing a password, resetting a forgotten one by email."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from closeloop.accounts.tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_login_with_email_in_any_case(client, org_a):
    response = client.post("/login/", {"username": "OWNER@acme.test", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("web:home")
    assert client.get("/").context["user"] == org_a[1]


def test_login_wrong_password_shows_error(client, org_a):
    response = client.post("/login/", {"username": "owner@acme.test", "password": "nope"})
    assert response.status_code == 200
    assert b'class="errorlist' in response.content
    assert "_auth_user_id" not in client.session


def test_login_keeps_next(client, org_a):
    response = client.post(
        "/login/?next=/settings/tokens/",
        {"username": "owner@acme.test", "password": PASSWORD, "next": "/settings/tokens/"},
    )
    assert response["Location"] == "/settings/tokens/"


def test_anonymous_is_sent_to_login(client, org_a):
    response = client.get("/settings/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_logout_is_post_only(owner_a):
    assert owner_a.get("/logout/").status_code == 405
    response = owner_a.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:login")
    assert "_auth_user_id" not in owner_a.session


def test_password_change(owner_a, org_a):
    url = reverse("accounts:password_change")
    assert owner_a.get(url).status_code == 200
    response = owner_a.post(
        url,
        {
            "old_password": PASSWORD,
            "new_password1": "a brand new passphrase",
            "new_password2": "a brand new passphrase",
        },
    )
    assert response.status_code == 302
    org_a[1].refresh_from_db()
    assert org_a[1].check_password("a brand new passphrase")
    assert owner_a.get("/settings/").status_code == 200  # still logged in


def test_password_change_wrong_old_password(owner_a, org_a):
    response = owner_a.post(
        reverse("accounts:password_change"),
        {
            "old_password": "wrong",
            "new_password1": "x new pass 123",
            "new_password2": "x new pass 123",
        },
    )
    assert response.status_code == 200
    assert b'class="errorlist' in response.content


def test_password_reset_by_email(client, org_a, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    response = client.post(reverse("accounts:password_reset"), {"email": "owner@acme.test"})
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["owner@acme.test"]
    link = re.search(r"https?://\S+/password-reset/\S+/\S+/", message.body).group(0)
    assert link.startswith(settings.CLOSELOOP_BASE_URL)
    path = link[len(settings.CLOSELOOP_BASE_URL) :]

    form_page = client.get(path, follow=True)
    assert form_page.context["validlink"] is True
    set_password_url = form_page.redirect_chain[-1][0]
    response = client.post(
        set_password_url,
        {"new_password1": "reset passphrase 42", "new_password2": "reset passphrase 42"},
    )
    assert response["Location"] == reverse("accounts:password_reset_complete")
    org_a[1].refresh_from_db()
    assert org_a[1].check_password("reset passphrase 42")
    assert client.get(path, follow=True).context["validlink"] is False  # used once


def test_password_reset_for_unknown_email_sends_nothing(client, org_a, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@acme.test"})
    assert response.status_code == 302  # same answer: no account enumeration
    assert mail.outbox == []
