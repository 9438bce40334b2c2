"""The contact's survey responses on the directory's touchpoint timeline
(closeloop.directory.touchpoints)."""

from __future__ import annotations

from django.db.models.functions import Coalesce
from django.urls import reverse

from closeloop.directory.touchpoints import Touchpoint, provider
from closeloop.surveys.models import Response

STATUS_LABELS = {"finished": "Finished", "partial": "Partial", "in_progress": "In progress"}


@provider("response")
def responses(organization, contact, limit: int) -> list[Touchpoint]:
    """Newest first by when recorded (or started, while still in progress)."""
    rows = (
        Response.objects.filter(organization=organization, contact=contact)
        .select_related("survey")
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
