"""`{% load survey_access %}{% survey_access survey as access %}`: what the signed-in user may
do with a survey (closeloop.surveys.permission_rules.Access), so that a page can show a
button as unavailable with the reason instead of failing after the click.

`access.allows("distribute")`, `access.why_not("distribute")` are reachable in templates as
`access|may:"distribute"` and `access|why_not:"distribute"`.
"""

from django import template

from closeloop.surveys import permissions
from closeloop.surveys.permission_rules import Access, Basis, Permission

register = template.Library()


@register.simple_tag(takes_context=True)
def survey_access(context, survey) -> Access:
    request = context.get("request")
    user = getattr(request, "user", None)
    if request is None:
        return permissions.access(survey, user)
    # One page asks several times (header, tabs, buttons): decide once per survey and owner.
    cache = request.__dict__.setdefault("closeloop_survey_access", {})
    key = (survey.pk, survey.owner_id)
    if key not in cache:
        cache[key] = permissions.access(survey, user)
    return cache[key]


@register.filter
def may(access: Access, permission: str) -> bool:
    return access.allows(Permission(permission))


@register.filter
def why_not(access: Access, permission: str) -> str:
    return access.why_not(Permission(permission))


@register.filter
def access_summary(access: Access) -> str:
    """ "Owner", "Admin" or "Shared: View results, Edit survey" for the survey list."""
    if access.basis == Basis.OWNER:
        return "Owner"
    if access.basis == Basis.ADMIN:
        return "Admin"
    if access.basis == Basis.SHARED:
        labels = [item.label for item in Permission if access.allows(item)]
        return "Shared: " + ", ".join(labels)
    return "No access"
