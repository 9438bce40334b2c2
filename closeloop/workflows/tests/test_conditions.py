"""Conditions: typed comparisons in groups joined by all/any (pure)."""

import time

import pytest

from closeloop.workflows import conditions

TYPES = {"plan": "String", "total": "Number", "vip": "Boolean", "note": "String"}


def rule(field, operator, value=""):
    return {"field": field, "operator": operator, "value": value}


def one_group(*rules, match="all"):
    return {"match": "all", "groups": [{"match": match, "rules": list(rules)}]}


@pytest.mark.parametrize(
    ("the_rule", "fields", "expected"),
    [
        (rule("plan", "equals", "Pro"), {"plan": "Pro"}, True),
        (rule("plan", "equals", "pro"), {"plan": "Pro"}, False),
        (rule("plan", "notEquals", "Pro"), {"plan": None}, True),
        (rule("plan", "contains", "ro"), {"plan": "Pro"}, True),
        (rule("plan", "notContains", "ro"), {"plan": "Pro"}, False),
        (rule("plan", "matches", r"^P\w+$"), {"plan": "Pro"}, True),
        (rule("plan", "isEmpty"), {"plan": ""}, True),
        (rule("plan", "isEmpty"), {}, True),
        (rule("plan", "isNotEmpty"), {"plan": "x"}, True),
        (rule("total", "greaterThan", "100"), {"total": 120.5}, True),
        (rule("total", "greaterThan", "100"), {"total": None}, False),
        (rule("total", "lessThan", "100"), {"total": 99}, True),
        (rule("total", "equals", "100"), {"total": 100}, True),
        (rule("total", "equals", "100.0"), {"total": 100}, True),
        (rule("vip", "equals", "true"), {"vip": True}, True),
        (rule("vip", "equals", "false"), {"vip": None}, False),
        (rule("vip", "notEquals", "true"), {"vip": False}, True),
    ],
)
def test_comparisons(the_rule, fields, expected):
    assert conditions.evaluate(one_group(the_rule), fields, TYPES).passed is expected


def test_all_and_any():
    rules = (rule("plan", "equals", "Pro"), rule("vip", "equals", "true"))
    fields = {"plan": "Pro", "vip": False}
    assert not conditions.evaluate(one_group(*rules), fields, TYPES).passed
    assert conditions.evaluate(one_group(*rules, match="any"), fields, TYPES).passed
    two_groups = {
        "match": "any",
        "groups": [
            {"match": "all", "rules": [rule("vip", "equals", "true")]},
            {"match": "all", "rules": [rule("total", "greaterThan", "10")]},
        ],
    }
    outcome = conditions.evaluate(two_groups, {"vip": False, "total": 5}, TYPES)
    assert outcome.reason == (
        'None of the conditions were met: "vip" is equal to "true" (the value was false); '
        '"total" is greater than "10" (the value was "5").'
    )


def test_no_groups_always_pass():
    assert conditions.evaluate({"match": "all", "groups": []}, {}, TYPES).passed
    assert conditions.evaluate(None, {}, TYPES).passed


def test_validation_explains_each_problem():
    bad = {
        "match": "some",
        "groups": [
            {
                "match": "all",
                "rules": [
                    rule("nothing", "equals", "x"),
                    rule("total", "contains", "1"),
                    rule("total", "greaterThan", "ten"),
                    rule("vip", "equals", "yes"),
                    rule("plan", "matches", "(a+)+$"),
                    rule("plan", "matches", "("),
                ],
            }
        ],
    }
    assert conditions.validate(bad, TYPES) == [
        'Conditions: "match" must be all or any.',
        'Condition group 1, condition 1: the event has no field "nothing".',
        'Condition group 1, condition 2: "contains" does not apply to a Number field '
        "(use equals, notEquals, greaterThan, lessThan, isEmpty, isNotEmpty).",
        'Condition group 1, condition 3: "total" is a Number, so the value must be a number.',
        'Condition group 1, condition 4: "vip" is a Boolean, so the value must be true or false.',
        "Condition group 1, condition 5: the pattern repeats a group that itself repeats "
        "(like (a+)+), which can be very slow.",
        "Condition group 1, condition 6: the pattern is not a valid regular expression "
        "(missing ), unterminated subpattern at position 0).",
    ]


def test_matching_is_bounded_on_long_input():
    the_rule = rule("note", "matches", r"x$")
    started = time.monotonic()
    outcome = conditions.evaluate(one_group(the_rule), {"note": "a" * 1_000_000 + "x"}, TYPES)
    assert time.monotonic() - started < 0.5
    assert not outcome.passed  # only the first 10,000 characters are searched
