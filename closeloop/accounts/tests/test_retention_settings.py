"""Retention per organization: set on the organization settings page, at most the server's
ceiling, payloads never longer than their runs; members see it but cannot change it."""

import pytest
from django.urls import reverse

from closeloop.accounts import actions, retention
from closeloop.accounts.tests.conftest import logged_in

pytestmark = pytest.mark.django_db


def post(client, **values):
    data = {"runs": "", "payloads": "", "deliveries": ""}
    data.update({key: str(value) for key, value in values.items()})
    return client.post(reverse("accounts:organization_retention"), data)


def test_defaults_are_the_server_ceilings(org_a, settings):
    settings.CLOSELOOP_WORKFLOW_RUN_RETENTION_DAYS = 60
    settings.CLOSELOOP_DELIVERY_RETENTION_DAYS = 0
    kept = retention.retention_of(org_a[0])
    assert (kept.runs, kept.payloads, kept.deliveries) == (60, 60, None)
    assert not kept.payloads_shorter


def test_owner_sets_retention_on_the_organization_page(owner_a, org_a, settings):
    settings.CLOSELOOP_WORKFLOW_RUN_RETENTION_DAYS = 90
    page = owner_a.get(reverse("accounts:organization")).content.decode()
    assert "Retention" in page and "at most 90 days" in page

    response = post(owner_a, runs=30, payloads=7, deliveries=365)
    assert response.status_code == 302
    organization = org_a[0]
    organization.refresh_from_db()
    kept = retention.retention_of(organization)
    assert (kept.runs, kept.payloads, kept.deliveries) == (30, 7, 365)
    page = owner_a.get(reverse("accounts:organization")).content.decode()
    assert "30 days" in page and "7 days" in page and "365 days" in page


def test_more_than_the_ceiling_is_refused_with_a_form_error(owner_a, org_a, settings):
    settings.CLOSELOOP_WORKFLOW_RUN_RETENTION_DAYS = 90
    settings.CLOSELOOP_DELIVERY_RETENTION_DAYS = 180
    response = post(owner_a, runs=91, deliveries=181)
    assert response.status_code == 200
    page = response.content.decode()
    assert "less than or equal to 90" in page and "less than or equal to 180" in page
    response = post(owner_a, runs=10, payloads=20)
    assert "Payloads cannot be kept longer than their runs." in response.content.decode()
    response = post(owner_a, runs=0)
    assert "greater than or equal to 1" in response.content.decode()
    org_a[0].refresh_from_db()
    assert org_a[0].workflow_run_retention_days is None
    assert org_a[0].delivery_retention_days is None


def test_the_action_checks_too(org_a, settings):
    settings.CLOSELOOP_WORKFLOW_RUN_RETENTION_DAYS = 90
    organization, owner = org_a
    with pytest.raises(actions.AccountsError, match="at most 90 days"):
        actions.set_retention(organization, owner, runs=120, payloads=None, deliveries=None)
    with pytest.raises(actions.AccountsError, match="Payloads can be kept for at most 5 days"):
        actions.set_retention(organization, owner, runs=5, payloads=6, deliveries=None)


def test_a_lowered_ceiling_caps_an_organization_setting(org_a, settings):
    organization, owner = org_a
    settings.CLOSELOOP_WORKFLOW_RUN_RETENTION_DAYS = 90
    actions.set_retention(organization, owner, runs=60, payloads=45, deliveries=None)
    settings.CLOSELOOP_WORKFLOW_RUN_RETENTION_DAYS = 30
    kept = retention.retention_of(organization)
    assert (kept.runs, kept.payloads) == (30, 30)


def test_members_see_retention_but_cannot_change_it(org_a, member_a, client):
    logged_in(client, member_a)
    page = client.get(reverse("accounts:organization")).content.decode()
    assert "Workflow runs" in page and "Save retention" not in page
    assert post(client, runs=1).status_code == 403
    org_a[0].refresh_from_db()
    assert org_a[0].workflow_run_retention_days is None


def test_each_organization_has_its_own_setting(owner_a, org_a, org_b):
    post(owner_a, runs=3)
    org_a[0].refresh_from_db()
    org_b[0].refresh_from_db()
    assert org_a[0].workflow_run_retention_days == 3
    assert org_b[0].workflow_run_retention_days is None
