"""Settings → Organization: every organization setting is reachable from the settings
navigation; renaming and retention are audited; the response retention period (empty: kept)
is set with the other periods; members and other organizations change nothing."""

import pytest
from django.test import Client
from django.urls import reverse

from closeloop.accounts import actions, retention
from closeloop.accounts.models import AuditEvent
from closeloop.accounts.tests.conftest import logged_in

pytestmark = pytest.mark.django_db


def save_retention(client, **values):
    data = {"runs": "", "payloads": "", "deliveries": "", "audit": "", "responses": ""}
    data.update({key: str(value) for key, value in values.items()})
    return client.post(reverse("accounts:organization_retention"), data)


def test_an_admin_finds_every_setting_in_the_navigation(org_a, admin_a, client):
    logged_in(client, admin_a)
    page = client.get(reverse("accounts:settings")).content.decode()
    for name in (
        "accounts:tokens",
        "accounts:members",
        "accounts:groups",
        "accounts:organization",
        "distributions:sending",
        "accounts:audit",
    ):
        assert f'href="{reverse(name)}"' in page, name
    for name in ("accounts:groups", "accounts:organization", "distributions:sending"):
        assert client.get(reverse(name)).status_code == 200, name


def test_a_member_sees_the_settings_but_not_the_audit_log(org_a, member_a, client):
    logged_in(client, member_a)
    page = client.get(reverse("accounts:settings")).content.decode()
    assert f'href="{reverse("accounts:groups")}"' in page
    assert f'href="{reverse("accounts:audit")}"' not in page
    assert client.get(reverse("accounts:audit")).status_code == 403


def test_renaming_is_audited(owner_a, org_a):
    assert owner_a.post(reverse("accounts:organization"), {"name": "Acme Ltd"}).status_code == 302
    [event] = AuditEvent.objects.filter(action="organization.changed")
    assert event.summary == "Renamed from Acme Corp to Acme Ltd"


def test_responses_retention_is_set_shown_and_audited(owner_a, org_a):
    page = owner_a.get(reverse("accounts:organization")).content.decode()
    assert "Survey responses" in page
    assert retention.retention_of(org_a[0]).responses is None

    assert save_retention(owner_a, responses=400).status_code == 302
    org_a[0].refresh_from_db()
    assert org_a[0].response_retention_days == 400
    assert retention.retention_of(org_a[0]).responses == 400
    page = owner_a.get(reverse("accounts:organization")).content.decode()
    assert "400 days" in page
    [event] = AuditEvent.objects.filter(action="organization.changed")
    assert "response_retention_days: none → 400" in event.summary

    assert save_retention(owner_a).status_code == 302  # blank: kept again
    org_a[0].refresh_from_db()
    assert org_a[0].response_retention_days is None


@pytest.mark.parametrize(
    "value, error",
    [
        ("0", "greater than or equal to 1"),
        ("-1", "greater than or equal to 1"),
        ("3651", "less than or equal to 3650"),
        ("a year", "Enter a whole number."),
        ("<b>7</b>", "Enter a whole number."),
    ],
)
def test_bad_response_periods_are_form_errors(owner_a, org_a, value, error):
    response = save_retention(owner_a, responses=value)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert "<b>7</b>" not in response.content.decode()
    org_a[0].refresh_from_db()
    assert org_a[0].response_retention_days is None
    assert not AuditEvent.objects.filter(action="organization.changed").exists()


def test_the_action_refuses_bad_response_periods(org_a):
    for bad in (0, -3, 3651, "7", True):
        with pytest.raises(actions.AccountsError):
            actions.set_retention(*org_a, runs=None, payloads=None, deliveries=None, responses=bad)
    org_a[0].refresh_from_db()
    assert org_a[0].response_retention_days is None


def test_members_cannot_change_retention_or_the_name(org_a, member_a, client):
    logged_in(client, member_a)
    assert save_retention(client, responses=1).status_code == 403
    assert client.post(reverse("accounts:organization"), {"name": "Mine"}).status_code == 403
    with pytest.raises(actions.NotAllowed):
        actions.set_retention(
            org_a[0], member_a, runs=None, payloads=None, deliveries=None, responses=1
        )
    org_a[0].refresh_from_db()
    assert org_a[0].response_retention_days is None
    assert org_a[0].name == "Acme Corp"


def test_another_organizations_admin_changes_only_their_own(org_a, org_b):
    other = logged_in(Client(), org_b[1])
    page = other.get(reverse("accounts:organization")).content.decode()
    assert "Acme" not in page
    assert save_retention(other, responses=5).status_code == 302
    assert other.post(reverse("accounts:organization"), {"name": "Taken"}).status_code == 302
    org_a[0].refresh_from_db()
    org_b[0].refresh_from_db()
    assert org_a[0].response_retention_days is None and org_a[0].name == "Acme Corp"
    assert org_b[0].response_retention_days == 5 and org_b[0].name == "Taken"
    assert not AuditEvent.objects.filter(organization=org_a[0]).exists()
