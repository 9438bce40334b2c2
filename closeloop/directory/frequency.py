"""Contact frequency rules: may this contact get one more message now?

The most specific rules win: rules for the survey being sent, else rules for the mailing list
it is sent to, else the directory's rules. Within the chosen scope every rule for the channel
(or for any channel) must allow the message. Counting looks at every message the contact was
sent on the rule's channel(s), whatever survey or list it was for: rules are about how often a
person is contacted. Reminders and thank-yous neither count nor are checked.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from closeloop.directory.models import (
    Channel,
    Contact,
    ContactMessageLog,
    FrequencyRule,
    FrequencyScope,
    MailingList,
)


def rules_in_force(
    contact: Contact, channel: str, survey_id: str = "", mailing_list: MailingList | None = None
) -> list[FrequencyRule]:
    rules = [
        rule
        for rule in FrequencyRule.objects.filter(directory_id=contact.directory_id)
        if rule.channel in (Channel.ANY, channel)
    ]
    if survey_id:
        chosen = [r for r in rules if r.scope == FrequencyScope.SURVEY and r.survey_id == survey_id]
        if chosen:
            return chosen
    if mailing_list is not None:
        chosen = [
            r
            for r in rules
            if r.scope == FrequencyScope.MAILING_LIST and r.mailing_list_id == mailing_list.pk
        ]
        if chosen:
            return chosen
    return [r for r in rules if r.scope == FrequencyScope.DIRECTORY]


def _sent(contact: Contact, rule: FrequencyRule, channel: str, at: datetime):
    messages = ContactMessageLog.objects.filter(contact=contact, is_reminder=False, sent_at__lte=at)
    if rule.channel != Channel.ANY:
        messages = messages.filter(channel=channel)
    return messages


def blocks(rule: FrequencyRule, contact: Contact, channel: str, at: datetime) -> bool:
    sent = _sent(contact, rule, channel, at)
    if rule.min_days_between is not None:
        since = at - timedelta(days=rule.min_days_between)
        if sent.filter(sent_at__gt=since).exists():
            return True
    if rule.max_messages is not None and rule.period_days is not None:
        since = at - timedelta(days=rule.period_days)
        recent = sent.filter(sent_at__gt=since)[: rule.max_messages]
        if recent.count() >= rule.max_messages:
            return True
    return False


def allowed_to_contact(
    contact: Contact,
    channel: str,
    survey_id: str = "",
    mailing_list: MailingList | None = None,
    at: datetime | None = None,
    *,
    is_reminder: bool = False,
) -> tuple[bool, FrequencyRule | None]:
    """(True, None) when the message may go; (False, the first rule that blocks it) otherwise."""
    if is_reminder:
        return True, None
    if at is None:
        at = timezone.now()
    for rule in rules_in_force(contact, channel, survey_id, mailing_list):
        if blocks(rule, contact, channel, at):
            return False, rule
    return True, None
