"""Reading the builder's forms into definition changes."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from django import forms

from closeloop.accounts import queries as account_queries
from closeloop.surveys import definition as schema
from closeloop.surveys import editing, logic
from closeloop.surveys.permission_rules import Permission, parse_permissions


class CreateSurveyForm(forms.Form):
    name = forms.CharField(max_length=200, label="Survey name")


class RenameForm(forms.Form):
    name = forms.CharField(max_length=200, label="Survey name")


class OptionsForm(forms.Form):
    title = forms.CharField(
        max_length=schema.MAX_NAME,
        required=False,
        label="Title shown to respondents",
    )
    end_message = forms.CharField(
        max_length=schema.MAX_TEXT,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Thank-you message",
        help_text="Piped text works here, e.g. ${m://FirstName} or ${e://Field/Store}.",
    )
    back_button = forms.BooleanField(required=False, label="Show a Back button")
    progress_bar = forms.BooleanField(required=False, label="Show a progress bar")
    link_expiry_days = forms.IntegerField(
        min_value=1, max_value=3650, label="Individual links expire after (days)"
    )
    partial_close_hours = forms.IntegerField(
        min_value=1,
        max_value=24 * 365,
        label="Record unfinished responses as partial after (hours)",
    )


def _checked(post, name: str) -> bool:
    return post.get(name) in ("on", "true", "1")


def _options_from_post(post, key: str, prefix: str, *, recode: bool, other: bool) -> list[dict]:
    options = []
    for option_id in post.getlist(f"{prefix}_id"):
        option = {"id": option_id, "text": post.get(f"{prefix}_text_{option_id}", "").strip()}
        if recode:
            option["recode"] = post.get(f"{prefix}_recode_{option_id}", "").strip()
        if other:
            option["textEntry"] = _checked(post, f"{prefix}_other_{option_id}")
        options.append(option)
    return options


CONDITION_OPERATIONS = ("add_condition", "remove_condition:")
BLANK_CONDITION = {"source": "", "op": "=", "value": ""}


def condition_rows_from_post(post) -> list[dict]:
    """The display logic editor's rows as typed; op add_condition / remove_condition:<n>
    adds a blank row or removes one (the editor stays open)."""
    rows = [
        {"source": source, "op": operator, "value": value.strip()}
        for source, operator, value in zip(
            post.getlist("display_source"),
            post.getlist("display_op"),
            post.getlist("display_value"),
            strict=False,
        )
    ]
    operation = post.get("op", "")
    if operation == "add_condition" and len(rows) < schema.MAX_CONDITIONS:
        rows.append(dict(BLANK_CONDITION))
    elif operation.startswith("remove_condition:") and operation[17:].isdigit():
        position = int(operation[17:])
        if 0 <= position < len(rows):
            rows.pop(position)
    return rows


def _option_id(options: list[dict], value: str) -> str | None:
    for option in options:
        if value in (option["id"], option["text"]) or value.casefold() == option["text"].casefold():
            return option["id"]
    return None


def _choice_condition(condition: dict, target: dict, value: str) -> str:
    """Fill condition["choice"] (and "row" for a matrix: "Statement: Scale point")."""
    source = condition["question"]
    if target.get("type") == "matrix":
        row_text, _, column_text = value.rpartition(":")
        row = _option_id(target["rows"], row_text.strip()) if row_text else target["rows"][0]["id"]
        if row is None:
            return f"“{row_text.strip()}” is not a statement of {source}."
        condition["row"] = row
        value = column_text.strip()
    match = _option_id(target.get("choices") or target.get("columns") or [], value)
    if match is None:
        return f"“{value}” is not a choice of {source}."
    condition["choice"] = match
    return ""


def condition_from_row(row: dict, definition: dict) -> tuple[dict | None, str]:
    source, operator, value = row["source"], row["op"], row["value"]
    if operator not in schema.OPERATORS:
        return None, "Choose how to compare."
    if source.startswith("e:"):
        condition: dict = {"embedded": source[2:], "op": operator}
    else:
        condition = {"question": source, "op": operator}
        target = schema.question_map(definition).get(source)
        if target is not None and operator in schema.CHOICE_OPERATORS:
            error = _choice_condition(condition, target, value)
            if error:
                return None, error
    if operator not in schema.VALUELESS_OPERATORS and operator not in schema.CHOICE_OPERATORS:
        condition["value"] = value
    return condition, ""


def display_from_post(post, definition: dict, qid: str) -> tuple[dict | None, str]:
    """Display logic from the editor: the conditions of its rows (rows left on "Always show"
    are ignored), joined by AND or OR as Qualtrics' display logic dialog does."""
    conditions = []
    for row in condition_rows_from_post(post):
        if not row["source"]:
            continue
        condition, error = condition_from_row(row, definition)
        if error:
            return None, error
        conditions.append(condition)
    if not conditions:
        return None, ""
    conjunction = "or" if post.get("display_conjunction") == "or" else "and"
    return {"conjunction": conjunction, "conditions": conditions}, ""


def condition_rows(definition: dict, display: dict | None) -> list[dict]:
    """The editor's rows for a question's display logic (one blank row when it has none)."""
    questions = schema.question_map(definition)
    rows = []
    for condition in (display or {}).get("conditions") or []:
        value = condition.get("value", "")
        if condition.get("embedded"):
            source = "e:" + condition["embedded"]
        else:
            source = condition.get("question", "")
            if condition.get("choice"):
                target = questions.get(source, {})
                value = logic.choice_text(target, condition["choice"]) or condition["choice"]
                if condition.get("row"):
                    rows_by_id = {row["id"]: row["text"] for row in target.get("rows", [])}
                    statement = rows_by_id.get(condition["row"], condition["row"])
                    value = f"{statement}: {value}"
        rows.append({"source": source, "op": condition.get("op", ""), "value": value})
    return rows or [dict(BLANK_CONDITION)]


def question_from_post(definition: dict, qid: str, post) -> tuple[dict, str, str]:
    """Apply the question editor's form to the definition.

    Returns (new definition, operation, error). The operation says what the button asked for:
    save, or adding/removing a choice, statement or scale point (the editor stays open).
    """
    found = schema.find_question(definition, qid)
    if found is None:
        raise schema.DefinitionError([f"There is no question {qid}."])
    result = copy.deepcopy(definition)
    block, index = schema.find_question(result, qid)
    question = block["elements"][index]
    question["text"] = post.get("text", "").strip()
    question["required"] = _checked(post, "required")
    qtype = question["type"]
    if qtype == "mc":
        question["multiple"] = _checked(post, "multiple")
        question["choices"] = _options_from_post(post, "choices", "choice", recode=True, other=True)
    elif qtype == "text":
        question["multiline"] = _checked(post, "multiline")
        question["validation"] = post.get("validation", "")
    elif qtype in ("nps", "rating"):
        question["lowLabel"] = post.get("low_label", "").strip()
        question["highLabel"] = post.get("high_label", "").strip()
        if qtype == "rating":
            scale = post.get("scale", "5")
            question["scale"] = int(scale) if scale.isdigit() else 0
    elif qtype == "matrix":
        question["rows"] = _options_from_post(post, "rows", "row", recode=False, other=False)
        question["columns"] = _options_from_post(
            post, "columns", "column", recode=True, other=False
        )
    display, error = display_from_post(post, result, qid)
    question["display"] = display
    if error:
        return result, "save", error
    operation = post.get("op", "save")
    if operation.startswith(CONDITION_OPERATIONS):
        operation = operation.split(":", 1)[0]
    elif operation in ("add_choices", "add_rows", "add_columns"):
        result = editing.add_option(result, qid, operation[4:])
    elif operation.startswith(("delete_choices:", "delete_rows:", "delete_columns:")):
        action, option_id = operation.split(":", 1)
        result = editing.delete_option(result, qid, action[7:], option_id)
    else:
        operation = "save"
    return result, operation, ""


def embedded_fields_from_post(post) -> tuple[list[dict], str]:
    """The survey flow's embedded data rows; op add/remove:<n> keeps the editor open."""
    names = post.getlist("field_name")
    sources = post.getlist("field_source")
    values = post.getlist("field_value")
    rows = [
        {"name": name.strip(), "source": source, "value": value}
        for name, source, value in zip(names, sources, values, strict=False)
    ]
    operation = post.get("op", "save")
    if operation == "add":
        rows.append({"name": "", "source": "contact", "value": ""})
        return rows, operation
    if operation.startswith("remove:") and operation[7:].isdigit():
        position = int(operation[7:])
        if 0 <= position < len(rows):
            rows.pop(position)
        return rows, "remove"
    return [row for row in rows if row["name"] or row["value"]], "save"


# Sharing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShareInput:
    """The Sharing page's "add" form: one member or one group, and the permissions ticked
    (unknown names are dropped). `error` is the form error to show, if any."""

    user: object = None
    group: object = None
    permissions: tuple[str, ...] = ()
    error: str = ""


def share_id(post) -> int | None:
    value = (post.get("share") or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None


def chosen_permissions(post) -> tuple[str, ...]:
    chosen = parse_permissions(post.getlist("permissions"))
    return tuple(item.value for item in Permission if item in chosen)


def share_from_post(post, organization) -> ShareInput:
    """Only members and groups of `organization` can be chosen; anything else is an error."""
    user_id = (post.get("user") or "").strip()
    group_id = (post.get("group") or "").strip()
    permissions = chosen_permissions(post)
    if bool(user_id) == bool(group_id):
        return ShareInput(error="Choose one person or one group to share with.")
    if not permissions:
        return ShareInput(error="Tick at least one permission to share.")
    if user_id:
        membership = account_queries.membership_by_user_id(organization, user_id)
        if membership is None:
            return ShareInput(error="Choose a member of this organization.")
        return ShareInput(user=membership.user, permissions=permissions)
    number = group_id.isascii() and group_id.isdigit() and len(group_id) < 10
    group = account_queries.group_of(organization, int(group_id)) if number else None
    if group is None:
        return ShareInput(error="Choose a group of this organization.")
    return ShareInput(group=group, permissions=permissions)
