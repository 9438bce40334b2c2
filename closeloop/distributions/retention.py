"""Deliveries retention, per organization (closeloop.accounts.retention).

The per-contact history (Delivery rows, with a two-way SMS session's state) of a finished
distribution is deleted once it is older than the organization's delivery period, at most the
server's ceiling (CLOSELOOP_DELIVERY_RETENTION_DAYS; none by default, when deliveries are kept
unless an organization sets a period). A distribution that is still sending, that has a
reminder or thank-you still to send, or whose two-way SMS survey is still open keeps its
deliveries; the Distribution row itself (its message, its recipient count) stays, and the
contacts' message log, which frequency rules read, is not touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from closeloop.accounts.models import Organization
from closeloop.accounts.retention import delivery_ceiling_days, retention_of
from closeloop.distributions.models import (
    Delivery,
    Distribution,
    DistributionStatus,
    SmsSessionStatus,
)

BATCH = 1000
FINISHED = (DistributionStatus.DONE, DistributionStatus.FAILED)
OPEN = (DistributionStatus.SCHEDULED, DistributionStatus.SENDING)


@dataclass(frozen=True)
class Cleaned:
    deliveries_deleted: int = 0


def apply(now: datetime | None = None, batch: int = BATCH) -> Cleaned:
    """The hourly clean-up: every organization's delivery period in force."""
    now = now or timezone.now()
    ceiling = delivery_ceiling_days()
    deleted = 0
    if ceiling is not None:
        deleted += delete_old_deliveries(None, now - timedelta(days=ceiling), batch)
    chosen = Organization.objects.filter(delivery_retention_days__isnull=False)
    if ceiling is not None:
        chosen = chosen.filter(delivery_retention_days__lt=ceiling)
    for organization in chosen.order_by("pk"):
        days = retention_of(organization).deliveries
        if days is not None:
            deleted += delete_old_deliveries(organization, now - timedelta(days=days), batch)
    return Cleaned(deleted)


def delete_old_deliveries(organization, before: datetime, batch: int = BATCH) -> int:
    """Delete the deliveries of finished distributions created before `before` (of one
    organization, or of every one); how many."""
    distributions = Distribution.objects.filter(created_at__lt=before, status__in=FINISHED)
    if organization is not None:
        distributions = distributions.filter(organization=organization)
    distributions = distributions.exclude(followups__status__in=OPEN)
    old = Delivery.objects.filter(
        distribution__in=distributions.values("pk"), created_at__lt=before
    ).exclude(Q(sms_session__status=SmsSessionStatus.OPEN))
    deleted_total = 0
    while True:
        ids = list(old.values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted_total
        with transaction.atomic():
            _deleted, per_model = Delivery.objects.filter(pk__in=ids).delete()
        deleted_total += per_model.get(Delivery._meta.label, 0)
