"""The contact's survey responses on the directory's touchpoint timeline
(closeloop.directory.touchpoints)."""

from __future__ import annotations

from django.db.models.functions import Coalesce
from django.urls import reverse

from closeloop.directory.touchpoints import Touchpoint, provider
from closeloop.surveys.models import Response, Survey
from closeloop.surveys.permission_rules import Permission
from closeloop.surveys.permissions import permitted_filter

STATUS_LABELS = {"finished": "Finished", "partial": "Partial", "in_progress": "In progress"}


@provider("response")
def responses(organization, contact, limit: int, viewer=None) -> list[Touchpoint]:
    """Newest first by when recorded (or started, while still in progress); for a viewer, only
    of the surveys whose responses they may view."""
    rows = Response.objects.filter(organization=organization, contact=contact)
    if viewer is not None:
        allowed = permitted_filter(organization.pk, viewer, Permission.VIEW_RESPONSES)
        rows = rows.filter(survey__in=Survey.objects.filter(allowed).values("pk"))
    rows = (
        rows.select_related("survey")
        .annotate(timeline_at=Coalesce("finished_at", "started_at"))
        .order_by("-timeline_at", "-id")[:limit]
    )
    return [_touchpoint(response) for response in rows]


def _touchpoint(response: Response) -> Touchpoint:
    detail = STATUS_LABELS[response.status]
    if response.status != "finished":
        detail += f" · {response.progress}% answered"
    return Touchpoint(
        kind="response",
        at=response.timeline_at,
        title=response.survey.name,
        detail=detail,
        link=reverse("surveys:response", args=[response.survey.public_id, response.public_id]),
    )
