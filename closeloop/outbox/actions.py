"""Writes to the outbox."""

from __future__ import annotations

from closeloop.accounts.models import Membership
from closeloop.outbox.models import Channel, Direction, OutboxMessage
from closeloop.outbox.segments import count_segments


def _organization_of_recipients(recipients: list[str]) -> int | None:
    """System mail (password reset, invitations) belongs to the recipient's organization."""
    membership = (
        Membership.objects.filter(user__email__in=[address.lower() for address in recipients])
        .order_by("created_at")
        .first()
    )
    return membership.organization_id if membership else None


def store_email(
    *,
    organization_id: int | None,
    sender: str,
    recipients: list[str],
    subject: str,
    text_body: str,
    html_body: str,
    headers: dict,
    message_id: str,
) -> OutboxMessage:
    if organization_id is None:
        organization_id = _organization_of_recipients(recipients)
    return OutboxMessage.objects.create(
        organization_id=organization_id,
        channel=Channel.EMAIL,
        sender=sender,
        recipients=", ".join(recipients),
        subject=subject,
        text_body=text_body,
        html_body=html_body,
        headers=headers,
        message_id=message_id,
    )


def store_sms(
    *, organization, to: str, body: str, sender: str = "", inbound: bool = False
) -> OutboxMessage:
    return OutboxMessage.objects.create(
        organization=organization,
        channel=Channel.SMS,
        direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
        sender=sender,
        recipients=to,
        text_body=body,
        segments=count_segments(body),
    )


def clear(organization) -> int:
    deleted, _ = OutboxMessage.objects.filter(organization=organization).delete()
    return deleted
