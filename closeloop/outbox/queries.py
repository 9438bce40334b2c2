"""Organization-scoped reads of the outbox."""

from django.db.models import Q

from closeloop.accounts.models import Organization
from closeloop.outbox.models import OutboxMessage


def _visible_to(organization: Organization) -> Q:
    """Unassigned system mail is shown only where it cannot belong to someone else."""
    visible = Q(organization=organization)
    if Organization.objects.count() == 1:
        visible |= Q(organization__isnull=True)
    return visible


def messages_for(organization: Organization, *, channel: str = "", search: str = ""):
    messages = OutboxMessage.objects.filter(_visible_to(organization))
    if channel:
        messages = messages.filter(channel=channel)
    if search:
        messages = messages.filter(
            Q(recipients__icontains=search)
            | Q(subject__icontains=search)
            | Q(sender__icontains=search)
        )
    return messages.order_by("-created_at", "-id")


def message_for(organization: Organization, message_id: int) -> OutboxMessage:
    return OutboxMessage.objects.filter(_visible_to(organization)).get(pk=message_id)
