"""Survey responses retention, per organization (closeloop.accounts.retention).

An organization may set how long recorded responses are kept (Settings → Organization →
Retention, `response_retention_days`; empty: kept forever, the server sets no ceiling). The
hourly job deletes, in batches, every recorded response (finished, or closed as partial) whose
`finished_at` is older than that, with its answers and embedded data. Responses still in
progress are not touched: once closed as partial they are recorded and their period starts.
Exports built earlier are files of their own and are not rewritten.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from closeloop.accounts.models import Organization
from closeloop.surveys.models import Response

BATCH = 1000


def apply(now: datetime | None = None, batch: int = BATCH) -> int:
    """The hourly clean-up: every organization with a response period; how many deleted."""
    now = now or timezone.now()
    deleted = 0
    chosen = Organization.objects.filter(response_retention_days__isnull=False).order_by("pk")
    for organization in chosen:
        before = now - timedelta(days=organization.response_retention_days)
        deleted += delete_old_responses(organization, before, batch)
    return deleted


def delete_old_responses(organization, before: datetime, batch: int = BATCH) -> int:
    """Delete the organization's responses recorded before `before`, `batch` rows a
    transaction (short locks on a busy table); how many."""
    old = Response.objects.recorded().filter(organization=organization, finished_at__lt=before)
    deleted_total = 0
    while True:
        ids = list(old.order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted_total
        with transaction.atomic():
            _deleted, per_model = Response.objects.filter(pk__in=ids).delete()
        deleted_total += per_model.get(Response._meta.label, 0)
