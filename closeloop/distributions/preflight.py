"""What the send path would decide for one contact of a new invitation, read without writing
anything: for dry runs (the Distribute survey task's). The send path decides per batch with
the same rules (channels/email.py `_verdicts`, channels/sms.py `gatekeeper`): no address,
opted out, a suppressed address (email), a two-way SMS survey already open with the number,
frequency rules (only for contacts invited before)."""

from __future__ import annotations

from closeloop.directory import frequency
from closeloop.directory.models import Channel as ContactChannel
from closeloop.directory.models import ContactMessageLog
from closeloop.distributions.channels.sms2way import has_open_session
from closeloop.distributions.models import Channel, SuppressedAddress


def invitation_verdict(organization, survey, channel: str, contact) -> str:
    """Why an invitation to `contact` (saved, or unsaved: a contact a dry run would create)
    would be Skipped or Blocked instead of sent; "" when it would be sent."""
    if channel == Channel.EMAIL and not contact.email_normalized:
        return "The contact has no email address."
    if channel != Channel.EMAIL and not contact.phone_e164:
        return "The contact has no valid mobile number (E.164)."
    if contact.unsubscribed:
        return "Opted out: the contact is unsubscribed from the directory."
    if channel == Channel.EMAIL:
        suppressed = (
            SuppressedAddress.objects.filter(
                organization_id=organization.pk, email=contact.email_normalized
            )
            .values_list("reason", flat=True)
            .first()
        )
        if suppressed is not None:
            return f"The address is blocked: {suppressed}"
    if channel == Channel.SMS_TWO_WAY and has_open_session(organization.pk, contact.phone_e164):
        return "A two-way SMS survey is already open with this number."
    invited_before = (
        contact.pk is not None
        and ContactMessageLog.objects.filter(contact_id=contact.pk, is_reminder=False).exists()
    )
    if invited_before:
        allowed, rule = frequency.allowed_to_contact(
            contact,
            ContactChannel.EMAIL if channel == Channel.EMAIL else ContactChannel.SMS,
            survey_id=survey.public_id,
        )
        if not allowed:
            return f"Frequency rule: {rule}"
    return ""
