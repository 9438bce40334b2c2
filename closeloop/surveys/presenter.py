"""What a respondent page shows: questions with piped text (escaped), choices, saved or
submitted values and errors, ready for the templates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from closeloop import piping
from closeloop.surveys import definition as schema
from closeloop.surveys import logic


def piping_context(contact_fields: Mapping, embedded: Mapping, answers: Mapping, questions: dict):
    return {
        "m": dict(contact_fields),
        "e": dict(embedded),
        "q": lambda item: logic.piped_answer(item, answers, questions),
        "now": timezone.now(),
    }


def pipe(text: str, context: Mapping) -> SafeString:
    """Author text shown as text (escaped), with piped values escaped too."""
    return mark_safe(  # noqa: S308 - render escapes both the text and every value
        piping.render(text or "", context, escape_html=True, escape_text=True)
    )


def _option_ids(value: Any) -> list[str]:
    if isinstance(value, dict):
        return list(value.get("choices", []))
    return []


def _texts_of(question: dict):
    yield question.get("text", "")
    yield question.get("lowLabel", "")
    yield question.get("highLabel", "")
    for key in ("choices", "rows", "columns"):
        for option in question.get(key, []):
            yield option["text"]


def is_static(question: dict, value: Any, error: str) -> bool:
    """True when the question's markup is the same for every respondent: unanswered, no
    error, no piped text. Such markup can be rendered once per version and language."""
    return value is None and not error and not any("${" in text for text in _texts_of(question))


def question_view(question: dict, value: Any, error: str, context: Mapping) -> dict:
    qid = question["id"]
    view: dict[str, Any] = {
        "id": qid,
        "static": is_static(question, value, error),
        "type": question["type"],
        "text": pipe(question.get("text", ""), context),
        "required": question.get("required", False),
        "error": error,
        "error_id": f"{qid}-error",
        "legend_id": f"{qid}-legend",
    }
    qtype = question["type"]
    if qtype == "mc":
        chosen = _option_ids(value)
        texts = value.get("text", {}) if isinstance(value, dict) else {}
        view["multiple"] = question.get("multiple", False)
        view["choices"] = [
            {
                "id": choice["id"],
                "input_id": f"{qid}-{choice['id']}",
                "text": pipe(choice["text"], context),
                "checked": choice["id"] in chosen,
                "text_entry": choice.get("textEntry", False),
                "text_name": f"{qid}_TEXT_{choice['id']}",
                "text_value": texts.get(choice["id"], ""),
            }
            for choice in question["choices"]
        ]
    elif qtype == "text":
        view["multiline"] = question.get("multiline", False)
        view["validation"] = question.get("validation", "")
        view["value"] = value if isinstance(value, str) else ""
        view["maxlength"] = logic.MAX_MULTI_LINE if view["multiline"] else logic.MAX_SINGLE_LINE
    elif qtype in ("nps", "rating"):
        low, high = (0, 10) if qtype == "nps" else (1, question.get("scale", 5))
        view["options"] = [
            {"value": number, "input_id": f"{qid}-{number}", "checked": value == number}
            for number in range(low, high + 1)
        ]
        view["low_label"] = pipe(question.get("lowLabel", ""), context)
        view["high_label"] = pipe(question.get("highLabel", ""), context)
        view["low_value"], view["high_value"] = low, high
        if question.get("lowLabel") or question.get("highLabel"):
            view["labels_id"] = f"{qid}-labels"
    elif qtype == "matrix":
        chosen = value if isinstance(value, dict) else {}
        view["rows"] = [
            {
                "id": row["id"],
                "name": f"{qid}_ROW_{row['id']}",
                "legend_id": f"{qid}-row-{row['id']}",
                "text": pipe(row["text"], context),
                "options": [
                    {
                        "id": column["id"],
                        "input_id": f"{qid}-{row['id']}-{column['id']}",
                        "text": pipe(column["text"], context),
                        "checked": chosen.get(row["id"]) == column["id"],
                    }
                    for column in question["columns"]
                ],
            }
            for row in question["rows"]
        ]
    return view


def page_view(
    definition: dict,
    page: int,
    *,
    answers: Mapping,
    embedded: Mapping,
    contact_fields: Mapping,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
) -> dict:
    """Everything page.html needs for one page of a (translated) definition."""
    errors = errors or {}
    values = values or {}
    pages = schema.pages(definition)
    questions = schema.question_map(definition)
    page = min(max(page, 0), max(len(pages) - 1, 0))
    context = piping_context(contact_fields, embedded, answers, questions)
    shown = logic.visible_on_page(pages[page], answers, embedded, questions) if pages else []
    views = [
        question_view(
            question,
            values[question["id"]] if question["id"] in values else answers.get(question["id"]),
            errors.get(question["id"], ""),
            context,
        )
        for question in shown
    ]
    options = definition.get("options", {})
    return {
        "title": definition.get("title", ""),
        "page": page,
        "questions": views,
        "errors": [(view["id"], view["error"]) for view in views if view["error"]],
        "progress": logic.progress(definition, page),
        "show_progress": options.get("progressBar", True),
        "show_back": options.get("backButton", True)
        and logic.has_previous(definition, page, answers, embedded),
        "is_last": logic.is_last_page(definition, page, _with_submitted(answers, values), embedded),
    }


def _with_submitted(answers: Mapping, values: Mapping[str, Any]) -> dict:
    """The saved answers with this page's re-shown submission applied, as `advance` applies
    it: the best guess of what the next submit will hold."""
    known = dict(answers)
    for qid, value in values.items():
        if value is None:
            known.pop(qid, None)
        else:
            known[qid] = value
    return known


def end_message(
    definition: dict, *, answers: Mapping, embedded: Mapping, contact_fields: Mapping
) -> SafeString:
    questions = schema.question_map(definition)
    context = piping_context(contact_fields, embedded, answers, questions)
    message = (definition.get("end") or {}).get("message") or (
        "Thank you for your time. Your response has been recorded."
    )
    return pipe(message, context)
