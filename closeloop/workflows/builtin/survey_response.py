"""The survey response event: a response to the workflow's survey was recorded.

Config: {"includePartial": false} — partial responses (closed after inactivity) start the
workflow only when asked. One run per response (dedup key: the response id).

Fields: responseId, surveyId, finished, recordedDate, duration, progress, language,
contact.* (contactId, firstName, lastName, email, phone, extRef), embeddedData.<name> for the
survey flow's embedded data, and QIDn for each question (the answer as text; numbers for
NPS and rating questions).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from closeloop.surveys import definition as survey_definition
from closeloop.surveys import logic
from closeloop.workflows.registry import EventType, OfferedField

CONTACT_FIELDS = (
    ("contactId", "public_id"),
    ("firstName", "first_name"),
    ("lastName", "last_name"),
    ("email", "email"),
    ("phone", "phone"),
    ("extRef", "ext_ref"),
)
NUMERIC_QUESTIONS = ("nps", "rating")


def _definition(survey) -> dict:
    if survey is None:
        return {}
    return survey.definition or {}


class SurveyResponseEvent(EventType):
    key = "survey_response"
    label = "Survey response"
    description = "Started when a response to the workflow's survey is recorded."
    needs_survey = True
    dedup = "One run per response."
    editor_template = "workflows/events/survey_response.html"

    def default_config(self) -> dict:
        return {"includePartial": False}

    def clean_config(self, config: Mapping) -> dict:
        return {"includePartial": bool(config.get("includePartial", False))}

    def validate_config(self, config: Mapping, *, organization, survey) -> list[str]:
        unknown = sorted(set(config) - {"includePartial"})
        problems = [f"The survey response event has no setting {name!r}." for name in unknown]
        if not isinstance(config.get("includePartial", False), bool):
            problems.append("includePartial must be true or false.")
        if survey is not None and survey.organization_id != getattr(organization, "pk", None):
            problems.append("The survey belongs to another organization.")
        return problems

    def fields(self, config: Mapping, *, survey=None) -> list[OfferedField]:
        offered = [
            OfferedField("responseId", "String", "Response ID"),
            OfferedField("surveyId", "String", "Survey ID"),
            OfferedField("finished", "Boolean", "Finished"),
            OfferedField("recordedDate", "String", "Recorded date"),
            OfferedField("duration", "Number", "Duration (seconds)"),
            OfferedField("progress", "Number", "Progress (%)"),
            OfferedField("language", "String", "Language"),
        ]
        offered += [
            OfferedField(f"contact.{name}", "String", f"Contact {name}")
            for name, _attribute in CONTACT_FIELDS
        ]
        definition = _definition(survey)
        if definition:
            offered += [
                OfferedField(f"embeddedData.{name}", "String", f"Embedded data {name}")
                for name in survey_definition.embedded_names(definition)
            ]
            for question in survey_definition.questions(definition):
                qtype = "Number" if question.get("type") in NUMERIC_QUESTIONS else "String"
                text = (question.get("text") or "").strip()
                label = f"{question['id']}: {text[:60]}" if text else question["id"]
                offered.append(OfferedField(question["id"], qtype, label))
        return offered

    def config_from_form(self, data, previous: Mapping) -> dict:
        return {"includePartial": data.get("includePartial") == "on"}


def response_event(response) -> tuple[str, dict]:
    """(payload as JSON text, fields) of a recorded response."""
    definition = response.version.definition
    questions = survey_definition.question_map(definition)
    contact = response.contact
    contact_values = {
        name: (getattr(contact, attribute, "") if contact is not None else "")
        for name, attribute in CONTACT_FIELDS
    }
    recorded = response.finished_at.isoformat() if response.finished_at else ""
    payload = {
        "responseId": response.public_id,
        "surveyId": response.survey.public_id,
        "finished": response.finished,
        "recordedDate": recorded,
        "duration": response.duration_seconds,
        "progress": response.progress,
        "language": response.language,
        "values": response.answers,
        "embeddedData": response.embedded_data,
        "contact": contact_values,
    }
    fields: dict[str, object] = {
        "responseId": response.public_id,
        "surveyId": response.survey.public_id,
        "finished": response.finished,
        "recordedDate": recorded,
        "duration": response.duration_seconds,
        "progress": response.progress,
        "language": response.language,
    }
    fields.update({f"contact.{name}": value for name, value in contact_values.items()})
    for name, value in (response.embedded_data or {}).items():
        fields[f"embeddedData.{name}"] = value if isinstance(value, str) else str(value)
    for qid, value in (response.answers or {}).items():
        question = questions.get(qid)
        if question is None:
            continue
        if question.get("type") in NUMERIC_QUESTIONS and isinstance(value, int | float):
            fields[qid] = value
        else:
            fields[qid] = logic.answer_text(question, value)
    return json.dumps(payload, ensure_ascii=False, default=str), fields
