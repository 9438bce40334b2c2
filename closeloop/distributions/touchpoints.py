"""The contact's deliveries on the directory's touchpoint timeline (closeloop.directory.touchpoints)."""

from __future__ import annotations

from django.urls import reverse

from closeloop.directory.touchpoints import Touchpoint, provider
from closeloop.distributions import permissions, queries
from closeloop.surveys.models import Survey


@provider("delivery")
def deliveries(organization, contact, limit: int, viewer=None) -> list[Touchpoint]:
    """Newest first by creation (the (contact, -created_at) index); shown at the time sent;
    for a viewer, only of the surveys whose distributions they may see."""
    rows = queries.deliveries_of_contact(organization, contact)
    if viewer is not None and not permissions.sees_everything(organization.pk, viewer):
        surveys = Survey.objects.filter(permissions.seeing_filter(organization.pk, viewer))
        rows = rows.filter(distribution__survey__in=surveys.values("pk"))
    rows = rows[:limit]
    return [_touchpoint(delivery) for delivery in rows]


def _touchpoint(delivery) -> Touchpoint:
    distribution = delivery.distribution
    detail = f"{distribution.get_channel_display()} · {delivery.get_status_display()}"
    if delivery.reason:
        detail += f" ({delivery.reason})"
    return Touchpoint(
        kind="delivery",
        at=delivery.created_at,
        title=distribution.survey.name,
        detail=detail,
        link=reverse("distributions:detail", args=[distribution.public_id]),
    )
