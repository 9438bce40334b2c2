"""`{% load workflow_accounts %}{% stale_accounts workflow as stale %}`: the linked accounts a
workflow uses that its owner may not (after an ownership transfer), so that its pages warn
and link to where they are re-pointed (closeloop.workflows.transfer)."""

from django import template

from closeloop.workflows import transfer

register = template.Library()


@register.simple_tag
def stale_accounts(workflow) -> list[transfer.StaleUse]:
    return transfer.stale_uses([workflow])
