"""Publishing a survey and exporting its responses are in the audit log."""

from __future__ import annotations

import pytest
from django.urls import reverse

from closeloop.accounts.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_publish_and_export_are_recorded(logged_in_a, org_a, survey_a):
    organization, user = org_a
    published = AuditEvent.objects.get(organization=organization, action="survey.published")
    assert published.actor == user
    assert (published.target_type, published.target_id) == ("survey", survey_a.public_id)
    assert published.extra == {"version": 1}

    response = logged_in_a.get(reverse("surveys:export", args=[survey_a.public_id, "csv"]))
    assert response.status_code == 200
    exported = AuditEvent.objects.get(organization=organization, action="export.downloaded")
    assert exported.actor == user and exported.target_id == survey_a.public_id
    assert exported.extra == {"format": "csv"}
