"""Edits the builder makes to a draft definition. Pure: each function returns a new definition
(the input is never changed) or raises DefinitionError with a message for the user."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from closeloop.surveys import definition as schema
from closeloop.surveys.definition import DefinitionError


def _copy(definition: dict) -> dict:
    return copy.deepcopy(definition)


def _question(definition: dict, qid: str) -> dict:
    found = schema.find_question(definition, qid)
    if found is None:
        raise DefinitionError([f"There is no question {qid}."])
    block, index = found
    return block["elements"][index]


def _block(definition: dict, block_id: str | None) -> dict:
    blocks = definition["blocks"]
    if block_id is None:
        return schema.ordered_blocks(definition)[-1]
    for block in blocks:
        if block["id"] == block_id:
            return block
    raise DefinitionError([f"There is no block {block_id}."])


def add_question(definition: dict, qtype: str, block_id: str | None = None) -> tuple[dict, str]:
    if qtype not in schema.QUESTION_TYPES:
        raise DefinitionError([f"Unknown question type {qtype!r}."])
    result = _copy(definition)
    if sum(1 for _ in schema.questions(result)) >= schema.MAX_QUESTIONS:
        raise DefinitionError([f"A survey has at most {schema.MAX_QUESTIONS} questions."])
    number = max(int(result.get("nextQuestion", 1)), _highest_qid(result) + 1)
    qid = f"QID{number}"
    _block(result, block_id)["elements"].append(schema.new_question(qtype, qid))
    result["nextQuestion"] = number + 1
    return result, qid


def _highest_qid(definition: dict) -> int:
    return max((int(q["id"][3:]) for q in schema.questions(definition)), default=0)


def add_page_break(definition: dict, block_id: str | None = None) -> dict:
    result = _copy(definition)
    _block(result, block_id)["elements"].append({"type": schema.PAGE_BREAK})
    return result


def add_block(definition: dict, name: str = "") -> tuple[dict, str]:
    result = _copy(definition)
    if len(result["blocks"]) >= schema.MAX_BLOCKS:
        raise DefinitionError([f"A survey has at most {schema.MAX_BLOCKS} blocks."])
    taken = {block["id"] for block in result["blocks"]}
    number = int(result.get("nextBlock", len(taken) + 1))
    while f"BL_{number}" in taken:
        number += 1
    block_id = f"BL_{number}"
    result["blocks"].append({"id": block_id, "name": name or f"Block {number}", "elements": []})
    result["flow"].append({"type": "block", "block": block_id})
    result["nextBlock"] = number + 1
    return result, block_id


def delete_element(definition: dict, block_id: str, index: int) -> dict:
    """Delete a question or page break; display conditions that used the question go too."""
    result = _copy(definition)
    block = _block(result, block_id)
    if not 0 <= index < len(block["elements"]):
        raise DefinitionError(["That element no longer exists."])
    removed = block["elements"].pop(index)
    if removed.get("type") != schema.PAGE_BREAK:
        _forget_question(result, removed["id"])
    return result


def delete_question(definition: dict, qid: str) -> dict:
    found = schema.find_question(definition, qid)
    if found is None:
        raise DefinitionError([f"There is no question {qid}."])
    return delete_element(definition, found[0]["id"], found[1])


def _forget_question(definition: dict, qid: str) -> None:
    for question in schema.questions(definition):
        display = question.get("display")
        if display:
            kept = [c for c in display.get("conditions", []) if c.get("question") != qid]
            question["display"] = {**display, "conditions": kept} if kept else None
    for table in (definition.get("translations") or {}).values():
        table.pop(qid, None)


def move_element(definition: dict, block_id: str, index: int, offset: int) -> dict:
    """Move an element up (-1) or down (+1) within its block."""
    result = _copy(definition)
    elements = _block(result, block_id)["elements"]
    target = index + offset
    if not 0 <= index < len(elements) or not 0 <= target < len(elements):
        return result
    elements[index], elements[target] = elements[target], elements[index]
    return result


def move_question(definition: dict, qid: str, offset: int) -> dict:
    found = schema.find_question(definition, qid)
    if found is None:
        raise DefinitionError([f"There is no question {qid}."])
    return move_element(definition, found[0]["id"], found[1], offset)


QUESTION_FIELDS = {
    "text": str,
    "required": bool,
    "multiple": bool,
    "multiline": bool,
    "validation": str,
    "scale": int,
    "lowLabel": str,
    "highLabel": str,
}


def update_question(definition: dict, qid: str, changes: dict[str, Any]) -> dict:
    """Set simple fields of a question (text, required, multiple, …); unknown keys refused."""
    result = _copy(definition)
    question = _question(result, qid)
    for key, value in changes.items():
        kind = QUESTION_FIELDS.get(key)
        if kind is None or not isinstance(value, kind):
            raise DefinitionError([f"{key} cannot be set to {value!r}."])
        question[key] = value
    return result


def set_options(definition: dict, qid: str, key: str, options: list[dict]) -> dict:
    """Replace the choices, rows or columns of a question. Options without an id get one."""
    if key not in ("choices", "rows", "columns"):
        raise DefinitionError([f"Questions have no {key}."])
    result = _copy(definition)
    question = _question(result, qid)
    if key not in question:
        raise DefinitionError([f"This question has no {key}."])
    fresh = []
    for option in options:
        option = dict(option)
        if not option.get("id"):
            option["id"] = schema.next_option_id(fresh + question[key])
        fresh.append(option)
    question[key] = fresh
    return result


def add_option(definition: dict, qid: str, key: str, text: str = "") -> dict:
    question = _question(definition, qid)
    options = question.get(key)
    if options is None:
        raise DefinitionError([f"This question has no {key}."])
    option_id = schema.next_option_id(options)
    option: dict[str, Any] = {"id": option_id, "text": text or f"Option {option_id}"}
    if key != "rows":
        option["recode"] = option_id
    if key == "choices":
        option["textEntry"] = False
    return set_options(definition, qid, key, [*options, option])


def delete_option(definition: dict, qid: str, key: str, option_id: str) -> dict:
    question = _question(definition, qid)
    options = [option for option in question.get(key, []) if option["id"] != option_id]
    result = set_options(definition, qid, key, options)
    for other in schema.questions(result):
        display = other.get("display")
        if display:
            kept = [
                c
                for c in display.get("conditions", [])
                if not (c.get("question") == qid and option_id in (c.get("choice"), c.get("row")))
            ]
            other["display"] = {**display, "conditions": kept} if kept else None
    return result


def set_display(definition: dict, qid: str, display: dict | None) -> dict:
    result = _copy(definition)
    _question(result, qid)["display"] = display or None
    return result


def set_embedded_fields(definition: dict, fields: list[dict]) -> dict:
    """The survey flow's embedded data: one element placed before the first block."""
    result = _copy(definition)
    flow = [element for element in result["flow"] if element.get("type") != "embedded_data"]
    cleaned = [
        {
            "name": str(item.get("name", "")).strip(),
            "source": item.get("source") or "contact",
            "value": str(item.get("value", "")),
        }
        for item in fields
    ]
    if cleaned:
        flow.insert(0, {"type": "embedded_data", "fields": cleaned})
    result["flow"] = flow
    return result


def set_end_message(definition: dict, message: str) -> dict:
    result = _copy(definition)
    result.setdefault("end", {})["message"] = message
    return result


def set_title(definition: dict, title: str) -> dict:
    result = _copy(definition)
    result["title"] = title
    return result


# Translations ---------------------------------------------------------------------------------

TEXT_KEYS = {"text": "question text", "lowLabel": "low end label", "highLabel": "high end label"}
OPTION_KEYS = {"choices": "choice", "rows": "statement", "columns": "scale point"}


@dataclass(frozen=True)
class TranslatableText:
    """One text of the survey next to its translation (key: the form field's name)."""

    key: str  # "title", "end", "QID1.text", "QID2.choices.3"
    label: str
    original: str
    translated: str
    long: bool = False


def translatable_texts(definition: dict, language: str) -> list[TranslatableText]:
    """Every text a respondent can see, in survey order, with its translation (or "")."""
    table = (definition.get("translations") or {}).get(language) or {}
    texts = [
        TranslatableText(
            "title", "Survey title", definition.get("title", ""), table.get("title", "")
        ),
    ]
    for question in schema.questions(definition):
        qid, entry = question["id"], table.get(question["id"]) or {}
        for key, what in TEXT_KEYS.items():
            if question.get(key):
                label = f"{qid} {what}"
                long = key == "text"
                texts.append(
                    TranslatableText(f"{qid}.{key}", label, question[key], entry.get(key, ""), long)
                )
        for key, what in OPTION_KEYS.items():
            translated = entry.get(key) or {}
            for number, option in enumerate(question.get(key, []), start=1):
                texts.append(
                    TranslatableText(
                        f"{qid}.{key}.{option['id']}",
                        f"{qid} {what} {number}",
                        option["text"],
                        translated.get(option["id"], ""),
                    )
                )
    end = (definition.get("end") or {}).get("message", "")
    texts.append(TranslatableText("end", "Thank-you message", end, table.get("end", ""), True))
    return [text for text in texts if text.original or text.translated]


def set_translations(definition: dict, language: str, values: dict[str, str]) -> dict:
    """The translations of `language` from {key: text} (keys of translatable_texts; others
    are ignored). A blank text removes the translation: respondents see the original."""
    result = _copy(definition)
    known = {text.key for text in translatable_texts(definition, language)}
    table: dict[str, Any] = {}
    for key, value in values.items():
        value = (value or "").strip()
        if key not in known or not value:
            continue
        if key in ("title", "end"):
            table[key] = value
            continue
        qid, field, *option = key.split(".")
        entry = table.setdefault(qid, {})
        if option:
            entry.setdefault(field, {})[option[0]] = value
        else:
            entry[field] = value
    translations = result.setdefault("translations", {})
    if table:
        translations[language] = table
    else:
        translations.pop(language, None)
    return result


def drop_translations(definition: dict, language: str) -> dict:
    result = _copy(definition)
    result.setdefault("translations", {}).pop(language, None)
    return result
