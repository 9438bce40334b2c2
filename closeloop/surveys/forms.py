"""Reading the builder's forms into definition changes."""

from __future__ import annotations

import copy

from django import forms

from closeloop.surveys import definition as schema
from closeloop.surveys import editing


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


def display_from_post(post, definition: dict, qid: str) -> tuple[dict | None, str]:
    """One display condition from the editor (the JSON API allows up to 20)."""
    source = post.get("display_source", "")
    if not source:
        return None, ""
    operator = post.get("display_op", "")
    value = post.get("display_value", "").strip()
    if operator not in schema.OPERATORS:
        return None, "Choose how to compare."
    if source.startswith("e:"):
        condition: dict = {"embedded": source[2:], "op": operator}
    else:
        condition = {"question": source, "op": operator}
        target = schema.question_map(definition).get(source)
        if target is not None and operator in schema.CHOICE_OPERATORS:
            options = target.get("choices") or target.get("columns") or []
            match = next(
                (
                    option["id"]
                    for option in options
                    if value in (option["id"], option["text"])
                    or value.casefold() == option["text"].casefold()
                ),
                None,
            )
            if match is None:
                return None, f"“{value}” is not a choice of {source}."
            condition["choice"] = match
            if target.get("type") == "matrix":
                condition["row"] = target["rows"][0]["id"]
    if operator not in schema.VALUELESS_OPERATORS and operator not in schema.CHOICE_OPERATORS:
        condition["value"] = value
    return {"conjunction": "and", "conditions": [condition]}, ""


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
    if operation in ("add_choices", "add_rows", "add_columns"):
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
