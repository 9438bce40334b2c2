"""Reading the editor's forms into definition parts (pure parsing; actions validate)."""

from __future__ import annotations

import re

from closeloop.workflows import conditions as conditions_module

_GROUP_KEY = re.compile(r"g(\d{1,2})-match\Z")
MAX_GROUPS = conditions_module.MAX_GROUPS


def conditions_from_post(data) -> dict:
    """{"match", "groups": [{"match", "rules": [{field, operator, value}]}]} from the form.

    Group g posts g<g>-match and the parallel lists g<g>-field, g<g>-operator, g<g>-value.
    Rules without a field are left out; groups stay even when empty (the form shows them).
    """
    numbers = sorted({int(match.group(1)) for key in data if (match := _GROUP_KEY.match(key))})[
        :MAX_GROUPS
    ]
    groups = []
    for number in numbers:
        prefix = f"g{number}-"
        rules = [
            {"field": field, "operator": operator, "value": value}
            for field, operator, value in zip(
                data.getlist(prefix + "field"),
                data.getlist(prefix + "operator"),
                data.getlist(prefix + "value"),
                strict=False,
            )
        ]
        groups.append({"match": data.get(prefix + "match", "all"), "rules": rules})
    return {"match": data.get("match", "all"), "groups": groups}


def apply_condition_action(conditions: dict, action: str) -> dict:
    """An unsaved edit of the conditions form: add-group, add-rule:<g>, remove-rule:<g>:<r>,
    remove-group:<g>."""
    groups = conditions["groups"]
    name, _, rest = action.partition(":")
    try:
        numbers = [int(part) for part in rest.split(":")] if rest else []
    except ValueError:
        return conditions
    blank = {"field": "", "operator": "equals", "value": ""}
    if name == "add-group" and len(groups) < MAX_GROUPS:
        groups.append({"match": "all", "rules": [dict(blank)]})
    elif name == "add-rule" and numbers and numbers[0] < len(groups):
        groups[numbers[0]]["rules"].append(dict(blank))
    elif name == "remove-rule" and len(numbers) == 2 and numbers[0] < len(groups):
        rules = groups[numbers[0]]["rules"]
        if numbers[1] < len(rules):
            del rules[numbers[1]]
    elif name == "remove-group" and numbers and numbers[0] < len(groups):
        del groups[numbers[0]]
    return conditions


def conditions_to_save(conditions: dict) -> dict:
    """Without rules that name no field, and without groups left empty."""
    groups = []
    for group in conditions["groups"]:
        rules = [rule for rule in group["rules"] if rule.get("field")]
        for rule in rules:
            if rule.get("operator") in conditions_module.VALUELESS:
                rule["value"] = ""
        if rules:
            groups.append({"match": group.get("match", "all"), "rules": rules})
    return {"match": conditions.get("match", "all"), "groups": groups}


def settings_from_post(data) -> dict:
    return {
        "name": data.get("name", "").strip(),
        "enabled": data.get("enabled") == "on",
        "continueOnFailure": data.get("continueOnFailure") == "on",
    }
