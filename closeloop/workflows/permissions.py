"""Who may see and change a workflow, its runs and its trigger URL; built on the survey
permissions (closeloop.surveys.permissions), the one place that decides.

A survey's workflow needs the Manage workflows permission on that survey. An organization
workflow (no survey) is its owner's and the organization admins'. Anyone else gets a 404
for a workflow they may not see, and a 403 saying whom to ask for one they see but may not
manage.

Every entry point asks here: the pages and the Salesforce and Segment pages
(`require_workflow`, lists and reporting through `manageable_filter`, in SQL), /api/v1 with
the token's user, and the JSON event's trigger URL (a workflow its token's user may not
manage is not reachable: the 404 of an unknown URL). Putting a workflow on a survey needs
Manage workflows on that survey (`require_survey_choice`).
"""

from __future__ import annotations

from django.db.models import Q

from closeloop.api.errors import NotFound, NotPermitted
from closeloop.surveys import permissions as survey_permissions
from closeloop.surveys.models import Survey
from closeloop.surveys.permission_rules import Permission
from closeloop.workflows.models import BulkReplay, Workflow

MANAGE = Permission.MANAGE_WORKFLOWS
NO_SUCH_WORKFLOW = "No such workflow."
ORGANIZATION_WORKFLOW_REFUSAL = (
    "Only the workflow's owner or an administrator of the organization can make it an "
    "organization workflow (one without a survey)."
)


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
    if _is_owner(workflow, user):
        return ""
    if survey_permissions.is_admin(workflow.organization_id, user):
        return ""
    return None


def _is_owner(workflow: Workflow, user) -> bool:
    return workflow.owner_id is not None and workflow.owner_id == getattr(user, "pk", None)


def may_manage(workflow: Workflow, user) -> bool:
    return why_not_manage(workflow, user) == ""


def require_workflow(
    workflow: Workflow | None, user, *, not_found: str = NO_SUCH_WORKFLOW
) -> Workflow:
    """The workflow, if `user` may manage it; NotFound (with `not_found`, the message of an
    unknown id, so that a hidden workflow reads the same) or NotPermitted otherwise."""
    if workflow is None:
        raise NotFound(not_found)
    reason = why_not_manage(workflow, user)
    if reason is None:
        raise NotFound(not_found)
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


def manageable_surveys(organization, user):
    """The surveys of the organization `user` may put a workflow on (the survey pickers)."""
    return Survey.objects.filter(
        survey_permissions.permitted_filter(organization.pk, user, MANAGE)
    ).order_by("-modified_at", "-id")


def require_survey_choice(survey: Survey | None, user) -> Survey | None:
    """A survey chosen for a workflow, if `user` may manage its workflows: NotFound when they
    may not see it (callers answer as for an unknown survey), NotPermitted with the reason
    when they see it but may not manage its workflows. None (no survey) passes."""
    if survey is None:
        return None
    survey_permissions.require(survey, user, MANAGE)
    return survey


def may_change_survey(workflow: Workflow, user, survey: Survey | None) -> None:
    """Moving a workflow to `survey` (None: making it an organization workflow) needs Manage
    workflows on the new survey, or, for an organization workflow, being its owner or an
    administrator (it would be theirs alone). Raises as require_survey_choice does."""
    if survey is not None:
        if survey.pk != workflow.survey_id:
            require_survey_choice(survey, user)
        return
    if workflow.survey_id is None:
        return
    if not (
        _is_owner(workflow, user) or survey_permissions.is_admin(workflow.organization_id, user)
    ):
        raise NotPermitted(ORGANIZATION_WORKFLOW_REFUSAL)


def bulk_replay_filter(organization_id: int, user) -> Q:
    """A Q on BulkReplay: an admin sees every bulk replay of the organization, anyone else
    the ones they started."""
    if survey_permissions.is_admin(organization_id, user):
        return Q(organization_id=organization_id)
    if not survey_permissions.is_member(organization_id, user):
        return Q(pk__in=[])
    return Q(organization_id=organization_id, created_by=user)


def require_bulk_replay(bulk: BulkReplay | None, user) -> BulkReplay:
    if bulk is None or not (
        survey_permissions.is_admin(bulk.organization_id, user)
        or (
            bulk.created_by_id is not None
            and bulk.created_by_id == getattr(user, "pk", None)
            and survey_permissions.is_member(bulk.organization_id, user)
        )
    ):
        raise NotFound("No such bulk replay.")
    return bulk
