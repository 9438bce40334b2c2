"""API tokens: shown once, stored hashed, revocable, last use recorded at most once a minute."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from closeloop.accounts import actions, queries
from closeloop.accounts.models import ApiToken, hash_secret

pytestmark = pytest.mark.django_db


def test_token_is_40_characters_and_stored_hashed(org_a):
    organization, owner = org_a
    token, secret = actions.create_api_token(organization, owner, "Segment")
    assert len(secret) == 40
    assert secret.isalnum()
    row = ApiToken.objects.get(pk=token.pk)
    assert row.token_hash == hash_secret(secret)
    assert row.hint == secret[-4:]
    stored = [str(value) for value in ApiToken.objects.values_list(flat=False).get(pk=token.pk)]
    assert all(secret not in value for value in stored)


def test_tokens_page_shows_the_secret_once(owner_a, org_a):
    response = owner_a.post(reverse("accounts:tokens"), {"name": "Nightly export"})
    assert response.status_code == 200
    secret = response.context["new_secret"]
    assert b'class="secret"' in response.content
    assert secret.encode() in response.content
    assert "no-store" in response["Cache-Control"]

    listing = owner_a.get(reverse("accounts:tokens"))
    assert b"Nightly export" in listing.content
    assert secret[-4:].encode() in listing.content
    assert secret.encode() not in listing.content


def test_blank_or_oversized_token_name_is_an_inline_error(owner_a):
    for name in ("", "x" * 101):
        response = owner_a.post(reverse("accounts:tokens"), {"name": name})
        assert response.status_code == 200
        assert b'class="errorlist' in response.content
    assert not ApiToken.objects.exists()


def test_revoke_from_page(owner_a, org_a):
    token, secret = actions.create_api_token(*org_a, "CI")
    response = owner_a.post(reverse("accounts:revoke_token", args=[token.id]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert queries.active_token(secret) is None


def test_revoke_needs_post(owner_a, org_a):
    token, _ = actions.create_api_token(*org_a, "CI")
    assert owner_a.get(reverse("accounts:revoke_token", args=[token.id])).status_code == 405


def test_touch_token_writes_at_most_once_a_minute(org_a, django_assert_num_queries):
    token, secret = actions.create_api_token(*org_a, "CI")
    assert token.last_used_at is None
    actions.touch_token(token)
    first_use = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first_use is not None
    with django_assert_num_queries(0):
        actions.touch_token(token)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    stale = queries.active_token(secret)
    actions.touch_token(stale)
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first_use - timedelta(seconds=1)
    assert ApiToken.objects.get(pk=token.pk).last_used_at > timezone.now() - timedelta(seconds=5)


def test_token_of_someone_outside_the_organization_is_refused(org_a, org_b):
    with pytest.raises(actions.NotAllowed):
        actions.create_api_token(org_a[0], org_b[1], "sneaky")
