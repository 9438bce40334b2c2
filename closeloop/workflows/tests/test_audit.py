"""Creating, changing, enabling, disabling and deleting a workflow are in the audit log."""

from __future__ import annotations

import pytest

from closeloop.accounts.models import AuditEvent
from closeloop.workflows import actions
from closeloop.workflows.tests.conftest import make_workflow

pytestmark = pytest.mark.django_db


def actions_of(organization):
    found = AuditEvent.objects.filter(organization=organization, action__startswith="workflow.")
    return list(found.order_by("id").values_list("action", "actor", "target_id", "summary"))


def test_each_change_is_recorded_with_its_revision_summary(org_a):
    organization, user = org_a
    workflow = make_workflow(organization, user)
    public_id = workflow.public_id
    actions.update_workflow(workflow, user, {"name": "Renamed"})
    actions.set_enabled(workflow, user, False)
    actions.set_enabled(workflow, user, True)
    actions.update_workflow(workflow, user, {"name": "Renamed"})  # no change, no event
    workflow.refresh_from_db()
    actions.delete_workflow(workflow, user)
    assert actions_of(organization) == [
        ("workflow.created", user.id, public_id, "Order follow-up"),
        ("workflow.changed", user.id, public_id, "Renamed: Changed name (revision 2)"),
        ("workflow.disabled", user.id, public_id, "Renamed: Changed enabled (revision 3)"),
        ("workflow.enabled", user.id, public_id, "Renamed: Changed enabled (revision 4)"),
        ("workflow.deleted", user.id, public_id, "Renamed"),
    ]
