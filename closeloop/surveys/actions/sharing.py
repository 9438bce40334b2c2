"""Sharing a survey with users and groups of its organization, and handing it to a new owner.

Only the owner and the organization's admins share (closeloop.surveys.permissions checks it
before calling these); each change is in the audit log.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from closeloop.accounts import audit
from closeloop.accounts.models import MemberGroup, Membership
from closeloop.surveys.models import Survey, SurveyShare
from closeloop.surveys.permission_rules import Permission, parse_permissions


class SharingError(ValueError):
    """A share that cannot be made, with the sentence to show."""


def _check_in_organization(survey: Survey, user=None, group=None) -> None:
    if user is not None:
        if not Membership.objects.filter(
            organization_id=survey.organization_id, user=user
        ).exists():
            raise SharingError(f"{user.email} is not a member of this organization.")
        if user.pk == survey.owner_id:
            raise SharingError(f"{user.email} owns this survey and may already do everything.")
    if group is not None and group.organization_id != survey.organization_id:
        raise SharingError("That group belongs to another organization.")
    if (user is None) == (group is None):
        raise SharingError("Share with one user or one group.")


def _summary(target, names: list[str]) -> str:
    granted = ", ".join(Permission(name).label for name in names) or "nothing"
    return f"with {target}: {granted}"


def share_survey(
    survey: Survey,
    by,
    *,
    user=None,
    group: MemberGroup | None = None,
    permissions: Iterable[str] = (),
) -> SurveyShare | None:
    """Give `user` or `group` exactly `permissions` on the survey (none removes the share)."""
    _check_in_organization(survey, user, group)
    chosen = parse_permissions(permissions)
    if not chosen:
        unshare_survey(survey, by, user=user, group=group)
        return None
    values = {f"can_{name}": name in chosen for name in _names()}
    target = user.email if user is not None else f"group {group.name}"
    with transaction.atomic():
        share, _created = SurveyShare.objects.update_or_create(
            survey=survey,
            user=user,
            group=group,
            defaults={**values, "shared_by": by, "modified_at": timezone.now()},
        )
        audit.record(
            survey.organization,
            by,
            "survey.shared",
            target=survey,
            summary=_summary(target, share.permission_names),
            permissions=share.permission_names,
        )
    return share


def unshare_survey(survey: Survey, by, *, user=None, group=None) -> bool:
    target = user.email if user is not None else f"group {getattr(group, 'name', '')}"
    with transaction.atomic():
        deleted, _ = SurveyShare.objects.filter(survey=survey, user=user, group=group).delete()
        if deleted:
            audit.record(
                survey.organization, by, "survey.unshared", target=survey, summary=f"with {target}"
            )
    return bool(deleted)


def set_owner(survey: Survey, new_owner, by) -> Survey:
    """Make `new_owner` (a member) the owner; their own share, now redundant, goes. The
    previous owner keeps nothing unless shared with again. Callers run it in the transaction
    that moves the survey's workflows (closeloop.workflows.transfer)."""
    if not Membership.objects.filter(
        organization_id=survey.organization_id, user=new_owner
    ).exists():
        raise SharingError(f"{new_owner.email} is not a member of this organization.")
    previous = survey.owner
    survey.owner = new_owner
    survey.modified_at = timezone.now()
    survey.save(update_fields=["owner", "modified_at"])
    SurveyShare.objects.filter(survey=survey, user=new_owner).delete()
    audit.record(
        survey.organization,
        by,
        "survey.transferred",
        target=survey,
        summary=f"from {getattr(previous, 'email', 'nobody')} to {new_owner.email}",
    )
    return survey


def _names() -> list[str]:
    return [field.removeprefix("can_") for field in SurveyShare.PERMISSION_FIELDS]
