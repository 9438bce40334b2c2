"""Linking and removing a Salesforce account are in the audit log."""

from __future__ import annotations

import pytest

from closeloop.accounts.models import AuditEvent
from closeloop.integrations.salesforce.models import ConnectedAccount
from closeloop.integrations.salesforce.tests.test_accounts import link_account, signed_in

pytestmark = pytest.mark.django_db


def test_link_and_remove_are_recorded(client, org_a, fake_salesforce):
    organization, user = org_a
    link_account(signed_in(client, user))
    account = ConnectedAccount.objects.get()
    client.post(f"/extensions/salesforce/{account.public_id}/remove/")
    found = AuditEvent.objects.filter(organization=organization, action__startswith="salesforce.")
    assert list(found.order_by("id").values_list("action", "actor", "target_id")) == [
        ("salesforce.linked", user.id, account.public_id),
        ("salesforce.removed", user.id, account.public_id),
    ]
    assert "Support org" in found.first().summary
