"""The API token policy of an organization (Settings → Organization): a maximum token age after
which tokens stop authenticating (the usual 401), and "only owners and admins create tokens";
set by owners and admins, recorded in the audit log, never reaching another organization."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from closeloop.accounts import actions, queries
from closeloop.accounts.models import ApiToken, AuditEvent, Organization
from closeloop.accounts.tests.conftest import logged_in

pytestmark = pytest.mark.django_db

INVALID = "The API token is not valid or was revoked."


def policy(client, max_age="", admins_only=False):
    data = {"max_age_days": max_age}
    if admins_only:
        data["admins_only"] = "on"
    return client.post(reverse("accounts:organization_token_policy"), data)


def whoami(secret: str):
    return Client().get("/API/v3/whoami", HTTP_X_API_TOKEN=secret)


def age(token_secret: str, days: float) -> None:
    created = timezone.now() - timedelta(days=days)
    ApiToken.objects.filter(hint=token_secret[-4:]).update(created_at=created)


def test_owner_sets_the_policy_and_it_is_audited(owner_a, org_a):
    page = owner_a.get(reverse("accounts:organization")).content.decode()
    assert "Maximum token age" in page and "no expiry" in page

    assert policy(owner_a, max_age="90", admins_only=True).status_code == 302
    organization = Organization.objects.get(pk=org_a[0].pk)
    assert organization.api_token_max_age_days == 90
    assert organization.api_tokens_admins_only is True
    event = AuditEvent.objects.get(action="organization.changed")
    assert event.actor == org_a[1]
    assert "API token policy" in event.summary and "none → 90" in event.summary
    assert event.extra["changes"]["api_tokens_admins_only"] == [False, True]

    assert policy(owner_a, max_age="90", admins_only=True).status_code == 302
    assert AuditEvent.objects.filter(action="organization.changed").count() == 1  # no change

    assert policy(owner_a).status_code == 302
    organization.refresh_from_db()
    assert organization.api_token_max_age_days is None
    assert organization.api_tokens_admins_only is False


@pytest.mark.parametrize(
    "value, error",
    [
        ("0", "greater than or equal to 1"),
        ("-5", "greater than or equal to 1"),
        ("3651", "less than or equal to 3650"),
        ("ninety", "Enter a whole number."),
        ("1e3", "Enter a whole number."),
        ('<script>alert("x")</script>', "Enter a whole number."),
        ("9" * 40, "less than or equal to 3650"),
    ],
)
def test_bad_maximum_ages_are_form_errors(owner_a, org_a, value, error):
    response = policy(owner_a, max_age=value, admins_only=True)
    assert response.status_code == 200
    content = response.content.decode()
    assert error in content
    assert "<script>alert" not in content
    org_a[0].refresh_from_db()
    assert org_a[0].api_token_max_age_days is None
    assert org_a[0].api_tokens_admins_only is False
    assert not AuditEvent.objects.filter(action="organization.changed").exists()


def test_the_action_checks_too(org_a):
    organization, owner = org_a
    for bad in (0, -1, 3651, True):
        with pytest.raises(actions.AccountsError):
            actions.set_token_policy(organization, owner, max_age_days=bad, admins_only=False)
    organization.refresh_from_db()
    assert organization.api_token_max_age_days is None


def test_members_cannot_change_the_policy(org_a, member_a, admin_a, client):
    logged_in(client, member_a)
    assert policy(client, max_age="1", admins_only=True).status_code == 403
    page = client.get(reverse("accounts:organization")).content.decode()
    assert "Save token policy" not in page
    with pytest.raises(actions.NotAllowed):
        actions.set_token_policy(org_a[0], member_a, max_age_days=1, admins_only=True)
    org_a[0].refresh_from_db()
    assert org_a[0].api_token_max_age_days is None

    logged_in(client, admin_a)
    assert policy(client, max_age="30").status_code == 302
    org_a[0].refresh_from_db()
    assert org_a[0].api_token_max_age_days == 30


def test_another_organizations_admin_changes_only_their_own(org_a, org_b):
    other = logged_in(Client(), org_b[1])
    assert policy(other, max_age="1", admins_only=True).status_code == 302
    org_a[0].refresh_from_db()
    org_b[0].refresh_from_db()
    assert (org_a[0].api_token_max_age_days, org_a[0].api_tokens_admins_only) == (None, False)
    assert (org_b[0].api_token_max_age_days, org_b[0].api_tokens_admins_only) == (1, True)
    with pytest.raises(actions.NotAllowed):
        actions.set_token_policy(org_a[0], org_b[1], max_age_days=1, admins_only=True)
    assert not AuditEvent.objects.filter(organization=org_a[0]).exists()


def test_tokens_older_than_the_maximum_age_stop_authenticating(org_a, org_b):
    organization, owner = org_a
    _, secret = actions.create_api_token(organization, owner, "script")
    _, secret_b = actions.create_api_token(org_b[0], org_b[1], "other org")
    age(secret, 40)
    age(secret_b, 40)
    assert whoami(secret).status_code == 200

    actions.set_token_policy(organization, owner, max_age_days=30, admins_only=False)
    response = whoami(secret)
    assert response.status_code == 401
    assert response.json()["meta"]["error"]["errorMessage"] == INVALID
    assert queries.active_token(secret) is None
    assert whoami(secret_b).status_code == 200  # org_b has no maximum age

    age(secret, 29)
    assert whoami(secret).status_code == 200
    actions.set_token_policy(organization, owner, max_age_days=None, admins_only=False)
    age(secret, 4000)
    assert whoami(secret).status_code == 200


def test_the_tokens_page_shows_expiry(owner_a, org_a):
    organization, owner = org_a
    _, secret = actions.create_api_token(organization, owner, "old script")
    actions.create_api_token(organization, owner, "new script")
    age(secret, 10)
    actions.set_token_policy(organization, owner, max_age_days=7, admins_only=False)
    page = owner_a.get(reverse("accounts:tokens")).content.decode()
    assert "expired" in page and "active" in page
    assert "stop working 7 days after they are created" in page


def test_members_cannot_create_tokens_when_only_admins_may(org_a, member_a, admin_a, client):
    organization, owner = org_a
    _, kept = actions.create_api_token(organization, member_a, "before the policy")
    actions.set_token_policy(organization, owner, max_age_days=None, admins_only=True)

    logged_in(client, member_a)
    page = client.get(reverse("accounts:tokens")).content.decode()
    assert "only owners and admins can create API tokens" in page
    assert 'name="name"' not in page
    response = client.post(reverse("accounts:tokens"), {"name": "sneaky"})
    assert response.status_code == 403
    with pytest.raises(actions.NotAllowed):
        actions.create_api_token(organization, member_a, "sneaky")
    assert not ApiToken.objects.filter(name="sneaky").exists()
    assert whoami(kept).status_code == 200  # existing tokens keep working

    with pytest.raises(CommandError):
        call_command("token", "create", "--email", member_a.email, "--name", "cli")

    logged_in(client, admin_a)
    response = client.post(reverse("accounts:tokens"), {"name": "admin script"})
    assert response.status_code == 200
    assert ApiToken.objects.filter(name="admin script", user=admin_a).exists()


def test_the_policy_of_one_organization_does_not_bind_another(org_a, org_b):
    actions.set_token_policy(org_a[0], org_a[1], max_age_days=None, admins_only=True)
    from closeloop.accounts.tests.conftest import add_member

    member_b = add_member(org_b[0], "member@globex.test")
    token, _ = actions.create_api_token(org_b[0], member_b, "fine")
    assert token.organization == org_b[0]
