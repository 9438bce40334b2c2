"""Contact-frequency rules: how often a contact may be messaged (closeloop.directory.frequency
applies them)."""

from __future__ import annotations

from django.db import transaction

from closeloop.directory import locks
from closeloop.directory.actions.fields import check_list
from closeloop.directory.dedup import InvalidValue
from closeloop.directory.models import (
    MAX_FREQUENCY_RULES,
    Channel,
    Directory,
    FrequencyRule,
    FrequencyScope,
    MailingList,
)


def create_frequency_rule(
    directory: Directory,
    *,
    channel: str = Channel.ANY,
    max_messages: int | None = None,
    period_days: int | None = None,
    min_days_between: int | None = None,
    mailing_list: MailingList | None = None,
    survey_id: str = "",
) -> FrequencyRule:
    """A contact-frequency rule: at most N messages in D days and/or at least D days apart.

    With a survey id or a mailing list it overrides the directory's rules for that scope.
    """
    if channel not in Channel.values:
        raise InvalidValue(f"Channel must be one of {', '.join(Channel.values)}.")
    if (max_messages is None) != (period_days is None):
        raise InvalidValue("Give both a number of messages and a period in days, or neither.")
    if max_messages is None and min_days_between is None:
        raise InvalidValue("A rule needs a limit: messages per period, days between, or both.")
    for what, number in (
        ("The number of messages", max_messages),
        ("The period", period_days),
        ("The days between messages", min_days_between),
    ):
        if number is not None and not (1 <= number <= 3650):
            raise InvalidValue(f"{what} must be between 1 and 3650.")
    survey_id = (survey_id or "").strip()
    if mailing_list is not None and survey_id:
        raise InvalidValue("A rule overrides either a survey or a mailing list, not both.")
    check_list(directory, mailing_list)
    scope = (
        FrequencyScope.SURVEY
        if survey_id
        else FrequencyScope.MAILING_LIST
        if mailing_list is not None
        else FrequencyScope.DIRECTORY
    )
    with transaction.atomic():
        locks.directory_for_update(directory)
        if directory.frequency_rules.count() >= MAX_FREQUENCY_RULES:
            raise InvalidValue(f"A directory has at most {MAX_FREQUENCY_RULES} frequency rules.")
        return FrequencyRule.objects.create(
            organization_id=directory.organization_id,
            directory=directory,
            scope=scope,
            mailing_list=mailing_list,
            survey_id=survey_id,
            channel=channel,
            max_messages=max_messages,
            period_days=period_days,
            min_days_between=min_days_between,
        )


def delete_frequency_rule(rule: FrequencyRule) -> None:
    rule.delete()
