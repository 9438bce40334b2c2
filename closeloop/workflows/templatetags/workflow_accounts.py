"""Warnings of linked accounts a workflow's owner may not use (after an ownership transfer),
linking to where they are re-pointed (closeloop.workflows.transfer):

    {% load workflow_accounts %}
    {% stale_accounts workflow as stale %}        the editor: this workflow's
    {% workflows_needing_repoint as needing %}    the list: those the viewer may re-point
"""

from django import template

from closeloop.workflows import transfer

register = template.Library()


@register.simple_tag
def stale_accounts(workflow) -> list[transfer.StaleUse]:
    return transfer.stale_uses([workflow])


@register.simple_tag(takes_context=True)
def workflows_needing_repoint(context) -> list[transfer.StaleUse]:
    request = context.get("request")
    organization = getattr(request, "organization", None)
    if organization is None:
        return []
    return transfer.workflows_needing_repoint(organization, request.user)
