"""`{% load survey_access %}{% survey_access survey as access %}`: what the signed-in user may
do with a survey (closeloop.surveys.permission_rules.Access), so that a page can show a
button as unavailable with the reason instead of failing after the click.

`access.allows("distribute")`, `access.why_not("distribute")` are reachable in templates as
`access|may:"distribute"` and `access|why_not:"distribute"`.
"""

from django import template

from closeloop.surveys import permissions
from closeloop.surveys.permission_rules import Access, Permission

register = template.Library()


@register.simple_tag(takes_context=True)
def survey_access(context, survey) -> Access:
    request = context.get("request")
    return permissions.access(survey, getattr(request, "user", None))


@register.filter
def may(access: Access, permission: str) -> bool:
    return access.allows(Permission(permission))


@register.filter
def why_not(access: Access, permission: str) -> str:
    return access.why_not(Permission(permission))
