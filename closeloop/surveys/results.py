"""Per-question summaries of responses (counts, NPS, means) for the results page."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from closeloop.surveys import definition as schema
from closeloop.surveys import logic

LATEST_TEXTS = 10


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


def _bars(labels: list[tuple[str, str]], counts: Counter, whole: int) -> list[dict]:
    return [
        {"key": key, "label": label, "count": counts[key], "percent": _percent(counts[key], whole)}
        for key, label in labels
    ]


def summarize(definition: dict, answer_sets: Iterable[dict]) -> list[dict]:
    """One summary per question of `definition` over the answers given (dicts by question id)."""
    questions = list(schema.questions(definition))
    tallies: dict[str, Counter] = {q["id"]: Counter() for q in questions}
    answered: Counter = Counter()
    texts: dict[str, list[str]] = {q["id"]: [] for q in questions}
    matrix: dict[str, dict[str, Counter]] = {
        q["id"]: {row["id"]: Counter() for row in q["rows"]}
        for q in questions
        if q["type"] == "matrix"
    }
    by_id = {q["id"]: q for q in questions}
    total = 0
    for answers in answer_sets:
        total += 1
        for qid, value in (answers or {}).items():
            question = by_id.get(qid)
            if question is None or value is None:
                continue
            answered[qid] += 1
            qtype = question["type"]
            if qtype == "mc" and isinstance(value, dict):
                tallies[qid].update(value.get("choices", []))
            elif qtype in ("nps", "rating") and isinstance(value, int):
                tallies[qid][str(value)] += 1
            elif qtype == "text" and isinstance(value, str):
                texts[qid].append(value)
            elif qtype == "matrix" and isinstance(value, dict):
                for row, column in value.items():
                    if row in matrix[qid]:
                        matrix[qid][row][column] += 1
    return [_summary(question, tallies, answered, texts, matrix, total) for question in questions]


def _summary(question, tallies, answered, texts, matrix, total) -> dict[str, Any]:
    qid, qtype = question["id"], question["type"]
    count = answered[qid]
    summary: dict[str, Any] = {
        "id": qid,
        "type": qtype,
        "text": question["text"],
        "answered": count,
        "total": total,
    }
    if qtype == "mc":
        labels = [(c["id"], c["text"]) for c in question["choices"]]
        summary["bars"] = _bars(labels, tallies[qid], count)
    elif qtype in ("nps", "rating"):
        low, high = (0, 10) if qtype == "nps" else (1, question.get("scale", 5))
        labels = [(str(n), str(n)) for n in range(low, high + 1)]
        summary["bars"] = _bars(labels, tallies[qid], count)
        points = sum(int(key) * n for key, n in tallies[qid].items())
        summary["mean"] = round(points / count, 2) if count else None
        if qtype == "nps":
            groups = Counter()
            for key, n in tallies[qid].items():
                groups[logic.nps_group(int(key))] += n
            summary["groups"] = [
                {
                    "key": key,
                    "label": label,
                    "count": groups[key],
                    "percent": _percent(groups[key], count),
                }
                for key, label in (
                    ("promoter", "Promoters (9-10)"),
                    ("passive", "Passives (7-8)"),
                    ("detractor", "Detractors (0-6)"),
                )
            ]
            summary["nps"] = (
                round(_percent(groups["promoter"], count) - _percent(groups["detractor"], count))
                if count
                else None
            )
    elif qtype == "text":
        summary["latest"] = texts[qid][-LATEST_TEXTS:][::-1]
    elif qtype == "matrix":
        labels = [(c["id"], c["text"]) for c in question["columns"]]
        summary["rows"] = [
            {
                "text": row["text"],
                "bars": _bars(labels, matrix[qid][row["id"]], sum(matrix[qid][row["id"]].values())),
            }
            for row in question["rows"]
        ]
    return summary
