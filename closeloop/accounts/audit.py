"""The audit log: who did what and when in an organization.

Every app above accounts records through `record(...)`, inside the transaction of the change
when there is one, so that an event exists exactly when its change does. Events are kept for
the organization's audit period (closeloop.accounts.retention), deleted by an hourly job.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from closeloop.accounts import retention
from closeloop.accounts.models import AuditEvent, Membership, Organization

# The actions recorded, with the label the audit page shows.
ACTIONS = {
    "sign_in": "Signed in",
    "token.created": "API token created",
    "token.revoked": "API token revoked",
    "survey.published": "Survey published",
    "survey.shared": "Survey shared",
    "survey.unshared": "Survey sharing removed",
    "survey.transferred": "Ownership transferred",
    "survey.deleted": "Survey deleted",
    "group.changed": "Group changed",
    "member.invited": "Member invited",
    "member.role_changed": "Member role changed",
    "member.removed": "Member removed",
    "member.joined": "Member joined",
    "invitation.revoked": "Invitation withdrawn",
    "organization.changed": "Organization settings changed",
    "workflow.created": "Workflow created",
    "workflow.changed": "Workflow changed",
    "workflow.enabled": "Workflow enabled",
    "workflow.disabled": "Workflow disabled",
    "workflow.deleted": "Workflow deleted",
    "distribution.created": "Distribution created",
    "salesforce.linked": "Salesforce account linked",
    "salesforce.removed": "Salesforce account removed",
    "export.downloaded": "Export downloaded",
    "audit.exported": "Audit log exported",
}

CSV_HEADER = ["created_at", "action", "actor", "target_type", "target_id", "summary"]


def record(organization, actor, action: str, *, target=None, summary: str = "", **extra):
    """Record one event. `target` is a model instance with a public id (its type is the model's
    name), a `(type, id)` pair, or empty; `actor` a user or None (the system)."""
    target_type, target_id = _target(target)
    return AuditEvent.objects.create(
        organization=organization,
        actor=actor if getattr(actor, "pk", None) else None,
        action=action[:64],
        target_type=target_type[:64],
        target_id=str(target_id)[:64],
        summary=(summary or "")[:500],
        extra=extra,
    )


def _target(target) -> tuple[str, str]:
    if not target:
        return "", ""
    if isinstance(target, tuple):
        return str(target[0]), str(target[1])
    if isinstance(target, str):
        return "", target
    identifier = getattr(target, "public_id", None) or getattr(target, "pk", "")
    return target._meta.model_name, str(identifier)


def record_sign_in(sender, request, user, **kwargs) -> None:
    """The user_logged_in receiver: one event in each organization the user belongs to."""
    for membership in Membership.objects.filter(user=user).select_related("organization"):
        record(membership.organization, user, "sign_in", target=("user", user.public_id))


def actors(organization: Organization):
    """The members who may be chosen in the actor filter."""
    return [
        m.user
        for m in Membership.objects.filter(organization=organization)
        .select_related("user")
        .order_by("user__email")
    ]


@dataclass(frozen=True)
class Filters:
    action: str = ""
    actor: str = ""  # a user's public id
    since: date | None = None
    until: date | None = None
    text: str = ""


def events(organization: Organization, filters: Filters = Filters()) -> QuerySet[AuditEvent]:
    """The organization's events, newest first, narrowed by the filters."""
    found = AuditEvent.objects.filter(organization=organization).select_related("actor")
    if filters.action:
        found = found.filter(action=filters.action)
    if filters.actor:
        found = found.filter(actor__public_id=filters.actor)
    if filters.since:
        found = found.filter(created_at__gte=_start_of(filters.since))
    if filters.until:
        found = found.filter(created_at__lt=_start_of(filters.until + timedelta(days=1)))
    if filters.text:
        text = filters.text
        found = found.filter(
            Q(summary__icontains=text)
            | Q(target_id__icontains=text)
            | Q(actor__email__icontains=text)
        )
    return found.order_by("-created_at", "-id")


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def csv_lines(found: Iterable[AuditEvent]) -> Iterator[str]:
    """The events as CSV, a line at a time (for a streaming response)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(row) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        return buffer.getvalue()

    yield line(CSV_HEADER)
    for event in found:
        yield line(
            [
                event.created_at.isoformat(),
                event.action,
                event.actor.email if event.actor else "",
                event.target_type,
                event.target_id,
                _safe_cell(event.summary),
            ]
        )


def _safe_cell(value: str) -> str:
    """No spreadsheet formula injection: a cell never starts with = + - @."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def delete_old_events(now=None) -> int:
    """Delete each organization's events older than its audit period; returns how many."""
    now = now or timezone.now()
    deleted = 0
    for organization in Organization.objects.all():
        cutoff = now - timedelta(days=retention.retention_of(organization).audit)
        count, _ = AuditEvent.objects.filter(
            organization=organization, created_at__lt=cutoff
        ).delete()
        deleted += count
    return deleted
