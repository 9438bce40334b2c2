"""Who may see and create distributions, for the pages, /API/v3 and the Distribute survey
task; built on closeloop.surveys.permissions, the one place that decides.

Creating a distribution (an invitation, a reminder or thank-you, an SMS invitation or a
two-way SMS survey) needs Distribute on its survey. Seeing distributions (the lists, one
distribution's page, its history and its CSV) needs Distribute or View results. A survey the
user does not see at all is a NotFound, so that its existence does not leak; one they see but
may not do this with is a NotPermitted saying whom to ask. The message library and the
verified domains are the organization's, not a survey's: they need no survey permission.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from closeloop.surveys import permissions as survey_permissions
from closeloop.surveys.models import Survey, SurveyStatus
from closeloop.surveys.permission_rules import Access, Permission

DISTRIBUTE = Permission.DISTRIBUTE
# Any one of them lets a user see a survey's distributions.
SEE = (Permission.DISTRIBUTE, Permission.VIEW_RESULTS)


def require_seeing(survey: Survey | None, user, *, missing: str = "No such survey.") -> Access:
    """The user's access to `survey`, if it lets them see its distributions. `missing` is the
    NotFound message, the same for a survey that does not exist and one not shown to them."""
    return survey_permissions.require(
        survey, user, Permission.VIEW_RESULTS, Permission.DISTRIBUTE, missing=missing
    )


def require_distributing(
    survey: Survey | None, user, *, missing: str = "No such survey."
) -> Access:
    """The user's access to `survey`, if it lets them distribute it."""
    return survey_permissions.require(survey, user, DISTRIBUTE, missing=missing)


def seeing_filter(organization_id: int, user) -> Q:
    """A Q on Survey: the surveys whose distributions the user may see."""
    found = Q(pk__in=[])
    for permission in SEE:
        found |= survey_permissions.permitted_filter(organization_id, user, permission)
    return found


def distributing_filter(organization_id: int, user) -> Q:
    """A Q on Survey: the surveys the user may distribute."""
    return survey_permissions.permitted_filter(organization_id, user, DISTRIBUTE)


def sees_everything(organization_id: int, user) -> bool:
    """An owner or admin of the organization: no survey filter is needed."""
    return survey_permissions.is_admin(organization_id, user)


def distributable_surveys(organization, user) -> QuerySet[Survey]:
    """The organization's active surveys the user may distribute, last modified first."""
    return Survey.objects.filter(
        distributing_filter(organization.pk, user), status=SurveyStatus.ACTIVE
    ).order_by("-modified_at", "-id")


def may_distribute_any(organization, user) -> bool:
    """Whether a "New distribution" button leads anywhere for this user."""
    if sees_everything(organization.pk, user):
        return True
    return Survey.objects.filter(distributing_filter(organization.pk, user)).exists()
