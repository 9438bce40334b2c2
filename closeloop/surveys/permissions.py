"""The one place that decides who may do what with a survey, for every entry point: pages,
/api/v1, /API/v3, trigger URLs and downloads (the rules are in permission_rules).

`require(survey, user, permission)` raises NotFound when the user may not see the survey at
all (so its existence does not leak) and NotPermitted, with the sentence saying whom to ask,
when they see it but may not do this. Lists use `visible_surveys`.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from closeloop.accounts.models import Membership, Role
from closeloop.api.errors import NotFound, NotPermitted
from closeloop.surveys.models import Survey, SurveyShare
from closeloop.surveys.permission_rules import Access, Permission, decide

ADMIN_ROLES = (Role.OWNER, Role.ADMIN)


def _role(organization_id: int, user) -> str | None:
    """The user's role in the organization, None for a non-member (cached on the user object
    for the request: a page asks several times)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    cache = user.__dict__.setdefault("closeloop_role_in", {})
    if organization_id not in cache:
        cache[organization_id] = (
            Membership.objects.filter(organization_id=organization_id, user=user)
            .values_list("role", flat=True)
            .first()
        )
    return cache[organization_id]


def is_admin(organization_id: int, user) -> bool:
    """An owner or admin of the organization."""
    return _role(organization_id, user) in ADMIN_ROLES


def is_member(organization_id: int, user) -> bool:
    return _role(organization_id, user) is not None


def owner_name(survey: Survey) -> str:
    owner = survey.owner
    return (owner.get_full_name() or owner.email) if owner is not None else "an administrator"


def _reaching(user) -> Q:
    """A Q on SurveyShare: the shares with the user, directly or through one of their groups."""
    return Q(user=user) | Q(group__members=user)


def _shares_of(survey: Survey, user) -> QuerySet[SurveyShare]:
    return SurveyShare.objects.filter(survey=survey).filter(_reaching(user))


def granted_permissions(survey: Survey, user) -> set[str]:
    """What the survey's shares give the user, directly and through their groups."""
    granted: set[str] = set()
    for share in _shares_of(survey, user).only(*SurveyShare.PERMISSION_FIELDS):
        granted.update(share.permission_names)
    return granted


def access(survey: Survey, user) -> Access:
    """What `user` may do with `survey`, with the reason for each refusal."""
    name = owner_name(survey)
    if not is_member(survey.organization_id, user):
        return decide(is_admin=False, is_owner=False, granted=(), owner_name=name)
    return decide(
        is_admin=is_admin(survey.organization_id, user),
        is_owner=survey.owner_id is not None and survey.owner_id == user.pk,
        granted=granted_permissions(survey, user),
        owner_name=name,
    )


def accesses(organization_id: int, surveys, user) -> dict[int, Access]:
    """access() for many surveys of one organization at once (the survey list), by survey id."""
    surveys = list(surveys)
    member = is_member(organization_id, user)
    admin = member and is_admin(organization_id, user)
    granted: dict[int, set[str]] = {}
    if member and not admin:
        shares = SurveyShare.objects.filter(survey__in=[survey.pk for survey in surveys]).filter(
            _reaching(user)
        )
        for share in shares:
            granted.setdefault(share.survey_id, set()).update(share.permission_names)
    return {
        survey.pk: decide(
            is_admin=admin,
            is_owner=member and survey.owner_id is not None and survey.owner_id == user.pk,
            granted=granted.get(survey.pk, ()),
            owner_name=owner_name(survey),
        )
        for survey in surveys
    }


def require(
    survey: Survey | None, user, *permissions: Permission, missing: str = "No such survey."
) -> Access:
    """The user's access, if it allows one of `permissions`; NotFound (with `missing`, the
    message of a survey that does not exist) or NotPermitted, with the reason for the first
    permission, otherwise."""
    if survey is None:
        raise NotFound(missing)
    found = access(survey, user)
    if not found.visible:
        raise NotFound(missing)
    if not any(found.allows(permission) for permission in permissions):
        raise NotPermitted(found.why_not(permissions[0]))
    return found


def require_sharing(survey: Survey, user) -> Access:
    found = access(survey, user)
    if not found.visible:
        raise NotFound("No such survey.")
    if not found.can_share:
        raise NotPermitted(found.why_not_share())
    return found


def visible_filter(organization_id: int, user) -> Q:
    """A Q on Survey: the surveys of the organization the user may see (all, for admins)."""
    return _surveys_filter(organization_id, user, {})


def permitted_filter(organization_id: int, user, permission: Permission) -> Q:
    """A Q on Survey: the surveys the user may do `permission` with."""
    return _surveys_filter(organization_id, user, {f"can_{permission.value}": True})


def _surveys_filter(organization_id: int, user, share_fields: dict) -> Q:
    """The organization's surveys the user owns or has a share of with `share_fields` (all
    of them for an admin, none for a non-member)."""
    if is_admin(organization_id, user):
        return Q(organization_id=organization_id)
    if not is_member(organization_id, user):
        return Q(pk__in=[])
    shared = SurveyShare.objects.filter(survey=OuterRef("pk"), **share_fields).filter(
        _reaching(user)
    )
    return Q(organization_id=organization_id) & (Q(owner=user) | Q(Exists(shared)))


def visible_surveys(organization, user) -> QuerySet[Survey]:
    return Survey.objects.filter(visible_filter(organization.pk, user))
