"""Repeated wrong passwords pause sign-in, per account and per client, across processes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from closeloop.accounts import actions
from closeloop.accounts.models import FailedSignIn
from closeloop.accounts.tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _sign_in(client, password, email="owner@acme.test", address="203.0.113.7"):
    return client.post("/login/", {"username": email, "password": password}, REMOTE_ADDR=address)


def test_wrong_passwords_pause_the_account_even_with_the_right_one(client, org_a, settings):
    settings.CLOSELOOP_SIGN_IN_FAILURES_PER_ACCOUNT = 3
    for _ in range(3):
        assert b"errorlist" in _sign_in(client, "wrong").content
    response = _sign_in(client, PASSWORD)
    assert response.status_code == 200
    assert b"Too many wrong passwords" in response.content
    assert "_auth_user_id" not in client.session
    # The refused attempt itself is not counted again.
    assert FailedSignIn.objects.count() == 3


def test_pause_ends_after_the_window(client, org_a, settings):
    settings.CLOSELOOP_SIGN_IN_FAILURES_PER_ACCOUNT = 2
    _sign_in(client, "wrong")
    _sign_in(client, "wrong")
    FailedSignIn.objects.update(created_at=timezone.now() - timedelta(minutes=16))
    assert _sign_in(client, PASSWORD).status_code == 302


def test_success_clears_the_account_count(client, org_a, settings):
    settings.CLOSELOOP_SIGN_IN_FAILURES_PER_ACCOUNT = 3
    _sign_in(client, "wrong")
    _sign_in(client, "wrong")
    assert _sign_in(client, PASSWORD).status_code == 302
    assert not FailedSignIn.objects.filter(email="owner@acme.test").exists()


def test_one_client_guessing_many_accounts_is_paused(client, org_a, settings):
    settings.CLOSELOOP_SIGN_IN_FAILURES_PER_CLIENT = 4
    for number in range(4):
        _sign_in(client, "wrong", email=f"nobody{number}@acme.test")
    response = _sign_in(client, PASSWORD)
    assert b"Too many wrong passwords" in response.content
    # Another client can still sign in to the same account.
    assert _sign_in(client, PASSWORD, address="198.51.100.9").status_code == 302


def test_client_address_is_not_stored_in_clear(client, org_a):
    _sign_in(client, "wrong")
    stored = FailedSignIn.objects.get()
    assert "203.0.113.7" not in stored.client
    assert stored.email == "owner@acme.test"


def test_housekeeping_deletes_day_old_attempts(org_a):
    client = actions.client_fingerprint("203.0.113.7")
    actions.record_failed_sign_in("owner@acme.test", client)
    actions.record_failed_sign_in("owner@acme.test", client)
    FailedSignIn.objects.filter(pk=FailedSignIn.objects.first().pk).update(
        created_at=timezone.now() - timedelta(days=2)
    )
    assert actions.delete_old_failed_sign_ins() == 1
    assert FailedSignIn.objects.count() == 1
