"""The audit log: recorded events, the admin-only page with filters, the CSV export,
retention per organization and tenant isolation."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from closeloop.accounts import actions, audit, retention
from closeloop.accounts.models import AuditEvent, Role
from closeloop.accounts.tests.conftest import PASSWORD, add_member, logged_in

pytestmark = pytest.mark.django_db


def test_record_keeps_actor_target_summary_and_extra(org_a):
    organization, owner = org_a
    event = audit.record(
        organization, owner, "survey.published", target=("survey", "SV_1"), summary="x", v=2
    )
    event.refresh_from_db()
    assert (event.actor, event.target_type, event.target_id) == (owner, "survey", "SV_1")
    assert event.summary == "x" and event.extra == {"v": 2}


def test_sign_in_is_recorded_in_each_organization_of_the_user(client, org_a, org_b):
    add_member(org_b[0], org_a[1].email, Role.MEMBER)
    response = client.post(
        reverse("accounts:login"), {"username": org_a[1].email, "password": PASSWORD}
    )
    assert response.status_code == 302
    for organization in (org_a[0], org_b[0]):
        event = AuditEvent.objects.get(organization=organization, action="sign_in")
        assert event.actor == org_a[1] and event.target_id == org_a[1].public_id


def test_token_created_and_revoked(owner_a, org_a):
    organization, owner = org_a
    owner_a.post(reverse("accounts:tokens"), {"name": "nightly"})
    token = organization.api_tokens.get()
    owner_a.post(reverse("accounts:revoke_token", args=[token.id]))
    created, revoked = (
        AuditEvent.objects.get(organization=organization, action=name)
        for name in ("token.created", "token.revoked")
    )
    for event in (created, revoked):
        assert event.actor == owner and event.target_id == str(token.id)
        assert "nightly" in event.summary


def test_the_page_is_for_owners_and_admins_only(client, org_a, member_a, admin_a):
    assert logged_in(client, member_a).get(reverse("accounts:audit")).status_code == 403
    assert client.get(reverse("accounts:audit_export")).status_code == 403
    page = logged_in(client, admin_a).get(reverse("accounts:audit"))
    assert page.status_code == 200 and b"Audit log" in page.content
    assert (
        f'href="{reverse("accounts:audit")}"'.encode()
        in client.get(reverse("accounts:members")).content
    )


def test_members_do_not_see_the_link(client, member_a):
    page = logged_in(client, member_a).get(reverse("accounts:members")).content
    assert b"Audit log" not in page


def _events(organization, owner, other):
    now = timezone.now()
    rows = [
        ("survey.published", owner, "Customer feedback published", 0),
        ("workflow.created", other, "Order follow-up", 1),
        ("token.created", owner, "nightly (…abcd)", 10),
    ]
    for action, actor, summary, days_ago in rows:
        event = audit.record(organization, actor, action, summary=summary)
        AuditEvent.objects.filter(pk=event.pk).update(created_at=now - timedelta(days=days_ago))


def test_filters_by_action_actor_dates_and_text(owner_a, org_a, admin_a):
    organization, owner = org_a
    AuditEvent.objects.all().delete()
    _events(organization, owner, admin_a)
    url = reverse("accounts:audit")

    def shown(**query):
        page = owner_a.get(url, query).content.decode()
        return [s for s in ("Customer feedback", "Order follow-up", "nightly") if s in page]

    assert shown() == ["Customer feedback", "Order follow-up", "nightly"]
    assert shown(action="workflow.created") == ["Order follow-up"]
    assert shown(actor=owner.public_id) == ["Customer feedback", "nightly"]
    since = (timezone.now() - timedelta(days=2)).date().isoformat()
    assert shown(since=since) == ["Customer feedback", "Order follow-up"]
    until = (timezone.now() - timedelta(days=5)).date().isoformat()
    assert shown(until=until) == ["nightly"]
    assert shown(text="FOLLOW") == ["Order follow-up"]
    page = owner_a.get(url).content.decode()
    assert page.index("Customer feedback") < page.index("Order follow-up") < page.index("nightly")


def test_the_page_is_paginated(owner_a, org_a):
    organization, owner = org_a
    for n in range(60):
        audit.record(organization, owner, "token.created", summary=f"token {n:02d}")
    first = owner_a.get(reverse("accounts:audit")).content.decode()
    assert "token 59" in first and "token 05" not in first and "Older" in first
    second = owner_a.get(reverse("accounts:audit"), {"page": 2}).content.decode()
    assert "token 05" in second


def test_csv_export_of_the_filtered_events_is_itself_recorded(owner_a, org_a, admin_a):
    organization, owner = org_a
    AuditEvent.objects.all().delete()
    _events(organization, owner, admin_a)
    audit.record(organization, owner, "token.created", summary="=HYPERLINK(1)")
    response = owner_a.get(reverse("accounts:audit_export"), {"action": "token.created"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == audit.CSV_HEADER
    assert [row[5] for row in rows[1:]] == ["'=HYPERLINK(1)", "nightly (…abcd)"]
    assert {row[2] for row in rows[1:]} == {owner.email}
    exported = AuditEvent.objects.get(action="audit.exported")
    assert exported.actor == owner and exported.extra == {"filters": {"action": "token.created"}}


def test_each_admin_sees_only_their_own_organization(client, org_a, org_b):
    audit.record(org_a[0], org_a[1], "survey.published", summary="Acme survey")
    audit.record(org_b[0], org_b[1], "survey.published", summary="Globex survey")
    page = logged_in(client, org_a[1]).get(reverse("accounts:audit")).content.decode()
    assert "Acme survey" in page and "Globex survey" not in page
    exported = b"".join(client.get(reverse("accounts:audit_export")).streaming_content)
    assert b"Acme survey" in exported and b"Globex survey" not in exported
    page = logged_in(client, org_b[1]).get(reverse("accounts:audit")).content.decode()
    assert "Globex survey" in page and "Acme survey" not in page
    # Another organization's member cannot be chosen (nor leak) as an actor filter.
    page = client.get(reverse("accounts:audit"), {"actor": org_a[1].public_id}).content.decode()
    assert "Acme survey" not in page


def test_retention_deletes_only_old_events_of_that_organization(org_a, org_b, settings):
    settings.CLOSELOOP_AUDIT_RETENTION_DAYS = 365
    actions.set_retention(*org_a, runs=None, payloads=None, deliveries=None, audit=30)
    now = timezone.now()
    for organization, user in (org_a, org_b):
        for days, summary in ((40, "old"), (10, "recent")):
            event = audit.record(organization, user, "token.created", summary=summary)
            AuditEvent.objects.filter(pk=event.pk).update(created_at=now - timedelta(days=days))
    assert audit.delete_old_events(now) == 1
    left = set(AuditEvent.objects.values_list("organization__name", "summary"))
    assert ("Acme Corp", "old") not in left and ("Acme Corp", "recent") in left
    assert ("Globex Inc", "old") in left  # 40 days < the server's 365


def test_the_audit_period_is_capped_by_the_server_ceiling(owner_a, org_a, settings):
    settings.CLOSELOOP_AUDIT_RETENTION_DAYS = 100
    organization, owner = org_a
    assert retention.retention_of(organization).audit == 100
    data = {"runs": "", "payloads": "", "deliveries": "", "audit": "101"}
    response = owner_a.post(reverse("accounts:organization_retention"), data)
    assert "less than or equal to 100" in response.content.decode()
    data["audit"] = "20"
    assert owner_a.post(reverse("accounts:organization_retention"), data).status_code == 302
    organization.refresh_from_db()
    assert retention.retention_of(organization).audit == 20
    settings.CLOSELOOP_AUDIT_RETENTION_DAYS = 10
    assert retention.retention_of(organization).audit == 10
    with pytest.raises(actions.AccountsError):
        actions.set_retention(
            organization, owner, runs=None, payloads=None, deliveries=None, audit=11
        )
