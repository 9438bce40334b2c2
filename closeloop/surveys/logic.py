"""What respondents see and what their answers mean. Pure: no Django.

Answers are stored per question id:

    mc      {"choices": ["2", "4"], "text": {"4": "typed into the 'other' box"}}
    text    "the text"
    nps     9                       (0-10)
    rating  4                       (1-scale)
    matrix  {"<row id>": "<column id>", ...}

Form fields are named after the question: `QID1` (the choice, text or number), `QID1_TEXT_4`
(the text box of choice 4), `QID1_ROW_2` (matrix row 2).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from closeloop import piping
from closeloop.surveys import definition as schema

MAX_SINGLE_LINE = 1_000
MAX_MULTI_LINE = 10_000
MAX_OTHER_TEXT = 1_000
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s.]{1,63}\Z")
NUMBER = re.compile(r"[-+]?(\d{1,30}(\.\d{0,15})?|\.\d{1,15})\Z")

GetList = Callable[[str], list[str]]


# Display logic --------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _compare(operator: str, actual: Any, expected: Any) -> bool:
    if operator in ("empty", "not_empty"):
        empty = actual in (None, "", [], {})
        return empty if operator == "empty" else not empty
    if actual in (None, "", [], {}):
        return operator == "!="
    if operator == "contains":
        return str(expected).casefold() in str(actual).casefold()
    left, right = _number(actual), _number(expected)
    if left is None or right is None:
        left, right = str(actual), str(expected)  # type: ignore[assignment]
    if operator == "=":
        return left == right
    if operator == "!=":
        return left != right
    if operator == ">":
        return left > right  # type: ignore[operator]
    if operator == ">=":
        return left >= right  # type: ignore[operator]
    if operator == "<":
        return left < right  # type: ignore[operator]
    if operator == "<=":
        return left <= right  # type: ignore[operator]
    return False


def condition_holds(
    condition: dict, answers: Mapping[str, Any], embedded: Mapping[str, Any], questions: dict
) -> bool:
    operator = condition.get("op")
    if "embedded" in condition:
        return _compare(operator, embedded.get(condition["embedded"]), condition.get("value"))
    qid = condition.get("question")
    answer = answers.get(qid)
    question = questions.get(qid, {})
    if operator in schema.CHOICE_OPERATORS:
        if question.get("type") == "matrix":
            selected = isinstance(answer, dict) and answer.get(condition.get("row")) == (
                condition.get("choice")
            )
        else:
            chosen = answer.get("choices", []) if isinstance(answer, dict) else []
            selected = condition.get("choice") in chosen
        return selected if operator == "selected" else not selected
    if question.get("type") == "mc" and isinstance(answer, dict):
        answer = [choice_text(question, choice) for choice in answer.get("choices", [])]
        if operator in ("empty", "not_empty"):
            return _compare(operator, answer, None)
        return any(_compare(operator, text, condition.get("value")) for text in answer) or (
            operator == "!=" and not answer
        )
    return _compare(operator, answer, condition.get("value"))


def is_displayed(
    question: dict, answers: Mapping[str, Any], embedded: Mapping[str, Any], questions: dict
) -> bool:
    display = question.get("display")
    if not display:
        return True
    results = (
        condition_holds(condition, answers, embedded, questions)
        for condition in display.get("conditions", [])
    )
    return any(results) if display.get("conjunction") == "or" else all(results)


def visible_on_page(
    page: list[dict], answers: Mapping[str, Any], embedded: Mapping[str, Any], questions: dict
) -> list[dict]:
    return [q for q in page if is_displayed(q, answers, embedded, questions)]


def next_page(
    pages: list[list[dict]],
    after: int,
    answers: Mapping[str, Any],
    embedded: Mapping[str, Any],
    questions: dict,
    step: int = 1,
) -> int | None:
    """The index of the next (step=1) or previous (step=-1) page that shows a question."""
    index = after + step
    while 0 <= index < len(pages):
        if visible_on_page(pages[index], answers, embedded, questions):
            return index
        index += step
    return None


def prune_hidden(definition: dict, answers: dict, embedded: Mapping[str, Any]) -> dict:
    """Only the answers of questions that were displayed (in order, so logic chains hold)."""
    kept: dict[str, Any] = {}
    questions = schema.question_map(definition)
    for question in schema.questions(definition):
        qid = question["id"]
        if qid in answers and is_displayed(question, kept, embedded, questions):
            kept[qid] = answers[qid]
    return kept


# Reading answers from a form -----------------------------------------------------------------


@dataclass(frozen=True)
class Parsed:
    value: Any  # None when unanswered
    error: str = ""


def _one(get_list: GetList, name: str) -> str:
    values = get_list(name)
    return values[-1].strip() if values else ""


def parse_answer(question: dict, get_list: GetList) -> Parsed:
    """The answer to one question from submitted form data, or the error to show."""
    qid, qtype = question["id"], question["type"]
    required = question.get("required", False)
    if qtype == "mc":
        return _parse_choice(question, get_list)
    if qtype == "text":
        raw = get_list(qid)
        value = (raw[-1] if raw else "").strip()
        limit = MAX_MULTI_LINE if question.get("multiline") else MAX_SINGLE_LINE
        if len(value) > limit:
            return Parsed(None, f"Your answer is too long: at most {limit} characters.")
        if not value:
            return Parsed(None, "Please answer this question." if required else "")
        if question.get("validation") == "email" and not EMAIL.match(value):
            return Parsed(value, "Please enter a valid email address, like name@example.com.")
        if question.get("validation") == "number" and not NUMBER.match(value):
            return Parsed(value, "Please enter a number.")
        return Parsed(value)
    if qtype in ("nps", "rating"):
        low, high = (0, 10) if qtype == "nps" else (1, question.get("scale", 5))
        raw = _one(get_list, qid)
        if not raw:
            return Parsed(None, "Please choose a value." if required else "")
        if not raw.isdigit() or not low <= int(raw) <= high:
            return Parsed(None, f"Please choose a value from {low} to {high}.")
        return Parsed(int(raw))
    if qtype == "matrix":
        columns = {column["id"] for column in question["columns"]}
        value = {}
        for row in question["rows"]:
            raw = _one(get_list, f"{qid}_ROW_{row['id']}")
            if raw:
                if raw not in columns:
                    return Parsed(None, "Please choose one of the options for each statement.")
                value[row["id"]] = raw
        if required and len(value) < len(question["rows"]):
            return Parsed(value or None, "Please answer every statement.")
        return Parsed(value or None)
    return Parsed(None)


def _parse_choice(question: dict, get_list: GetList) -> Parsed:
    qid = question["id"]
    by_id = {choice["id"]: choice for choice in question["choices"]}
    chosen = [value for value in dict.fromkeys(get_list(qid)) if value]
    if any(value not in by_id for value in chosen):
        return Parsed(None, "Please choose one of the options.")
    if not question.get("multiple") and len(chosen) > 1:
        return Parsed(None, "Please choose only one option.")
    texts = {}
    for choice_id in chosen:
        if by_id[choice_id].get("textEntry"):
            text = _one(get_list, f"{qid}_TEXT_{choice_id}")
            if len(text) > MAX_OTHER_TEXT:
                return Parsed(
                    None, f"Your answer is too long: at most {MAX_OTHER_TEXT} characters."
                )
            if not text:
                value = {"choices": chosen, "text": texts}
                return Parsed(value, f"Please fill in “{by_id[choice_id]['text']}”.")
            texts[choice_id] = text
    if not chosen:
        message = "Please choose an option." if question.get("required") else ""
        return Parsed(None, message)
    value: dict[str, Any] = {"choices": chosen}
    if texts:
        value["text"] = texts
    return Parsed(value)


# Showing answers --------------------------------------------------------------------------------


def choice_text(question: dict, choice_id: str) -> str:
    for option in question.get("choices") or question.get("columns") or []:
        if option["id"] == choice_id:
            return option["text"]
    return ""


def answer_text(question: dict, value: Any) -> str:
    """An answer as one line of text (tables, CSV, piped text)."""
    if value is None:
        return ""
    qtype = question.get("type")
    if qtype == "mc" and isinstance(value, dict):
        parts = []
        for choice in value.get("choices", []):
            text = choice_text(question, choice)
            other = (value.get("text") or {}).get(choice)
            parts.append(f"{text}: {other}" if other else text)
        return ", ".join(parts)
    if qtype == "matrix" and isinstance(value, dict):
        rows = {row["id"]: row["text"] for row in question.get("rows", [])}
        return "; ".join(
            f"{rows.get(row, row)}: {choice_text(question, column)}"
            for row, column in value.items()
        )
    return str(value)


def recode(question: dict, choice_id: str) -> str:
    for option in question.get("choices") or question.get("columns") or []:
        if option["id"] == choice_id:
            return option.get("recode") or option["id"]
    return ""


def piped_answer(item: piping.Field, answers: Mapping[str, Any], questions: dict) -> Any:
    """The value of a `${q://QID…/…}` field for the answers given so far."""
    question = questions.get(item.key)
    if question is None:
        return None
    value = answers.get(item.key)
    selector = item.selector
    qtype = question["type"]
    if selector == "QuestionText":
        return question.get("text", "")
    if selector.startswith("ChoiceGroup/SelectedAnswers/") and qtype == "matrix":
        row = selector.rsplit("/", 1)[1]
        return choice_text(question, value.get(row, "")) if isinstance(value, dict) else None
    if selector.startswith("ChoiceTextEntryValue"):
        if qtype == "text":
            return value
        if qtype == "mc" and isinstance(value, dict):
            texts = value.get("text") or {}
            wanted = selector.split("/", 1)[1] if "/" in selector else None
            return texts.get(wanted) if wanted else ", ".join(texts.values())
        return None
    if selector.startswith("ChoiceNumericEntryValue"):
        return value if qtype in ("nps", "rating") else None
    if qtype == "mc":
        chosen = value.get("choices", []) if isinstance(value, dict) else []
        if selector == "ChoiceGroup/SelectedChoices":
            return [choice_text(question, choice) for choice in chosen]
        if selector == "ChoiceGroup/SelectedChoicesRecode":
            return [recode(question, choice) for choice in chosen]
        if selector == "ChoiceGroup/SelectedChoicesTextEntry":
            return list((value or {}).get("text", {}).values())
        if selector == "ChoiceGroup/UnselectedChoices":
            return [c["text"] for c in question["choices"] if c["id"] not in chosen]
        if selector == "ChoiceGroup/AllChoices":
            return [c["text"] for c in question["choices"]]
        return None
    if qtype in ("nps", "rating") and selector.startswith("ChoiceGroup/Selected"):
        return value
    return None


def nps_group(score: Any) -> str | None:
    if not isinstance(score, int):
        return None
    if score >= 9:
        return "promoter"
    if score >= 7:
        return "passive"
    return "detractor"


# Moving through pages ---------------------------------------------------------------------------


@dataclass
class Step:
    """The outcome of submitting one page."""

    answers: dict
    page: int  # the page to show next (unchanged when there are errors or the page was stale)
    errors: dict[str, str]
    values: dict  # what was submitted, to show again next to the errors
    finished: bool = False
    saved: bool = False  # answers or page changed


def advance(
    definition: dict,
    answers: Mapping[str, Any],
    embedded: Mapping[str, Any],
    current: int,
    submitted: int,
    get_list: GetList,
    *,
    back: bool = False,
) -> Step:
    """Read one submitted page and decide where to go. Going forward validates the page;
    going back keeps whatever was valid and never shows errors. A page that is not the current
    one (a stale tab, a double submit) changes nothing."""
    pages = schema.pages(definition)
    questions = schema.question_map(definition)
    kept = dict(answers)
    if submitted != current or not 0 <= submitted < len(pages):
        return Step(kept, current, {}, {})
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for question in visible_on_page(pages[submitted], kept, embedded, questions):
        parsed = parse_answer(question, get_list)
        values[question["id"]] = parsed.value
        if parsed.error:
            if not back:
                errors[question["id"]] = parsed.error
            continue
        if parsed.value is None:
            kept.pop(question["id"], None)
        else:
            kept[question["id"]] = parsed.value
    if errors:
        return Step(dict(answers), current, errors, values)
    step = -1 if back else 1
    target = next_page(pages, submitted, kept, embedded, questions, step=step)
    if target is None:
        if back:
            return Step(kept, submitted, {}, {}, saved=True)
        return Step(kept, submitted, {}, {}, finished=True, saved=True)
    return Step(kept, target, {}, {}, saved=True)


def progress(definition: dict, page: int, finished: bool = False) -> int:
    if finished:
        return 100
    count = len(schema.pages(definition))
    return int(100 * page / count) if count else 0


def first_page(definition: dict, answers: Mapping[str, Any], embedded: Mapping[str, Any]) -> int:
    """The first page with a visible question (0 if none: the page then finishes at once)."""
    pages = schema.pages(definition)
    found = next_page(pages, -1, answers, embedded, schema.question_map(definition))
    return found or 0


def has_previous(definition: dict, page: int, answers, embedded) -> bool:
    pages = schema.pages(definition)
    questions = schema.question_map(definition)
    return next_page(pages, page, answers, embedded, questions, step=-1) is not None


def is_last_page(definition: dict, page: int, answers, embedded) -> bool:
    """True when submitting this page would finish the response: no later page shows a
    question for these answers. The same rule as `advance`, so "Submit" appears exactly where
    submitting finishes, as far as the answers known now tell (an answer given on this page
    that reveals a later page sends the respondent there instead)."""
    pages = schema.pages(definition)
    questions = schema.question_map(definition)
    return next_page(pages, page, answers, embedded, questions) is None
