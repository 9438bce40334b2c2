"""Survey definitions: the JSON schema, its validation, and small helpers. Pure: no Django.

The schema is documented in docs/surveys.md. In short:

    {"schema": 1, "title": "…",
     "blocks": [{"id": "BL_1", "name": "…", "elements": [question | {"type": "page_break"}]}],
     "flow": [{"type": "embedded_data", "fields": [{"name", "source", "value"}]},
              {"type": "block", "block": "BL_1"}],
     "end": {"message": "Thank you ${m://FirstName}!"},
     "options": {"backButton": true, "progressBar": true},
     "translations": {"FR": {"title": …, "end": …, "QID1": {"text", "choices": {id: text}, …}}},
     "nextQuestion": 2, "nextBlock": 2}

`validate(definition)` returns a list of problems ("where: what"); empty means valid.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

from closeloop import piping

SCHEMA_VERSION = 1
QUESTION_TYPES = {
    "mc": "Multiple choice",
    "text": "Text entry",
    "nps": "Net Promoter Score",
    "rating": "Rating scale",
    "matrix": "Matrix table",
}
PAGE_BREAK = "page_break"
TEXT_VALIDATIONS = ("", "email", "number")
RATING_SCALES = (5, 7)
EMBEDDED_SOURCES = {
    "contact": "Contact embedded data",
    "transaction": "Transaction data",
    "query": "Query string",
    "fixed": "Fixed value",
}
OPERATORS = {
    "selected": "is selected",
    "not_selected": "is not selected",
    "=": "is equal to",
    "!=": "is not equal to",
    ">": "is greater than",
    ">=": "is greater than or equal to",
    "<": "is less than",
    "<=": "is less than or equal to",
    "contains": "contains",
    "empty": "is empty",
    "not_empty": "is not empty",
}
CHOICE_OPERATORS = ("selected", "not_selected")
VALUELESS_OPERATORS = ("empty", "not_empty")

MAX_BLOCKS = 50
MAX_QUESTIONS = 500
MAX_CHOICES = 200
MAX_ROWS = 100
MAX_COLUMNS = 20
MAX_CONDITIONS = 20
MAX_EMBEDDED_FIELDS = 100
MAX_TEXT = 5000
MAX_LABEL = 1000
MAX_NAME = 200
MAX_VALUE = 1000
MAX_JSON_BYTES = 1_000_000
MAX_LANGUAGES = 20

QID = re.compile(r"QID[1-9]\d{0,5}\Z")
BLOCK_ID = re.compile(r"BL_[A-Za-z0-9_]{1,40}\Z")
OPTION_ID = re.compile(r"[A-Za-z0-9_]{1,20}\Z")
LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?\Z")


class DefinitionError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems[:5]))


def new_definition(title: str = "") -> dict:
    return {
        "schema": SCHEMA_VERSION,
        "title": title,
        "blocks": [{"id": "BL_1", "name": "Default question block", "elements": []}],
        "flow": [{"type": "block", "block": "BL_1"}],
        "end": {"message": "Thank you for your time. Your response has been recorded."},
        "options": {"backButton": True, "progressBar": True},
        "translations": {},
        "nextQuestion": 1,
        "nextBlock": 2,
    }


def new_question(qtype: str, qid: str) -> dict:
    question: dict[str, Any] = {"id": qid, "type": qtype, "text": "", "required": False}
    if qtype == "mc":
        question.update(
            text="Which option fits best?",
            multiple=False,
            choices=[
                {"id": "1", "text": "Option 1", "recode": "1", "textEntry": False},
                {"id": "2", "text": "Option 2", "recode": "2", "textEntry": False},
            ],
        )
    elif qtype == "text":
        question.update(text="Tell us more.", multiline=False, validation="")
    elif qtype == "nps":
        question.update(
            text="How likely are you to recommend us to a friend or colleague?",
            lowLabel="Not at all likely",
            highLabel="Extremely likely",
        )
    elif qtype == "rating":
        question.update(
            text="How satisfied are you?",
            scale=5,
            lowLabel="Very dissatisfied",
            highLabel="Very satisfied",
        )
    elif qtype == "matrix":
        question.update(
            text="How much do you agree with each statement?",
            rows=[{"id": "1", "text": "Statement 1"}, {"id": "2", "text": "Statement 2"}],
            columns=[
                {"id": str(number), "text": text, "recode": str(number)}
                for number, text in enumerate(
                    ["Strongly disagree", "Disagree", "Neutral", "Agree", "Strongly agree"], 1
                )
            ],
        )
    else:
        raise DefinitionError([f"unknown question type {qtype!r}"])
    return question


# Reading ------------------------------------------------------------------------------------


def ordered_blocks(definition: dict) -> list[dict]:
    """Blocks in survey-flow order (blocks missing from the flow come last)."""
    by_id = {block["id"]: block for block in definition.get("blocks", [])}
    ordered = []
    for element in definition.get("flow", []):
        if element.get("type") == "block" and element.get("block") in by_id:
            ordered.append(by_id.pop(element["block"]))
    return ordered + list(by_id.values())


def questions(definition: dict) -> Iterator[dict]:
    """Every question in the order respondents meet them."""
    for block in ordered_blocks(definition):
        for element in block.get("elements", []):
            if element.get("type") != PAGE_BREAK:
                yield element


def question_map(definition: dict) -> dict[str, dict]:
    return {question["id"]: question for question in questions(definition)}


def pages(definition: dict) -> list[list[dict]]:
    """Questions grouped into pages: each block starts a page, page breaks split them."""
    result: list[list[dict]] = []
    for block in ordered_blocks(definition):
        current: list[dict] = []
        for element in block.get("elements", []):
            if element.get("type") == PAGE_BREAK:
                if current:
                    result.append(current)
                current = []
            else:
                current.append(element)
        if current:
            result.append(current)
    return result


def embedded_fields(definition: dict) -> list[dict]:
    """The survey flow's embedded data fields, in flow order."""
    fields = []
    for element in definition.get("flow", []):
        if element.get("type") == "embedded_data":
            fields.extend(element.get("fields", []))
    return fields


def embedded_names(definition: dict) -> list[str]:
    return [item["name"] for item in embedded_fields(definition)]


def find_question(definition: dict, qid: str) -> tuple[dict, int] | None:
    """(block, index in its elements) of a question, or None."""
    for block in definition.get("blocks", []):
        for index, element in enumerate(block.get("elements", [])):
            if element.get("id") == qid and element.get("type") != PAGE_BREAK:
                return block, index
    return None


def next_option_id(options: list[dict]) -> str:
    numbers = [int(option["id"]) for option in options if str(option.get("id", "")).isdigit()]
    return str(max(numbers, default=0) + 1)


def translated(definition: dict, language: str | None) -> dict:
    """A copy of the definition with the texts of `language` where it has them."""
    table = (definition.get("translations") or {}).get(language or "")
    if not table:
        return definition
    result = copy.deepcopy(definition)
    if table.get("title"):
        result["title"] = table["title"]
    if table.get("end"):
        result.setdefault("end", {})["message"] = table["end"]
    for question in questions(result):
        entry = table.get(question["id"])
        if not isinstance(entry, dict):
            continue
        for key in ("text", "lowLabel", "highLabel"):
            if entry.get(key):
                question[key] = entry[key]
        for key in ("choices", "rows", "columns"):
            texts = entry.get(key) or {}
            for option in question.get(key, []):
                if texts.get(option["id"]):
                    option["text"] = texts[option["id"]]
    return result


# Validation ---------------------------------------------------------------------------------


class _Problems(list):
    def add(self, where: str, what: str) -> None:
        self.append(f"{where}: {what}" if where else what)


def validate(definition: Any) -> list[str]:
    """Every problem of a definition, as "where: what" strings. [] means valid."""
    problems = _Problems()
    if not isinstance(definition, dict):
        problems.add("", "the definition must be a JSON object")
        return problems
    try:
        size = len(json.dumps(definition))
    except (TypeError, ValueError):
        problems.add("", "the definition must be plain JSON")
        return problems
    if size > MAX_JSON_BYTES:
        problems.add("", f"the definition is too large ({size} bytes; at most {MAX_JSON_BYTES})")
        return problems
    if definition.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
        problems.add("schema", f"must be {SCHEMA_VERSION}")
    _text(problems, "title", definition.get("title", ""), MAX_NAME, required=False)
    blocks = definition.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        problems.add("blocks", "must be a non-empty list")
        return problems
    if len(blocks) > MAX_BLOCKS:
        problems.add("blocks", f"at most {MAX_BLOCKS}")
        return problems
    block_ids: set[str] = set()
    for number, block in enumerate(blocks):
        where = f"blocks[{number}]"
        if not isinstance(block, dict):
            problems.add(where, "must be an object")
            continue
        block_id = block.get("id")
        if not isinstance(block_id, str) or not BLOCK_ID.match(block_id):
            problems.add(f"{where}.id", "must look like BL_1")
        elif block_id in block_ids:
            problems.add(f"{where}.id", f"{block_id} is used twice")
        else:
            block_ids.add(block_id)
        _text(problems, f"{where}.name", block.get("name", ""), MAX_NAME, required=False)
        if not isinstance(block.get("elements"), list):
            problems.add(f"{where}.elements", "must be a list")
    if problems:
        return problems
    embedded = _validate_flow(problems, definition.get("flow"), block_ids)
    seen: dict[str, dict] = {}
    count = 0
    for block in ordered_blocks(definition):
        for index, element in enumerate(block["elements"]):
            where = f"{block['id']}.elements[{index}]"
            if not isinstance(element, dict):
                problems.add(where, "must be an object")
                continue
            if element.get("type") == PAGE_BREAK:
                continue
            count += 1
            qid = element.get("id")
            if isinstance(qid, str) and QID.match(qid):
                where = qid
                if qid in seen:
                    problems.add(qid, "question id used twice")
            else:
                problems.add(f"{where}.id", "must look like QID1")
            _validate_question(problems, where, element, seen, embedded)
            if isinstance(qid, str):
                seen[qid] = element
    if count > MAX_QUESTIONS:
        problems.add("blocks", f"at most {MAX_QUESTIONS} questions")
    next_question = definition.get("nextQuestion", 1)
    if not isinstance(next_question, int) or isinstance(next_question, bool):
        problems.add("nextQuestion", "must be a number")
    end = definition.get("end", {})
    if not isinstance(end, dict):
        problems.add("end", "must be an object")
    else:
        _text(problems, "end.message", end.get("message", ""), MAX_TEXT, required=False)
        _piped(problems, "end.message", end.get("message", ""), embedded, seen)
    options = definition.get("options", {})
    if not isinstance(options, dict) or not all(
        isinstance(options.get(key, True), bool) for key in ("backButton", "progressBar")
    ):
        problems.add("options", "backButton and progressBar must be true or false")
    _validate_translations(problems, definition.get("translations", {}), seen)
    return problems


def check(definition: Any) -> dict:
    problems = validate(definition)
    if problems:
        raise DefinitionError(problems)
    return definition


def _text(problems: _Problems, where: str, value: Any, limit: int, *, required: bool) -> None:
    if not isinstance(value, str):
        problems.add(where, "must be text")
    elif required and not value.strip():
        problems.add(where, "must not be empty")
    elif len(value) > limit:
        problems.add(where, f"is too long ({len(value)} characters; at most {limit})")


def _piped(problems: _Problems, where: str, text: Any, embedded: set[str], earlier: dict) -> None:
    if not isinstance(text, str) or ("${" not in text and "~{" not in text):
        return
    available = {
        "m": piping.CONTACT_FIELDS,
        "e": embedded,
        "q": earlier,
        "date": None,
    }
    for item in piping.unknown_fields(text, available):
        if item.scheme == "e" and item.key:
            hint = "add it to the survey flow as an embedded data field (names are case-sensitive)"
        elif item.scheme == "q":
            hint = "only earlier questions can be piped"
        else:
            hint = "this field is not available in surveys"
        problems.add(where, f"unknown piped text {item.raw}: {hint}")


def _validate_flow(problems: _Problems, flow: Any, block_ids: set[str]) -> set[str]:
    names: set[str] = set()
    if not isinstance(flow, list):
        problems.add("flow", "must be a list")
        return names
    placed: set[str] = set()
    count = 0
    for number, element in enumerate(flow):
        where = f"flow[{number}]"
        if not isinstance(element, dict):
            problems.add(where, "must be an object")
            continue
        kind = element.get("type")
        if kind == "block":
            block_id = element.get("block")
            if block_id not in block_ids:
                problems.add(where, f"unknown block {block_id!r}")
            elif block_id in placed:
                problems.add(where, f"block {block_id} appears twice in the flow")
            else:
                placed.add(block_id)
        elif kind == "embedded_data":
            fields = element.get("fields")
            if not isinstance(fields, list):
                problems.add(f"{where}.fields", "must be a list")
                continue
            for index, item in enumerate(fields):
                count += 1
                spot = f"{where}.fields[{index}]"
                if not isinstance(item, dict):
                    problems.add(spot, "must be an object")
                    continue
                name = item.get("name")
                _text(problems, f"{spot}.name", name, MAX_NAME, required=True)
                if isinstance(name, str) and name.strip():
                    if name != name.strip():
                        problems.add(f"{spot}.name", "must not start or end with spaces")
                    if "{" in name or "}" in name:
                        problems.add(f"{spot}.name", "must not contain braces")
                    if name in names:
                        problems.add(f"{spot}.name", f"{name!r} is defined twice")
                    names.add(name)
                if item.get("source", "contact") not in EMBEDDED_SOURCES:
                    problems.add(f"{spot}.source", "must be one of " + ", ".join(EMBEDDED_SOURCES))
                _text(problems, f"{spot}.value", item.get("value", ""), MAX_VALUE, required=False)
        else:
            problems.add(f"{where}.type", "must be block or embedded_data")
    for missing in sorted(block_ids - placed):
        problems.add("flow", f"block {missing} is not in the survey flow")
    if count > MAX_EMBEDDED_FIELDS:
        problems.add("flow", f"at most {MAX_EMBEDDED_FIELDS} embedded data fields")
    return names


def _validate_options(
    problems: _Problems, where: str, options: Any, *, low: int, high: int, recode: bool
) -> None:
    if not isinstance(options, list) or not low <= len(options) <= high:
        problems.add(where, f"must be a list of {low} to {high} items")
        return
    ids: set[str] = set()
    for index, option in enumerate(options):
        spot = f"{where}[{index}]"
        if not isinstance(option, dict):
            problems.add(spot, "must be an object")
            continue
        option_id = option.get("id")
        if not isinstance(option_id, str) or not OPTION_ID.match(option_id):
            problems.add(f"{spot}.id", "must be 1-20 letters, digits or _")
        elif option_id in ids:
            problems.add(f"{spot}.id", f"{option_id} is used twice")
        else:
            ids.add(option_id)
        _text(problems, f"{spot}.text", option.get("text"), MAX_LABEL, required=True)
        if recode:
            value = option.get("recode", "")
            if not isinstance(value, str) or len(value) > 20:
                problems.add(f"{spot}.recode", "must be text of at most 20 characters")
        if "textEntry" in option and not isinstance(option["textEntry"], bool):
            problems.add(f"{spot}.textEntry", "must be true or false")


def _validate_question(
    problems: _Problems, where: str, question: dict, earlier: dict, embedded: set[str]
) -> None:
    qtype = question.get("type")
    if qtype not in QUESTION_TYPES:
        problems.add(f"{where}.type", "must be one of " + ", ".join(QUESTION_TYPES))
        return
    _text(problems, f"{where}.text", question.get("text"), MAX_TEXT, required=True)
    _piped(problems, f"{where}.text", question.get("text"), embedded, earlier)
    if not isinstance(question.get("required", False), bool):
        problems.add(f"{where}.required", "must be true or false")
    if qtype == "mc":
        if not isinstance(question.get("multiple", False), bool):
            problems.add(f"{where}.multiple", "must be true or false")
        _validate_options(
            problems,
            f"{where}.choices",
            question.get("choices"),
            low=1,
            high=MAX_CHOICES,
            recode=True,
        )
        for choice in question.get("choices") or []:
            if isinstance(choice, dict):
                _piped(problems, f"{where}.choices", choice.get("text"), embedded, earlier)
    elif qtype == "text":
        if not isinstance(question.get("multiline", False), bool):
            problems.add(f"{where}.multiline", "must be true or false")
        if question.get("validation", "") not in TEXT_VALIDATIONS:
            problems.add(f"{where}.validation", "must be empty, email or number")
    elif qtype == "rating" and question.get("scale") not in RATING_SCALES:
        problems.add(f"{where}.scale", "must be 5 or 7")
    elif qtype == "matrix":
        _validate_options(
            problems, f"{where}.rows", question.get("rows"), low=1, high=MAX_ROWS, recode=False
        )
        _validate_options(
            problems,
            f"{where}.columns",
            question.get("columns"),
            low=2,
            high=MAX_COLUMNS,
            recode=True,
        )
    if qtype in ("nps", "rating"):
        for key in ("lowLabel", "highLabel"):
            _text(problems, f"{where}.{key}", question.get(key, ""), MAX_LABEL, required=False)
    display = question.get("display")
    if display is not None:
        _validate_display(problems, f"{where}.display", display, earlier, embedded)


def _validate_display(
    problems: _Problems, where: str, display: Any, earlier: dict, embedded: set[str]
) -> None:
    if not isinstance(display, dict):
        problems.add(where, "must be an object or null")
        return
    if display.get("conjunction", "and") not in ("and", "or"):
        problems.add(f"{where}.conjunction", "must be and or or")
    conditions = display.get("conditions")
    if not isinstance(conditions, list) or not 1 <= len(conditions) <= MAX_CONDITIONS:
        problems.add(f"{where}.conditions", f"must be a list of 1 to {MAX_CONDITIONS}")
        return
    for index, condition in enumerate(conditions):
        spot = f"{where}.conditions[{index}]"
        if not isinstance(condition, dict):
            problems.add(spot, "must be an object")
            continue
        operator = condition.get("op")
        if operator not in OPERATORS:
            problems.add(f"{spot}.op", "unknown operator")
            continue
        if "embedded" in condition:
            name = condition["embedded"]
            if name not in embedded:
                problems.add(spot, f"embedded data field {name!r} is not in the survey flow")
            if operator in CHOICE_OPERATORS:
                problems.add(f"{spot}.op", "embedded data has no choices")
        else:
            qid = condition.get("question")
            target = earlier.get(qid) if isinstance(qid, str) else None
            if target is None:
                problems.add(spot, f"{qid!r} is not an earlier question")
                continue
            if operator in CHOICE_OPERATORS:
                options = target.get("choices") or target.get("columns") or []
                if target.get("type") not in ("mc", "matrix"):
                    problems.add(f"{spot}.op", f"{qid} has no choices")
                elif condition.get("choice") not in {option.get("id") for option in options}:
                    problems.add(f"{spot}.choice", f"not a choice of {qid}")
                if target.get("type") == "matrix" and condition.get("row") not in {
                    row.get("id") for row in target.get("rows", [])
                }:
                    problems.add(f"{spot}.row", f"not a statement of {qid}")
        if operator not in VALUELESS_OPERATORS and operator not in CHOICE_OPERATORS:
            value = condition.get("value")
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                problems.add(f"{spot}.value", "must be text or a number")
            elif len(str(value)) > MAX_VALUE:
                problems.add(f"{spot}.value", "is too long")


def _validate_translations(problems: _Problems, translations: Any, questions_by_id: dict) -> None:
    if not isinstance(translations, dict):
        problems.add("translations", "must be an object")
        return
    if len(translations) > MAX_LANGUAGES:
        problems.add("translations", f"at most {MAX_LANGUAGES} languages")
        return
    for language, table in translations.items():
        where = f"translations.{language}"
        if not LANGUAGE.match(str(language)):
            problems.add(where, "language codes look like EN, FR or PT-BR")
        if not isinstance(table, dict):
            problems.add(where, "must be an object")
            continue
        for key, entry in table.items():
            if key in ("title", "end"):
                _text(problems, f"{where}.{key}", entry, MAX_TEXT, required=False)
                continue
            if key not in questions_by_id:
                problems.add(f"{where}.{key}", "unknown question")
                continue
            if not isinstance(entry, dict):
                problems.add(f"{where}.{key}", "must be an object")
                continue
            for text_key in ("text", "lowLabel", "highLabel"):
                if text_key in entry:
                    _text(
                        problems,
                        f"{where}.{key}.{text_key}",
                        entry[text_key],
                        MAX_TEXT,
                        required=False,
                    )
            for option_key in ("choices", "rows", "columns"):
                texts = entry.get(option_key, {})
                if not isinstance(texts, dict) or not all(
                    isinstance(value, str) and len(value) <= MAX_LABEL for value in texts.values()
                ):
                    problems.add(f"{where}.{key}.{option_key}", "must map ids to short texts")
