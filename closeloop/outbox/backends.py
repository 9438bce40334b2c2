"""Delivery backends that keep messages in the database for the Outbox page."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage, EmailMultiAlternatives

from closeloop.outbox import actions
from closeloop.outbox.segments import count_segments

ORGANIZATION_HEADER = "X-Closeloop-Organization"


class OutboxEmailBackend(BaseEmailBackend):
    """Stores each email; senders may tag it with the organization in X-Closeloop-Organization."""

    def send_messages(self, email_messages: list[EmailMessage]) -> int:
        sent = 0
        for message in email_messages:
            if not message.recipients():
                continue
            actions.store_email(**_email_fields(message))
            sent += 1
        return sent


def _email_fields(message: EmailMessage) -> dict:
    headers = dict(message.extra_headers)
    organization_id = headers.pop(ORGANIZATION_HEADER, None)
    html_body = ""
    if isinstance(message, EmailMultiAlternatives):
        html_body = next((body for body, kind in message.alternatives if kind == "text/html"), "")
    text_body = message.body
    if message.content_subtype == "html":
        html_body, text_body = message.body, ""
    if message.reply_to:
        headers.setdefault("Reply-To", ", ".join(message.reply_to))
    rendered = message.message()
    return {
        "organization_id": int(organization_id) if organization_id else None,
        "sender": message.from_email,
        "recipients": message.recipients(),
        "subject": message.subject,
        "text_body": text_body,
        "html_body": html_body,
        "headers": headers,
        "message_id": rendered.get("Message-ID", ""),
    }


@dataclass
class SmsResult:
    sid: str
    status: str
    segments: int


class OutboxSmsBackend:
    """SMS delivery when no provider is configured: the message appears in the Outbox."""

    def send(self, *, organization, to: str, body: str, sender: str = "") -> SmsResult:
        message = actions.store_sms(organization=organization, to=to, body=body, sender=sender)
        return SmsResult(sid=f"OUTBOX{message.pk}", status="delivered", segments=message.segments)


def segments_for(body: str) -> int:
    return count_segments(body)
