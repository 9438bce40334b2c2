"""Who may see and change a workflow, its runs and its trigger URL; built on the survey
permissions (closeloop.surveys.permissions), the one place that decides.

A survey's workflow needs the Manage workflows permission on that survey. An organization
workflow (no survey) is its owner's and the organization admins'. Anyone else gets a 404
for a workflow they may not see, and a 403 saying whom to ask for one they see but may not
manage.
"""

from __future__ import annotations

from django.db.models import Q

from closeloop.api.errors import NotFound, NotPermitted
from closeloop.surveys import permissions as survey_permissions
from closeloop.surveys.models import Survey
from closeloop.surveys.permission_rules import Permission
from closeloop.workflows.models import Workflow

MANAGE = Permission.MANAGE_WORKFLOWS


def why_not_manage(workflow: Workflow, user) -> str | None:
    """None when `user` may not even see the workflow; "" when they may manage it; otherwise
    the sentence saying whom to ask."""
    if workflow.survey_id is not None:
        access = survey_permissions.access(workflow.survey, user)
        if not access.visible:
            return None
        return access.why_not(MANAGE)
    if not survey_permissions.is_member(workflow.organization_id, user):
        return None
    if workflow.owner_id == getattr(user, "pk", None):
        return ""
    if survey_permissions.is_admin(workflow.organization_id, user):
        return ""
    return None


def may_manage(workflow: Workflow, user) -> bool:
    return why_not_manage(workflow, user) == ""


def require_workflow(workflow: Workflow | None, user) -> Workflow:
    """The workflow, if `user` may manage it; NotFound or NotPermitted otherwise."""
    if workflow is None:
        raise NotFound("No such workflow.")
    reason = why_not_manage(workflow, user)
    if reason is None:
        raise NotFound("No such workflow.")
    if reason:
        raise NotPermitted(reason)
    return workflow


def manageable_filter(organization_id: int, user, prefix: str = "") -> Q:
    """A Q on Workflow (or, with `prefix="workflow__"`, on a model pointing at one): the
    workflows of the organization `user` may manage."""
    if survey_permissions.is_admin(organization_id, user):
        return Q(**{f"{prefix}organization_id": organization_id})
    if not survey_permissions.is_member(organization_id, user):
        return Q(pk__in=[])
    surveys = Survey.objects.filter(
        survey_permissions.permitted_filter(organization_id, user, MANAGE)
    ).values("pk")
    return Q(**{f"{prefix}organization_id": organization_id}) & (
        Q(**{f"{prefix}survey__in": surveys})
        | Q(**{f"{prefix}survey__isnull": True, f"{prefix}owner": user})
    )
