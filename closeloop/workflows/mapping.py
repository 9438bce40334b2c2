"""JSON event payloads: safe parsing, JSONPath field mapping with types, automatic mapping.

Pure Python, no Django, so that it can be tested and benchmarked alone.

A mapping is a list of `{"name", "path", "type"}`: a field name offered to conditions and
piped text (`~{ch://<event id>/<name>}`), an RFC 9535 JSONPath into the payload, and one of
String, Number, Boolean. `extract` applies a mapping to a payload and says, field by field,
which values do not fit their type.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass

import jsonpath_rfc9535

FIELD_TYPES = ("String", "Number", "Boolean")
MAX_BODY_BYTES = 100 * 1024
MAX_DEPTH = 64
MAX_FIELDS = 200
MAX_NAME = 100
MAX_PATH = 500
MAX_STRING_VALUE = 10_000

_NAME = re.compile(r"[^{}\s/][^{}]*\Z")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NUMBER = re.compile(r"\s*-?(?:0|[1-9]\d{0,30})(?:\.\d{1,30})?(?:[eE][+-]?\d{1,3})?\s*\Z")


class PayloadError(ValueError):
    """The body cannot be used: not JSON, too deep, not an object or array."""


class _Environment(jsonpath_rfc9535.JSONPathEnvironment):
    """RFC 9535 without the regular-expression functions match() and search().

    A pattern written in a path would run against text sent by whoever holds the trigger
    URL; leaving them out keeps evaluation linear in the payload's size.
    """

    def setup_function_extensions(self) -> None:
        super().setup_function_extensions()
        self.function_extensions.pop("match", None)
        self.function_extensions.pop("search", None)


_ENVIRONMENT = _Environment()


# Parsing -------------------------------------------------------------------------------------


# A JSON string: from a quote to the next quote not escaped by a backslash (which escapes any
# character), or to the end of an unclosed one.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def nesting_depth(text: str, limit: int = MAX_DEPTH) -> int:
    """How deeply arrays and objects nest in a JSON text, counting up to limit + 1 (linear).

    The strings and all but the brackets are taken out by regular expressions first, so that
    Python steps through the brackets only, not through every character of a body. Without a
    backslash every quote opens or closes a string: the parts between the quotes are
    alternately outside and inside strings."""
    outside = _STRING.sub("", text) if "\\" in text else "".join(text.split('"')[::2])
    depth = deepest = 0
    for char in _NOT_BRACKET.sub("", outside):
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        else:
            depth -= 1
    return deepest


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:20]} is too large")
    return number


# Strict JSON (no NaN or Infinity, no number too large for a float), for callers that decode
# a body piece by piece (raw_decode); parse_json reads a whole text with the same rules.
JSON_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def parse_json(text: str, *, max_depth: int = MAX_DEPTH) -> object:
    """The JSON value of `text`, or PayloadError with a sentence saying what is wrong.

    Nesting is checked before parsing, so a 10,000-level document is refused in linear time
    instead of exhausting the parser's recursion.
    """
    if nesting_depth(text, max_depth) > max_depth:
        raise PayloadError(f"The JSON is nested more than {max_depth} levels deep.")
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise PayloadError(f"The JSON is nested more than {max_depth} levels deep.") from None
    except ValueError as error:
        raise PayloadError(f"The body is not valid JSON: {error}.") from None
    return value


def parse_payload(text: str) -> dict | list:
    return as_payload(parse_json(text))


def as_payload(value: object) -> dict | list:
    """A parsed JSON value as an event payload: an object or an array, else PayloadError."""
    if not isinstance(value, dict | list):
        raise PayloadError("The body must be a JSON object or array.")
    return value


# Mappings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldError:
    name: str
    message: str


@functools.lru_cache(maxsize=2048)
def compile_path(path: str):
    """A compiled RFC 9535 query; raises ValueError with the reason when the path is invalid."""
    if len(path) > MAX_PATH:
        raise ValueError(f"A JSONPath is at most {MAX_PATH} characters.")
    if not path.startswith("$"):
        raise ValueError("A JSONPath starts with $ (for example $.customer.email).")
    try:
        return _ENVIRONMENT.compile(path)
    except jsonpath_rfc9535.JSONPathError as error:
        raise ValueError(f"{path} is not a valid JSONPath: {error}") from None


def validate_mappings(rows: object) -> list[str]:
    """Problems with a list of {name, path, type}; empty when it can be saved."""
    if not isinstance(rows, list):
        return ["The field mapping must be a list of {name, path, type}."]
    if len(rows) > MAX_FIELDS:
        return [f"At most {MAX_FIELDS} fields can be mapped."]
    problems: list[str] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            problems.append(f"Field {number}: must be an object with name, path and type.")
            continue
        name = row.get("name")
        label = f"Field {number}"
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{label}: give it a name.")
        else:
            label = f'Field "{name}"'
            if len(name) > MAX_NAME:
                problems.append(f"{label}: a name is at most {MAX_NAME} characters.")
            elif not _NAME.match(name):
                problems.append(
                    f"{label}: a name cannot contain braces or start with / or a space."
                )
            elif name in seen:
                problems.append(f"{label}: this name is used twice.")
            seen.add(name)
        path = row.get("path")
        if not isinstance(path, str) or not path.strip():
            problems.append(f"{label}: give it a JSONPath (for example $.email).")
        else:
            try:
                compile_path(path.strip())
            except ValueError as error:
                problems.append(f"{label}: {error}")
        if row.get("type") not in FIELD_TYPES:
            problems.append(f"{label}: the type must be one of {', '.join(FIELD_TYPES)}.")
    return problems


def clean_mappings(rows: list[dict]) -> list[dict]:
    """The rows as stored: stripped name and path, type; rows left wholly blank are dropped."""
    cleaned = []
    for row in rows:
        name = str(row.get("name") or "").strip()
        path = str(row.get("path") or "").strip()
        if not name and not path:
            continue
        cleaned.append({"name": name, "path": path, "type": row.get("type") or "String"})
    return cleaned


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "…"
        return f"the text {json.dumps(shown, ensure_ascii=False)}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "null"


def coerce(value: object, field_type: str) -> object:
    """A payload value as a String, Number or Boolean field; ValueError when it does not fit.

    None (null, or no match) stays None: an empty field, never an error.
    """
    if value is None:
        return None
    if field_type == "String":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, str):
            if len(value) > MAX_STRING_VALUE:
                raise ValueError(f"is longer than {MAX_STRING_VALUE} characters")
            return value
        raise ValueError(f"should be a String, but the value is {_describe(value)}")
    if field_type == "Number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            if not value.strip():
                return None
            if _NUMBER.match(value):
                number = float(value)
                return int(number) if number.is_integer() and "." not in value else number
        raise ValueError(f"should be a Number, but the value is {_describe(value)}")
    if field_type == "Boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            folded = value.strip().lower()
            if folded in ("true", "false"):
                return folded == "true"
            if not folded:
                return None
        raise ValueError(
            f"should be a Boolean (true or false), but the value is {_describe(value)}"
        )
    raise ValueError(f"has an unknown type {field_type!r}")


def extract(payload: object, rows: list[dict]) -> tuple[dict[str, object], list[FieldError]]:
    """Apply a mapping: {name: typed value} and the fields whose values do not fit.

    A path that matches nothing gives None. A path that matches several values gives them
    joined with ", " for a String field, and an error for a Number or Boolean field.
    """
    values: dict[str, object] = {}
    errors: list[FieldError] = []
    for row in rows:
        name, path, field_type = row["name"], row["path"], row["type"]
        try:
            query = compile_path(path)
            matched = query.find(payload).values()
        except (ValueError, jsonpath_rfc9535.JSONPathError) as error:
            errors.append(FieldError(name, f'Field "{name}" ({path}): {error}'))
            continue
        try:
            if not matched:
                value = None
            elif len(matched) == 1:
                value = coerce(matched[0], field_type)
            elif field_type == "String":
                parts = [coerce(item, "String") for item in matched]
                value = ", ".join(part for part in parts if part is not None)
            else:
                raise ValueError(f"matched {len(matched)} values; a {field_type} takes one")
        except ValueError as error:
            errors.append(FieldError(name, f'Field "{name}" ({path}) {error}.'))
            continue
        values[name] = value
    return values, errors


# Automatic mapping ---------------------------------------------------------------------------


def _path_step(key: str) -> str:
    if _IDENTIFIER.match(key):
        return f".{key}"
    return "[" + json.dumps(key, ensure_ascii=False) + "]"


def _name_step(key: str) -> str:
    cleaned = key.replace("{", "(").replace("}", ")").replace("/", "_").strip()
    return cleaned or "_"


def infer_type(value: object) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int | float):
        return "Number"
    return "String"


def leaves(sample: object, limit: int = MAX_FIELDS) -> list[dict]:
    """A mapping row for every leaf of a sample payload, in document order, with inferred types.

    Names are the keys from the top joined with "." (array positions as [0]), so two leaves
    never share a name.
    """
    rows: list[dict] = []

    def visit(value: object, path: str, name: str) -> None:
        if len(rows) >= limit:
            return
        if isinstance(value, dict):
            for key, item in value.items():
                step = _name_step(str(key))
                visit(item, path + _path_step(str(key)), f"{name}.{step}" if name else step)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                visit(item, f"{path}[{index}]", f"{name}[{index}]" if name else f"[{index}]")
        else:
            rows.append({"name": name or "value", "path": path, "type": infer_type(value)})

    visit(sample, "$", "")
    return rows


def merge_mappings(existing: list[dict], suggested: list[dict]) -> list[dict]:
    """The existing rows, then the suggested ones whose path and name are both new."""
    paths = {row["path"] for row in existing}
    names = {row["name"] for row in existing}
    merged = list(existing)
    for row in suggested:
        if row["path"] in paths or row["name"] in names:
            continue
        merged.append(row)
        paths.add(row["path"])
        names.add(row["name"])
    return merged[:MAX_FIELDS]
