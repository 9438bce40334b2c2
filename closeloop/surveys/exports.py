"""Response exports: CSV (Qualtrics-like columns) and JSON, and the zip the v3 API serves.

CSV cells that a spreadsheet would read as a formula (starting with =, +, -, @, tab or CR)
are prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable

from closeloop.surveys import definition as schema
from closeloop.surveys import logic
from closeloop.surveys.models import Response, Survey

FIXED_COLUMNS = [
    "ResponseId",
    "StartDate",
    "EndDate",
    "RecordedDate",
    "Status",
    "Progress",
    "Duration (in seconds)",
    "Finished",
    "RecipientFirstName",
    "RecipientLastName",
    "RecipientEmail",
    "ExternalReference",
    "DistributionChannel",
    "UserLanguage",
    "DeliveryId",
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def _date(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def definition_for(survey: Survey) -> dict:
    """The latest published definition (or the draft, for a survey never published)."""
    version = survey.current_version
    return version.definition if version is not None else survey.definition


def question_columns(definition: dict) -> list[tuple[str, str, str, str | None]]:
    """(column, label, qid, part) for every answer column; part is a row or a choice id."""
    columns = []
    for question in schema.questions(definition):
        qid, text = question["id"], question["text"]
        if question["type"] == "matrix":
            for row in question["rows"]:
                columns.append((f"{qid}_{row['id']}", f"{text} - {row['text']}", qid, row["id"]))
            continue
        columns.append((qid, text, qid, None))
        if question["type"] == "mc":
            for choice in question["choices"]:
                if choice.get("textEntry"):
                    label = f"{text} - {choice['text']} - Text"
                    columns.append((f"{qid}_{choice['id']}_TEXT", label, qid, choice["id"]))
    return columns


def _cell(question: dict, value, part: str | None, column: str) -> str:
    if value is None:
        return ""
    if question["type"] == "matrix":
        return logic.choice_text(question, value.get(part, "")) if isinstance(value, dict) else ""
    if question["type"] == "mc" and isinstance(value, dict):
        if column.endswith("_TEXT"):
            return (value.get("text") or {}).get(part, "")
        return ",".join(logic.choice_text(question, choice) for choice in value["choices"])
    return str(value)


def _fixed(response: Response) -> list[str]:
    contact = response.contact
    return [
        response.public_id,
        _date(response.started_at),
        _date(response.finished_at),
        _date(response.finished_at),
        response.status,
        str(response.progress),
        str(response.duration_seconds),
        "True" if response.finished else "False",
        contact.first_name if contact else "",
        contact.last_name if contact else "",
        contact.email if contact else "",
        contact.ext_ref if contact else "",
        (response.metadata or {}).get("channel", ""),
        response.language,
        response.delivery_id,
    ]


def to_csv(survey: Survey, responses: Iterable[Response]) -> str:
    definition = definition_for(survey)
    questions = schema.question_map(definition)
    columns = question_columns(definition)
    embedded = schema.embedded_names(definition)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FIXED_COLUMNS + [c[0] for c in columns] + embedded)
    writer.writerow(FIXED_COLUMNS + [c[1] for c in columns] + embedded)
    for response in responses:
        row = _fixed(response)
        for column, _label, qid, part in columns:
            row.append(_cell(questions[qid], response.answers.get(qid), part, column))
        row += [response.embedded_data.get(name, "") for name in embedded]
        writer.writerow([safe_cell(value) for value in row])
    return out.getvalue()


def response_json(response: Response, questions: dict) -> dict:
    labels = {
        qid: logic.answer_text(questions[qid], value)
        for qid, value in response.answers.items()
        if qid in questions
    }
    contact = response.contact
    return {
        "responseId": response.public_id,
        "values": {
            "startDate": response.started_at.isoformat(),
            "endDate": response.finished_at.isoformat() if response.finished_at else None,
            "status": response.status,
            "progress": response.progress,
            "duration": response.duration_seconds,
            "finished": response.finished,
            "userLanguage": response.language,
            "distributionChannel": (response.metadata or {}).get("channel", ""),
            "contactId": contact.public_id if contact else None,
            "deliveryId": response.delivery_id or None,
            **response.answers,
        },
        "labels": labels,
        "embeddedData": response.embedded_data,
    }


def to_json(survey: Survey, responses: Iterable[Response]) -> str:
    questions = schema.question_map(definition_for(survey))
    body = {"responses": [response_json(response, questions) for response in responses]}
    return json.dumps(body, ensure_ascii=False, indent=1)


def zipped(survey: Survey, responses: Iterable[Response], format: str) -> bytes:
    content = to_csv(survey, responses) if format == "csv" else to_json(survey, responses)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        encoding = "utf-8-sig" if format == "csv" else "utf-8"  # a BOM lets Excel read CSV as UTF-8
        archive.writestr(f"{filename(survey)}.{format}", content.encode(encoding))
    return buffer.getvalue()


def filename(survey: Survey) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in " -_" else "_" for ch in survey.name).strip()
    return cleaned[:80] or survey.public_id
