"""Creating a distribution and downloading its history are in the audit log."""

from __future__ import annotations

import pytest

from closeloop.accounts.models import AuditEvent
from closeloop.distributions import actions
from closeloop.distributions.tests.conftest import make_list

pytestmark = pytest.mark.django_db


def test_created_distribution_and_history_download_are_recorded(client, org_a, survey_a):
    organization, user = org_a
    mailing_list, _contacts = make_list(organization, 1)
    distribution = actions.create_distribution(
        organization, survey_a, owner=user, mailing_list=mailing_list, subject="Hi", text_body="x"
    )
    created = AuditEvent.objects.get(organization=organization, action="distribution.created")
    assert created.actor == user
    assert (created.target_type, created.target_id) == ("distribution", distribution.public_id)

    client.force_login(user)
    response = client.get(f"/distributions/{distribution.public_id}/history.csv")
    assert response.status_code == 200
    b"".join(response.streaming_content)
    downloaded = AuditEvent.objects.get(organization=organization, action="export.downloaded")
    assert downloaded.actor == user and downloaded.target_id == distribution.public_id
