"""A survey definition with every question type, display logic and an embedded data field."""

from __future__ import annotations

import copy

from closeloop.surveys.definition import new_definition, new_question

SAMPLE = {
    "schema": 1,
    "title": "How did we do?",
    "blocks": [
        {
            "id": "BL_1",
            "name": "Main",
            "elements": [
                {
                    "id": "QID1",
                    "type": "nps",
                    "text": "${m://FirstName}, how likely are you to recommend ${e://Field/Store}?",
                    "required": True,
                    "lowLabel": "Not at all likely",
                    "highLabel": "Extremely likely",
                },
                {"type": "page_break"},
                {
                    "id": "QID2",
                    "type": "mc",
                    "text": "What could we improve?",
                    "required": False,
                    "multiple": True,
                    "choices": [
                        {"id": "1", "text": "Speed", "recode": "1", "textEntry": False},
                        {"id": "2", "text": "Price", "recode": "2", "textEntry": False},
                        {"id": "3", "text": "Other", "recode": "9", "textEntry": True},
                    ],
                    "display": {
                        "conjunction": "and",
                        "conditions": [{"question": "QID1", "op": "<=", "value": 6}],
                    },
                },
                {"type": "page_break"},
                {
                    "id": "QID3",
                    "type": "rating",
                    "text": "You chose ${q://QID2/ChoiceGroup/SelectedChoices}. Rate the staff.",
                    "required": True,
                    "scale": 5,
                    "lowLabel": "Poor",
                    "highLabel": "Excellent",
                },
                {
                    "id": "QID4",
                    "type": "matrix",
                    "text": "How much do you agree?",
                    "required": False,
                    "rows": [{"id": "1", "text": "Friendly"}, {"id": "2", "text": "Quick"}],
                    "columns": [
                        {"id": "1", "text": "Disagree", "recode": "1"},
                        {"id": "2", "text": "Neutral", "recode": "2"},
                        {"id": "3", "text": "Agree", "recode": "3"},
                    ],
                },
                {"type": "page_break"},
                {
                    "id": "QID5",
                    "type": "text",
                    "text": "Your email, if we may follow up",
                    "required": False,
                    "multiline": False,
                    "validation": "email",
                },
                {
                    "id": "QID6",
                    "type": "text",
                    "text": "Anything else about ${e://Field/Store}?",
                    "required": False,
                    "multiline": True,
                    "validation": "",
                    "display": {
                        "conjunction": "or",
                        "conditions": [{"embedded": "Store", "op": "=", "value": "Oslo"}],
                    },
                },
            ],
        }
    ],
    "flow": [
        {"type": "embedded_data", "fields": [{"name": "Store", "source": "contact", "value": ""}]},
        {"type": "block", "block": "BL_1"},
    ],
    "end": {"message": "Thank you ${m://FirstName}! We will share this with ${e://Field/Store}."},
    "options": {"backButton": True, "progressBar": True},
    "translations": {"FR": {"QID1": {"text": "Recommanderiez-vous ${e://Field/Store} ?"}}},
    "nextQuestion": 7,
    "nextBlock": 2,
}


def sample() -> dict:
    return copy.deepcopy(SAMPLE)


def simple(*types: str) -> dict:
    definition = new_definition("Simple")
    for number, qtype in enumerate(types or ("nps",), 1):
        definition["blocks"][0]["elements"].append(new_question(qtype, f"QID{number}"))
    definition["nextQuestion"] = len(types or ("nps",)) + 1
    return definition
