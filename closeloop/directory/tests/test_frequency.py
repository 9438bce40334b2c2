"""Contact frequency rules: limits, rolling periods, scopes, channels, reminders."""

from datetime import UTC, datetime, timedelta

import pytest

from closeloop.directory import actions
from closeloop.directory.dedup import InvalidValue
from closeloop.directory.frequency import allowed_to_contact
from closeloop.directory.models import MAX_FREQUENCY_RULES
from closeloop.directory.tests.factories import make_directory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def directory(org_a):
    return make_directory(org_a[0])


@pytest.fixture
def jane(directory):
    return actions.upsert_contact(directory, {"email": "jane@example.com"})[0]


def sent(contact, days_ago, channel="email", **kwargs):
    return actions.log_message(contact, channel, sent_at=NOW - timedelta(days=days_ago), **kwargs)


def test_no_rule_allows_everything(jane):
    sent(jane, 0)
    assert allowed_to_contact(jane, "email", "SV_1", None, NOW) == (True, None)


def test_max_messages_in_a_rolling_period(directory, jane):
    rule = actions.create_frequency_rule(directory, max_messages=2, period_days=30)
    sent(jane, 29)
    assert allowed_to_contact(jane, "email", "SV_1", None, NOW) == (True, None)
    sent(jane, 3, channel="sms")
    assert allowed_to_contact(jane, "email", "SV_1", None, NOW) == (False, rule)
    # The oldest message leaves the window two days later.
    assert allowed_to_contact(jane, "email", "SV_1", None, NOW + timedelta(days=2)) == (True, None)


def test_min_days_between_messages(directory, jane):
    rule = actions.create_frequency_rule(directory, min_days_between=7)
    sent(jane, 6)
    assert allowed_to_contact(jane, "sms", "", None, NOW) == (False, rule)
    assert allowed_to_contact(jane, "sms", "", None, NOW + timedelta(days=1, minutes=1))[0]


def test_a_channel_rule_counts_and_checks_only_its_channel(directory, jane):
    rule = actions.create_frequency_rule(directory, channel="sms", max_messages=1, period_days=7)
    sent(jane, 1, channel="email")
    assert allowed_to_contact(jane, "sms", "", None, NOW) == (True, None)
    sent(jane, 1, channel="sms")
    assert allowed_to_contact(jane, "sms", "", None, NOW) == (False, rule)
    assert allowed_to_contact(jane, "email", "", None, NOW) == (True, None)


def test_reminders_neither_count_nor_are_checked(directory, jane):
    actions.create_frequency_rule(directory, max_messages=1, period_days=7)
    sent(jane, 1, is_reminder=True)
    assert allowed_to_contact(jane, "email", "", None, NOW) == (True, None)
    sent(jane, 1)
    assert not allowed_to_contact(jane, "email", "", None, NOW)[0]
    assert allowed_to_contact(jane, "email", "", None, NOW, is_reminder=True) == (True, None)


def test_the_most_specific_override_wins(directory, jane):
    vip = actions.create_mailing_list(directory, "VIP")
    strict = actions.create_frequency_rule(directory, min_days_between=30)
    by_list = actions.create_frequency_rule(directory, min_days_between=10, mailing_list=vip)
    by_survey = actions.create_frequency_rule(directory, min_days_between=2, survey_id="SV_nps")
    sent(jane, 5)
    assert allowed_to_contact(jane, "email", "SV_other", None, NOW) == (False, strict)
    assert allowed_to_contact(jane, "email", "SV_other", vip, NOW) == (False, by_list)
    assert allowed_to_contact(jane, "email", "SV_nps", vip, NOW) == (True, None)
    sent(jane, 1)
    assert allowed_to_contact(jane, "email", "SV_nps", vip, NOW) == (False, by_survey)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs a limit"),
        ({"max_messages": 2}, "both"),
        ({"min_days_between": 0}, "between 1 and 3650"),
        ({"min_days_between": 1, "channel": "fax"}, "Channel"),
        ({"min_days_between": 1, "survey_id": "SV_1", "list": True}, "not both"),
    ],
)
def test_bad_rules_are_refused(directory, kwargs, message):
    if kwargs.pop("list", False):
        kwargs["mailing_list"] = actions.create_mailing_list(directory, "L")
    with pytest.raises(InvalidValue, match=message):
        actions.create_frequency_rule(directory, **kwargs)


def test_at_most_twenty_rules(directory):
    for _ in range(MAX_FREQUENCY_RULES):
        actions.create_frequency_rule(directory, min_days_between=1)
    with pytest.raises(InvalidValue, match="at most 20"):
        actions.create_frequency_rule(directory, min_days_between=1)
