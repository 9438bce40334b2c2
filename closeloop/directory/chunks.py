"""Checking incoming contacts: everything about a row that needs no database.

Pure (no Django). check_row / check_rows check rows one by one (the bulk upsert of workflow
runs); check_chunk_columns checks an import chunk column by column, in the import's second
process (imports._in_second_process) while the importing process writes the previous
chunk. The result is the same wherever it runs; chunks are merged in file order.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from closeloop.directory import dedup
from closeloop.directory.dedup import InvalidValue
from closeloop.directory.values import (
    MAX_EMBEDDED_NAME,
    MAX_EMBEDDED_VALUE,
    TEXT_FIELDS,
    clean_bool,
    clean_embedded_data,
    clean_text_fields,
)


@dataclass(frozen=True)
class CheckedRow:
    """A row that can be upserted: its values as given, and their match forms."""

    values: dict[str, str]
    unsubscribe: bool | None
    embedded: dict[str, str]
    lookups: list[dedup.Lookup]
    # Standard field -> match form (dedup.normalize_field), for the contact's match columns.
    normalized: dict[str, str]


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


# Import chunks, column by column ----------------------------------------------------------------

# Contact columns whose COPY text the checking process writes for a row that becomes a new
# contact (ChunkRows.lines); the importing process adds id, public id, tenant and times.
LINE_COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "ext_ref",
    "language",
    "embedded_data",
    "phone_e164",
    "email_normalized",
    "ext_ref_normalized",
    "first_name_normalized",
    "last_name_normalized",
)
_LINE_VALUES = ("firstName", "lastName", "email", "phone", "extRef", "language")
_LINE_MATCHES = ("phone", "email", "extRef", "firstName", "lastName")
# PostgreSQL COPY text format: these four characters are written as escapes.
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


_LAZY_COLUMNS = ("values", "normalized", "embedded")


@dataclass
class ChunkRows:
    """An import chunk checked, column by column: a million-row import builds no object per
    row, and the chunk crosses from the checking process to the importing one as a few lists.

    Position i of every column is the i-th accepted row (file row number numbers[i]).
    """

    rules: list
    region: str
    numbers: list[int] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)  # {"row": number, "reason": text}
    skipped: int = 0  # blank lines
    size: int = 0  # lines of the file in the chunk, blank ones included
    values: dict[str, list[str]] = field(default_factory=dict)  # standard field -> trimmed
    normalized: dict[str, list[str]] = field(default_factory=dict)  # match field -> match form
    embedded: dict[str, list[str]] = field(default_factory=dict)  # name -> cell as given
    unsubscribe: list[bool] | None = None
    keys: list[list[str | None]] = field(default_factory=list)  # per rule: lookup key or None
    # dedup.probe_fields of a rule -> the rows' match forms of those fields: a text for one
    # field (most rules: no tuple per row to make, pickle and sort), else a tuple of texts
    probes: dict[tuple[str, ...], set] = field(default_factory=dict)
    lines: list[str | None] = field(default_factory=list)  # LINE_COLUMNS as COPY text

    def __len__(self) -> int:
        return len(self.numbers)

    # Sent to the importing process as one pickled blob, unpickled only if a row of the chunk
    # needs them (a merge, a draft): most chunks of an import never do, and unpickling their
    # 70,000 texts took half of receiving a chunk, on the process that also drives the
    # database.
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if "_columns" not in state:  # else still the blob this chunk arrived with
            columns = {name: state.pop(name) for name in _LAZY_COLUMNS}
            state["_columns"] = pickle.dumps(columns, protocol=pickle.HIGHEST_PROTOCOL)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def __getattr__(self, name: str):
        # Only called for attributes not set: the lazy columns of an unpickled chunk.
        columns = self.__dict__.get("_columns")
        if name not in _LAZY_COLUMNS or columns is None:
            raise AttributeError(name)
        self.__dict__.update(pickle.loads(columns))  # noqa: S301 - our own checking process's
        del self.__dict__["_columns"]
        return self.__dict__[name]

    def row_values(self, position: int) -> dict[str, str]:
        return {name: column[position] for name, column in self.values.items()}

    def row_embedded(self, position: int) -> dict[str, str]:
        return {
            name: column[position]
            for name, column in self.embedded.items()
            if column[position].strip()
        }

    def row_unsubscribe(self, position: int) -> bool | None:
        return None if self.unsubscribe is None else self.unsubscribe[position]

    def row_keys(self, position: int) -> list[str]:
        return [keys[position] for keys in self.keys if keys[position] is not None]


def check_chunk_columns(lines: list[tuple[int, list[str]]], plan, rules, region: str) -> ChunkRows:
    """An import chunk's lines ((row number, cells), cells [] for a blank line) checked as
    check_row checks each row (the same rows accepted, the same first reason), column by
    column."""
    chunk = ChunkRows(rules=rules, region=region, size=len(lines))
    width = len(plan)
    numbers, rows = [], []
    for number, cells in lines:
        if not cells:
            chunk.skipped += 1
        elif len(cells) != width:
            chunk.rejected.append(
                {
                    "row": number,
                    "reason": f"The row has {len(cells)} cells; the header has {width}.",
                }
            )
        else:
            numbers.append(number)
            rows.append(cells)
    columns = list(zip(*rows, strict=True)) if rows else [()] * width
    reasons: dict[int, str] = {}  # position -> the first reason, in check_row's order
    values, normalized, unsubscribe, embedded = _checked_columns(plan, columns, region, reasons)
    if reasons:
        keep = [position for position in range(len(rows)) if position not in reasons]
        for position, reason in reasons.items():
            chunk.rejected.append({"row": numbers[position], "reason": reason})
        chunk.rejected.sort(key=lambda item: item["row"])
        numbers = [numbers[position] for position in keep]
        for group in (values, normalized, embedded):
            for name, column in group.items():
                group[name] = [column[position] for position in keep]
        if unsubscribe is not None:
            unsubscribe = [unsubscribe[position] for position in keep]
    chunk.numbers, chunk.values, chunk.normalized = numbers, values, normalized
    chunk.embedded, chunk.unsubscribe = embedded, unsubscribe
    _add_keys(chunk)
    chunk.lines = _copy_lines(chunk)
    return chunk


def _checked_columns(plan, columns, region: str, reasons: dict[int, str]):
    """The columns trimmed and normalised; a reason per bad position (the first one wins)."""
    where = {target: position for position, target in enumerate(plan)}
    values, normalized = {}, {}
    for name, limit in TEXT_FIELDS.items():
        if ("field", name) not in where:
            continue
        column = [cell.strip() for cell in columns[where["field", name]]]
        if column and max(map(len, column)) > limit:
            for position, text in enumerate(column):
                if len(text) > limit:
                    reasons.setdefault(position, f"{name} is longer than {limit} characters.")
        if name == "email":
            normalized[name] = _checked_emails(column, reasons)
        elif name == "phone":
            normalized[name] = [dedup.normalize_phone(text, region) for text in column]
        elif name in dedup.STANDARD_FIELDS:
            normalized[name] = list(map(dedup.normalize_text, column))
        values[name] = column
    unsubscribe = None
    if ("field", "unsubscribed") in where:
        unsubscribe = []
        for position, cell in enumerate(columns[where["field", "unsubscribed"]]):
            try:
                unsubscribe.append(bool(clean_bool(cell, "unsubscribed")))
            except InvalidValue as error:
                reasons.setdefault(position, str(error))
                unsubscribe.append(False)
    embedded = {}
    for (kind, name), position in where.items():
        if kind != "embedded":
            continue
        column = columns[position]
        for row, cell in enumerate(column):
            too_long = len(cell) > MAX_EMBEDDED_VALUE or len(name) > MAX_EMBEDDED_NAME
            if too_long and cell.strip():
                try:
                    clean_embedded_data({name: cell})
                except InvalidValue as error:
                    reasons.setdefault(row, str(error))
        embedded[name] = list(column)
    return values, normalized, unsubscribe, embedded


def _checked_emails(column: list[str], reasons: dict[int, str]) -> list[str]:
    result = []
    for position, text in enumerate(column):
        try:
            result.append(dedup.normalize_email(text))
        except InvalidValue as error:
            reasons.setdefault(position, str(error))
            result.append("")
    return result


def _rule_column(chunk: ChunkRows, name: str) -> list[str] | None:
    """A dedup rule field's match forms (dedup.lookups' incoming value), None if absent."""
    if name in dedup.STANDARD_FIELDS:
        return chunk.normalized.get(name)
    cells = chunk.embedded.get(name)
    if cells is None:
        return None
    return [dedup.normalize_text(cell) if cell.strip() else "" for cell in cells]


def _add_keys(chunk: ChunkRows) -> None:
    """Each rule's lookup key per row (dedup.Lookup.key), None where the rule is skipped."""
    count = len(chunk.numbers)
    for index, rule in enumerate(chunk.rules):
        columns = [_rule_column(chunk, name) for name in rule]
        if any(column is None for column in columns):
            chunk.keys.append([None] * count)
            continue
        keys: list[str | None]
        if len(rule) == 1:  # the usual rule: one list comprehension
            prefix = f"{index}\x1f{rule[0]}\x1e"
            keys = [prefix + value if value else None for value in columns[0]]
        else:
            keys = [
                dedup.lookup_key(index, tuple(zip(rule, parts, strict=True)))
                if all(parts)
                else None
                for parts in zip(*columns, strict=True)
            ]
        chunk.keys.append(keys)
        fields = dedup.probe_fields(rule)
        wanted = chunk.probes.setdefault(fields, set())
        probed = columns[0] if len(fields) == 1 else zip(*columns[: len(fields)], strict=True)
        wanted.update(values for values, key in zip(probed, keys, strict=True) if key)


def _copy_lines(chunk: ChunkRows) -> list[str | None]:
    """The LINE_COLUMNS of each row as PostgreSQL COPY text, for a row that becomes a new
    contact as it is; None for an unsubscribing row (its time is the importer's)."""
    count = len(chunk.numbers)
    blank = [""] * count
    texts = [chunk.values.get(name, blank) for name in _LINE_VALUES]
    matches = {name: chunk.normalized.get(name, blank) for name in _LINE_MATCHES}
    parts = [
        *texts,
        _embedded_json(chunk, count),
        *(matches[name] for name in _LINE_MATCHES),
    ]
    escaped = [_copy_escaped(column) for column in parts]
    lines: list[str | None] = list(map("\t".join, zip(*escaped, strict=True)))
    if chunk.unsubscribe is not None:
        for position, unsubscribe in enumerate(chunk.unsubscribe):
            if unsubscribe:
                lines[position] = None
    return lines


def _copy_escaped(column: list[str]) -> list[str]:
    """The column's texts escaped for COPY; most columns have nothing to escape (one scan)."""
    joined = "".join(column)
    if "\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined:
        return [text.translate(COPY_ESCAPES) for text in column]
    return column


def _embedded_json(chunk: ChunkRows, count: int) -> list[str]:
    """Each row's non-blank embedded data as JSON text (as json.dumps writes the dict)."""
    if not chunk.embedded:
        return ["{}"] * count
    encode = json.encoder.encode_basestring_ascii
    names = [(encode(name), column) for name, column in chunk.embedded.items()]
    result = []
    for position in range(count):
        members = [
            f"{name}: {encode(column[position])}"
            for name, column in names
            if column[position].strip()
        ]
        result.append("{" + ", ".join(members) + "}")
    return result
