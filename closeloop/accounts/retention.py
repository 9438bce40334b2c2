"""How long an organization's data is kept: its own setting, never beyond the server's ceiling.

Three periods, each set on the organization settings page (empty: the server's ceiling):

- workflow runs: finished runs older than this are deleted (ceiling
  CLOSELOOP_WORKFLOW_RUN_RETENTION_DAYS, 90 days by default);
- payloads: the event payload, mapped fields and task input/output of finished runs older
  than this are erased while the run itself stays in reporting (at most the run period);
- deliveries: the per-contact distribution history of finished distributions older than this
  is deleted (ceiling CLOSELOOP_DELIVERY_RETENTION_DAYS; 0, the default, sets none: without
  an organization setting deliveries are kept);
- audit log: events older than this are deleted (ceiling CLOSELOOP_AUDIT_RETENTION_DAYS,
  365 days by default);
- survey responses: recorded responses (finished or closed as partial) older than this are
  deleted by the surveys app (closeloop.surveys.retention); no server ceiling: without an
  organization setting responses are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

DEFAULT_RUN_CEILING_DAYS = 90
DEFAULT_AUDIT_CEILING_DAYS = 365
# The form's upper bound when the server sets no ceiling for deliveries (ten years).
UNBOUNDED_MAX_DAYS = 3650


def run_ceiling_days() -> int:
    """The server's ceiling for workflow runs (and so for their payloads)."""
    days = int(getattr(settings, "CLOSELOOP_WORKFLOW_RUN_RETENTION_DAYS", DEFAULT_RUN_CEILING_DAYS))
    return max(1, days)


def audit_ceiling_days() -> int:
    """The server's ceiling for the audit log."""
    days = int(getattr(settings, "CLOSELOOP_AUDIT_RETENTION_DAYS", DEFAULT_AUDIT_CEILING_DAYS))
    return max(1, days)


def delivery_ceiling_days() -> int | None:
    """The server's ceiling for deliveries; None when it sets none."""
    days = int(getattr(settings, "CLOSELOOP_DELIVERY_RETENTION_DAYS", 0) or 0)
    return days if days > 0 else None


def _capped(chosen: int | None, ceiling: int | None) -> int | None:
    if chosen is None:
        return ceiling
    return chosen if ceiling is None else min(chosen, ceiling)


@dataclass(frozen=True)
class Retention:
    """The periods in force for one organization, in days (None: kept without a limit)."""

    runs: int
    payloads: int
    deliveries: int | None
    run_ceiling: int
    delivery_ceiling: int | None
    runs_chosen: bool  # the organization set the run period (not the server's ceiling)
    payloads_chosen: bool
    audit: int = DEFAULT_AUDIT_CEILING_DAYS
    audit_ceiling: int = DEFAULT_AUDIT_CEILING_DAYS
    responses: int | None = None  # None: kept

    @property
    def payloads_shorter(self) -> bool:
        return self.payloads < self.runs


def retention_of(organization) -> Retention:
    run_ceiling = run_ceiling_days()
    delivery_ceiling = delivery_ceiling_days()
    runs = _capped(organization.workflow_run_retention_days, run_ceiling)
    payloads = _capped(organization.workflow_payload_retention_days, runs)
    return Retention(
        runs=runs,
        payloads=payloads,
        deliveries=_capped(organization.delivery_retention_days, delivery_ceiling),
        run_ceiling=run_ceiling,
        delivery_ceiling=delivery_ceiling,
        runs_chosen=runs < run_ceiling,
        payloads_chosen=payloads < runs,
        audit=_capped(organization.audit_retention_days, audit_ceiling_days()),
        audit_ceiling=audit_ceiling_days(),
        responses=organization.response_retention_days,
    )
