"""Workflow conditions: groups of typed comparisons on event fields, joined by all/any.

Pure Python, no Django.

    {"match": "all",                      # all | any, over the groups
     "groups": [{"match": "any",          # all | any, over the group's rules
                 "rules": [{"field": "plan", "operator": "equals", "value": "Pro"},
                           {"field": "total", "operator": "greaterThan", "value": "100"}]}]}

No groups (or no rules) means the workflow always runs. Each field has a type (String,
Number, Boolean, Date, DateTime) that decides which operators it offers and how values
compare: numbers numerically, booleans as true/false, dates and date-times in time order
(ISO 8601; a date-time without an offset is UTC), strings exactly (case-sensitive). `matches` is a Python
regular expression searched in the value; patterns are short and checked for nested
quantifiers when saved, and values are cut to MAX_MATCH_INPUT characters, so that matching
stays fast on any input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

OPERATORS = {
    "equals": "is equal to",
    "notEquals": "is not equal to",
    "contains": "contains",
    "notContains": "does not contain",
    "greaterThan": "is greater than",
    "lessThan": "is less than",
    "isEmpty": "is empty",
    "isNotEmpty": "is not empty",
    "matches": "matches the pattern",
}
OPERATORS_BY_TYPE = {
    "String": (
        "equals",
        "notEquals",
        "contains",
        "notContains",
        "isEmpty",
        "isNotEmpty",
        "matches",
    ),
    "Number": ("equals", "notEquals", "greaterThan", "lessThan", "isEmpty", "isNotEmpty"),
    "Boolean": ("equals", "notEquals", "isEmpty", "isNotEmpty"),
    "Date": ("equals", "notEquals", "greaterThan", "lessThan", "isEmpty", "isNotEmpty"),
    "DateTime": ("equals", "notEquals", "greaterThan", "lessThan", "isEmpty", "isNotEmpty"),
}
VALUELESS = ("isEmpty", "isNotEmpty")
MATCHES = ("all", "any")
MAX_GROUPS = 10
MAX_RULES = 20
MAX_VALUE = 1000
MAX_PATTERN = 200
MAX_MATCH_INPUT = 10_000

# A quantified group that itself contains a quantifier, e.g. (a+)+ or (x*y)*: the shape of
# patterns whose backtracking explodes.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]")


def empty() -> dict:
    return {"match": "all", "groups": []}


@dataclass(frozen=True)
class Outcome:
    passed: bool
    reason: str = ""


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _boolean(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        return None


def _datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# How each ordered type reads a value; None when it is not one.
_ORDERED_READERS = {"Number": _number, "Date": _date, "DateTime": _datetime}


def _is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and value == "")


def check_pattern(pattern: str) -> str | None:
    """Why a `matches` pattern cannot be used, or None."""
    if len(pattern) > MAX_PATTERN:
        return f"a pattern is at most {MAX_PATTERN} characters"
    if _NESTED_QUANTIFIER.search(pattern):
        return (
            "the pattern repeats a group that itself repeats (like (a+)+), which can be very slow"
        )
    try:
        re.compile(pattern)
    except re.error as error:
        return f"the pattern is not a valid regular expression ({error})"
    return None


def validate(conditions: object, field_types: Mapping[str, str]) -> list[str]:
    """Problems with the conditions given the event's fields {name: type}; empty when valid."""
    if not isinstance(conditions, dict):
        return ["Conditions must be an object with match and groups."]
    problems = []
    if conditions.get("match", "all") not in MATCHES:
        problems.append('Conditions: "match" must be all or any.')
    groups = conditions.get("groups", [])
    if not isinstance(groups, list):
        return [*problems, "Conditions: groups must be a list."]
    if len(groups) > MAX_GROUPS:
        problems.append(f"Conditions: at most {MAX_GROUPS} groups.")
    for group_number, group in enumerate(groups, start=1):
        where = f"Condition group {group_number}"
        if not isinstance(group, dict):
            problems.append(f"{where}: must be an object with match and rules.")
            continue
        if group.get("match", "all") not in MATCHES:
            problems.append(f'{where}: "match" must be all or any.')
        rules = group.get("rules", [])
        if not isinstance(rules, list):
            problems.append(f"{where}: rules must be a list.")
            continue
        if len(rules) > MAX_RULES:
            problems.append(f"{where}: at most {MAX_RULES} conditions.")
        for rule_number, rule in enumerate(rules, start=1):
            problems += _validate_rule(f"{where}, condition {rule_number}", rule, field_types)
    return problems


def _validate_rule(where: str, rule: object, field_types: Mapping[str, str]) -> list[str]:
    if not isinstance(rule, dict):
        return [f"{where}: must be an object with field, operator and value."]
    field, operator, value = rule.get("field"), rule.get("operator"), rule.get("value", "")
    if not isinstance(field, str) or not field:
        return [f"{where}: choose a field."]
    if field not in field_types:
        return [f'{where}: the event has no field "{field}".']
    field_type = field_types[field]
    if operator not in OPERATORS_BY_TYPE.get(field_type, ()):
        allowed = ", ".join(OPERATORS_BY_TYPE.get(field_type, ()))
        return [f'{where}: "{operator}" does not apply to a {field_type} field (use {allowed}).']
    if operator in VALUELESS:
        return []
    if not isinstance(value, str):
        return [f"{where}: the value must be text."]
    if len(value) > MAX_VALUE:
        return [f"{where}: the value is at most {MAX_VALUE} characters."]
    if field_type == "Number" and _number(value) is None:
        return [f'{where}: "{field}" is a Number, so the value must be a number.']
    if field_type == "Date" and _date(value) is None:
        return [f'{where}: "{field}" is a Date, so the value must look like 2026-12-31.']
    if field_type == "DateTime" and _datetime(value) is None:
        return [
            f'{where}: "{field}" is a DateTime, so the value must look like 2026-12-31T17:00:00Z.'
        ]
    if field_type == "Boolean" and _boolean(value) is None:
        return [f'{where}: "{field}" is a Boolean, so the value must be true or false.']
    if operator == "matches":
        problem = check_pattern(value)
        if problem:
            return [f"{where}: {problem}."]
    return []


def describe_rule(rule: Mapping) -> str:
    operator = rule.get("operator", "")
    text = f'"{rule.get("field", "")}" {OPERATORS.get(operator, operator)}'
    if operator not in VALUELESS:
        text += f' "{rule.get("value", "")}"'
    return text


def _shown(value: object) -> str:
    if value is None or value == "":
        return "empty"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return f'"{text[:60]}{"…" if len(text) > 60 else ""}"'


def rule_holds(rule: Mapping, value: object, field_type: str) -> bool:
    operator, expected = rule.get("operator"), rule.get("value", "")
    if operator == "isEmpty":
        return _is_empty(value)
    if operator == "isNotEmpty":
        return not _is_empty(value)
    read = _ORDERED_READERS.get(field_type)
    if read is not None:
        actual, wanted = read(value), read(expected)
        if operator == "notEquals":
            return actual is None or actual != wanted
        if actual is None or wanted is None:
            return False
        return {
            "equals": actual == wanted,
            "greaterThan": actual > wanted,
            "lessThan": actual < wanted,
        }.get(operator, False)
    if field_type == "Boolean":
        actual, wanted = _boolean(value), _boolean(expected)
        if operator == "equals":
            return actual is not None and actual == wanted
        if operator == "notEquals":
            return actual != wanted
        return False
    text = "" if value is None else (value if isinstance(value, str) else _text(value))
    if operator == "equals":
        return text == expected
    if operator == "notEquals":
        return text != expected
    if operator == "contains":
        return expected in text
    if operator == "notContains":
        return expected not in text
    if operator == "matches":
        if check_pattern(expected):
            return False
        return re.search(expected, text[:MAX_MATCH_INPUT]) is not None
    return False


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def evaluate(
    conditions: Mapping | None, fields: Mapping[str, object], field_types: Mapping[str, str]
) -> Outcome:
    """Whether the event passes, and when it does not, a sentence saying why."""
    if not conditions or not conditions.get("groups"):
        return Outcome(True)
    group_results = []
    for group in conditions["groups"]:
        rules = group.get("rules") or []
        if not rules:
            group_results.append((True, []))
            continue
        outcomes = []
        for rule in rules:
            field = rule.get("field", "")
            field_type = field_types.get(field, "String")
            value = fields.get(field)
            holds = rule_holds(rule, value, field_type)
            outcomes.append((holds, f"{describe_rule(rule)} (the value was {_shown(value)})"))
        if group.get("match", "all") == "any":
            passed = any(holds for holds, _ in outcomes)
            failures = [] if passed else [text for _, text in outcomes]
        else:
            failures = [text for holds, text in outcomes if not holds]
            passed = not failures
        group_results.append((passed, failures))
    if conditions.get("match", "all") == "any":
        if any(passed for passed, _ in group_results):
            return Outcome(True)
        failures = [text for _, texts in group_results for text in texts]
        return Outcome(False, "None of the conditions were met: " + "; ".join(failures) + ".")
    for passed, failures in group_results:
        if not passed:
            return Outcome(False, "Conditions not met: " + "; ".join(failures) + ".")
    return Outcome(True)
