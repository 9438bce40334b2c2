"""Checking the rows of an import chunk: everything about a row that needs no database.

Pure (no Django), so that a large import can run it in a second process for the next chunk
while the importing process writes the current one (imports._prepared_chunks). The result is
the same wherever it runs; the chunks are still merged one after the other, in file order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from closeloop.directory import dedup
from closeloop.directory.dedup import InvalidValue
from closeloop.directory.values import clean_bool, clean_embedded_data, clean_text_fields


@dataclass(frozen=True)
class CheckedRow:
    """A row that can be upserted: its values as given, and their match forms."""

    values: dict[str, str]
    unsubscribe: bool | None
    embedded: dict[str, str]
    lookups: list[dedup.Lookup]
    # Standard field -> match form (dedup.normalize_field), for the contact's match columns.
    normalized: dict[str, str]


@dataclass
class CheckedChunk:
    """One import chunk: the rows to upsert and their numbers, the rejected rows' reasons."""

    numbers: list[int] = field(default_factory=list)
    rows: list[CheckedRow] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)  # {"row": number, "reason": text}
    skipped: int = 0  # blank lines
    size: int = 0  # lines of the file in the chunk, blank ones included


def row_values(plan, cells: list[str]) -> tuple[dict, dict]:
    """A row's cells as (standard fields, embedded data) under the column plan."""
    if len(cells) != len(plan):
        raise InvalidValue(f"The row has {len(cells)} cells; the header has {len(plan)}.")
    fields, embedded = {}, {}
    for (kind, name), cell in zip(plan, cells, strict=True):
        if kind == "field":
            fields[name] = cell
        elif kind == "embedded" and cell.strip():
            embedded[name] = cell
    return fields, embedded


def check_row(fields: Mapping, embedded_data, rules, region: str) -> CheckedRow:
    """The row checked as upsert_contact checks it; InvalidValue with the reason otherwise."""
    values = clean_text_fields(fields)
    unsubscribe = clean_bool(fields.get("unsubscribed"), "unsubscribed")
    embedded = clean_embedded_data(embedded_data)
    normalized = {
        name: dedup.normalize_field(name, value, region)
        for name, value in values.items()
        if name in dedup.STANDARD_FIELDS
    }
    return CheckedRow(
        values, unsubscribe, embedded, dedup.lookups(rules, values, embedded, region), normalized
    )


def check_rows(rows: Sequence[tuple[Mapping, Mapping | None]], rules, region: str):
    """(CheckedRow or None, reason) for each (fields, embedded data) row."""
    result = []
    for fields, embedded_data in rows:
        try:
            result.append((check_row(fields, embedded_data, rules, region), ""))
        except InvalidValue as error:
            result.append((None, str(error)))
    return result


def check_chunk(lines: list[tuple[int, list[str]]], plan, rules, region: str) -> CheckedChunk:
    """An import chunk's lines ((row number, cells), cells [] for a blank line) checked."""
    chunk = CheckedChunk(size=len(lines))
    for number, cells in lines:
        if not cells:
            chunk.skipped += 1
            continue
        try:
            fields, embedded = row_values(plan, cells)
            checked = check_row(fields, embedded, rules, region)
        except InvalidValue as error:
            chunk.rejected.append({"row": number, "reason": str(error)})
            continue
        chunk.numbers.append(number)
        chunk.rows.append(checked)
    return chunk
