"""Qualtrics piped text: parse, inspect and render `${m://FirstName}`-style fields.

Pure Python, no Django: the same engine renders emails, SMS, survey pages and workflow tasks.

Syntax (one field = sigil, `{`, scheme, `://`, body, `}`; the body never contains braces):

    ${m://FirstName}                    contact field (FirstName, LastName, Email, …)
    ${e://Field/Store Name}             embedded data; names are case-sensitive, may hold spaces
    ${l://SurveyLink?d=Take the survey} link as <a> in HTML (the URL in text); SurveyURL: the URL
    ${l://OptOutLink?d=Unsubscribe}     same for the opt-out link (OptOutURL: the URL)
    ${q://QID1/ChoiceGroup/SelectedChoices}   an answer (see QUESTION_SELECTORS)
    ${date://CurrentDate/Y-m-d}         the current date (named formats SL, FL, DS, PT, ISO or
                                        PHP-style letters; `%2F` etc. are decoded)
    ~{ch://OCAC_1/$.Case.Subject}       workflow data: an event's or a task's field or JSON path

Anything else is literal text. Unknown or unresolvable fields render as the empty string.

Rendering never executes code: a context maps each scheme to a mapping or a callable.

    render(text, {"m": {"FirstName": "Ann"}, "e": embedded, "l": links, "q": answer_of,
                  "ch": step_outputs, "now": datetime}, escape_html=True)

A mapping is looked up by `Field.key` (the contact field, the embedded data name, the link
name, or for q/date/ch the whole path, except that a ch mapping is keyed by step id and walks
the selector); a callable receives the `Field` and returns a value (None for unknown).
Values become text (lists joined with ", "), then are HTML-escaped when `escape_html`.

Parsing and rendering take time linear in the length of the text.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl, unquote

__all__ = [
    "CONTACT_FIELDS",
    "LINK_NAMES",
    "QUESTION_SELECTORS",
    "Field",
    "Text",
    "fields_used",
    "format_date",
    "parse",
    "render",
    "unknown_fields",
    "walk_path",
]

CONTACT_FIELDS = ("FirstName", "LastName", "Email", "Phone", "ExternalDataReference", "Language")
LINK_NAMES = ("SurveyLink", "SurveyURL", "OptOutLink", "OptOutURL")
# Which answer a q:// field shows. A trailing /<id> (a matrix row, a choice) is allowed.
QUESTION_SELECTORS = (
    "ChoiceGroup/SelectedChoices",
    "ChoiceGroup/SelectedChoicesRecode",
    "ChoiceGroup/SelectedChoicesTextEntry",
    "ChoiceGroup/UnselectedChoices",
    "ChoiceGroup/AllChoices",
    "ChoiceGroup/SelectedAnswers",
    "ChoiceTextEntryValue",
    "ChoiceNumericEntryValue",
    "QuestionText",
)
DATE_NAMES = ("CurrentDate", "CurrentTime")
SCHEMES = ("m", "e", "l", "q", "date", "ch")

# `[^{}]*` stops at the next brace, so every attempt ends at the next candidate field: linear.
_FIELD = re.compile(r"([$~])\{([a-z]+)://([^{}]*)\}")
_QID = re.compile(r"QID\d+\Z")


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Field:
    """One piped-text field as written, and what it names."""

    raw: str
    sigil: str  # "$" or "~"
    scheme: str  # m, e, l, q, date, ch (or anything else: unknown)
    path: str  # everything after "://", before any "?" for links
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The name the field refers to: FirstName, the embedded data name, SurveyLink …"""
        if self.scheme == "e":
            return self.path[len("Field/") :] if self.path.startswith("Field/") else ""
        if self.scheme in ("q", "ch"):
            return self.path.split("/", 1)[0]
        if self.scheme == "date":
            return self.path.split("/", 1)[0]
        return self.path

    @property
    def selector(self) -> str:
        """What to take from the thing named: a q:// answer selector, a ch:// field or JSON path,
        a date format."""
        if self.scheme in ("q", "ch", "date"):
            parts = self.path.split("/", 1)
            return parts[1] if len(parts) == 2 else ""
        return ""

    @property
    def is_well_formed(self) -> bool:
        if self.sigil == "~":
            return self.scheme == "ch" and bool(self.key) and bool(self.selector)
        if self.scheme == "m":
            return bool(self.path)
        if self.scheme == "e":
            return bool(self.key)
        if self.scheme == "l":
            return self.path in LINK_NAMES
        if self.scheme == "q":
            return bool(_QID.match(self.key)) and _valid_question_selector(self.selector)
        if self.scheme == "date":
            return self.key in DATE_NAMES
        return False


Segment = Text | Field


def _valid_question_selector(selector: str) -> bool:
    return any(
        selector == known or selector.startswith(known + "/") for known in QUESTION_SELECTORS
    )


def _make_field(sigil: str, scheme: str, body: str, raw: str) -> Field:
    options: dict[str, str] = {}
    path = body
    if scheme == "l" and "?" in body:
        path, query = body.split("?", 1)
        for name, value in parse_qsl(query, keep_blank_values=True):
            options[name] = value
    elif scheme == "date":
        path = unquote(body)
    return Field(raw=raw, sigil=sigil, scheme=scheme, path=path, options=options)


def parse(text: str) -> list[Segment]:
    """The text as a list of Text and Field segments, in order (adjacent text is merged)."""
    segments: list[Segment] = []
    position = 0
    for match in _FIELD.finditer(text):
        sigil, scheme, body = match.groups()
        if sigil == "~" and scheme != "ch":
            continue  # only workflow fields use the ~ sigil; anything else stays text
        if match.start() > position:
            segments.append(Text(text[position : match.start()]))
        segments.append(_make_field(sigil, scheme, body, match.group(0)))
        position = match.end()
    if position < len(text):
        segments.append(Text(text[position:]))
    return _merge_text(segments)


def _merge_text(segments: list[Segment]) -> list[Segment]:
    merged: list[Segment] = []
    for segment in segments:
        if isinstance(segment, Text) and merged and isinstance(merged[-1], Text):
            merged[-1] = Text(merged[-1].value + segment.value)
        else:
            merged.append(segment)
    return merged


def fields_used(text: str) -> list[Field]:
    """Every field in the text, in order of first use, without repeats."""
    seen: dict[str, Field] = {}
    for segment in parse(text):
        if isinstance(segment, Field) and segment.raw not in seen:
            seen[segment.raw] = segment
    return list(seen.values())


Available = Mapping[str, Collection[str] | Callable[[Field], bool] | None]


def unknown_fields(text: str, available: Available) -> list[Field]:
    """Fields a save-time check should refuse: malformed, of a scheme not offered, or naming
    something not in `available[scheme]` (a collection of keys, a predicate, or None = any)."""
    unknown = []
    for item in fields_used(text):
        if not item.is_well_formed or item.scheme not in available:
            unknown.append(item)
            continue
        allowed = available[item.scheme]
        if allowed is None:
            continue
        known = allowed(item) if callable(allowed) else item.key in allowed
        if not known:
            unknown.append(item)
    return unknown


# Rendering ---------------------------------------------------------------------------------

Context = Mapping[str, object]


def render(
    text: str,
    context: Context,
    *,
    escape_html: bool,
    escape_text: bool = False,
) -> str:
    """The text with every field replaced by its value.

    escape_html: values are HTML-escaped and links become <a> elements (for HTML output).
    escape_text: the literal text is escaped too (for plain-text templates shown in HTML,
    such as survey questions). Unknown fields render as "".
    """
    out: list[str] = []
    for segment in parse(text):
        if isinstance(segment, Text):
            out.append(html.escape(segment.value) if escape_text else segment.value)
        else:
            out.append(_render_field(segment, context, escape_html))
    return "".join(out)


def _render_field(item: Field, context: Context, escape_html: bool) -> str:
    if not item.is_well_formed:
        return ""
    if item.scheme == "l":
        return _render_link(item, context, escape_html)
    if item.scheme == "date":
        value = _resolve(item, context)
        if value is None:
            now = context.get("now")
            value = format_date(now if isinstance(now, datetime) else datetime.now(UTC), item)
    else:
        value = _resolve(item, context)
    text = to_text(value)
    return html.escape(text) if escape_html else text


def _resolve(item: Field, context: Context) -> object:
    source = context.get(item.scheme)
    if source is None:
        return None
    if callable(source):
        return source(item)
    if isinstance(source, Mapping):
        if item.scheme == "ch":
            return walk_path(source.get(item.key), item.selector)
        if item.scheme in ("q", "date"):
            return source.get(item.path)
        return source.get(item.key)
    return None


_LINK_FALLBACK = {
    "SurveyLink": "SurveyURL",
    "SurveyURL": "SurveyLink",
    "OptOutLink": "OptOutURL",
    "OptOutURL": "OptOutLink",
}


def _render_link(item: Field, context: Context, escape_html: bool) -> str:
    url = _resolve(item, context)
    if url is None:
        source = context.get("l")
        if isinstance(source, Mapping):
            url = source.get(_LINK_FALLBACK[item.key])
    url = to_text(url)
    if not url:
        return ""
    if not escape_html:
        return url
    safe = url.lower().startswith(("http://", "https://"))
    if item.key.endswith("Link") and safe:
        label = item.options.get("d") or url
        return f'<a href="{html.escape(url)}">{html.escape(label)}</a>'
    return html.escape(url)


def to_text(value: object) -> str:
    """A value as piped text: None → "", booleans as true/false, lists joined with ", "."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return ", ".join(to_text(item) for item in value if item is not None)
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


# Workflow data: a small, safe path walker ---------------------------------------------------

_PATH_STEP = re.compile(r"""\.([^.\[\]]+)|\[(\d+)\]|\[(['"])(.*?)\3\]""")


def walk_path(data: object, selector: str) -> object:
    """`Name`, `$.a.b[0]['c d']` in `data`; None when any step is missing. No filters, no
    wildcards: a workflow that needs full JSONPath passes a callable resolver instead."""
    if data is None or not selector:
        return None
    if not selector.startswith("$"):
        return data.get(selector) if isinstance(data, Mapping) else None
    position, current = 1, data
    while position < len(selector):
        match = _PATH_STEP.match(selector, position)
        if match is None:
            return None
        name, index, _quote, quoted = match.groups()
        if index is not None:
            if not isinstance(current, list) or int(index) >= len(current):
                return None
            current = current[int(index)]
        else:
            key = name if name is not None else quoted
            if not isinstance(current, Mapping) or key not in current:
                return None
            current = current[key]
        position = match.end()
    return current


# Dates ---------------------------------------------------------------------------------------

NAMED_DATE_FORMATS = {
    "SL": "m/d/Y",  # 06/21/2024
    "DS": "F j, Y",  # June 21, 2024
    "FL": "l, F j, Y",  # Friday, June 21, 2024
    "PT": "g:i A",  # 3:04 PM
    "ISO": "Y-m-d\\TH:i:sP",  # 2024-06-21T15:04:05+00:00
}
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _offset(moment: datetime) -> str:
    delta = moment.utcoffset()
    if delta is None:
        return "+00:00"
    minutes = int(delta.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


_DATE_LETTERS: dict[str, Callable[[datetime], str]] = {
    "Y": lambda d: f"{d.year:04d}",
    "y": lambda d: f"{d.year % 100:02d}",
    "m": lambda d: f"{d.month:02d}",
    "n": lambda d: str(d.month),
    "d": lambda d: f"{d.day:02d}",
    "j": lambda d: str(d.day),
    "F": lambda d: _MONTHS[d.month - 1],
    "M": lambda d: _MONTHS[d.month - 1][:3],
    "l": lambda d: _DAYS[d.weekday()],
    "D": lambda d: _DAYS[d.weekday()][:3],
    "H": lambda d: f"{d.hour:02d}",
    "G": lambda d: str(d.hour),
    "h": lambda d: f"{(d.hour % 12) or 12:02d}",
    "g": lambda d: str((d.hour % 12) or 12),
    "i": lambda d: f"{d.minute:02d}",
    "s": lambda d: f"{d.second:02d}",
    "A": lambda d: "AM" if d.hour < 12 else "PM",
    "a": lambda d: "am" if d.hour < 12 else "pm",
    "P": _offset,
}


def format_date(moment: datetime, item: Field | str) -> str:
    """`moment` in a named (SL, DS, FL, PT, ISO) or PHP-style format; `\\x` is a literal x."""
    fmt = item.selector if isinstance(item, Field) else item
    fmt = NAMED_DATE_FORMATS.get(fmt, fmt) or NAMED_DATE_FORMATS["SL"]
    out: list[str] = []
    escaped = False
    for char in fmt:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in _DATE_LETTERS:
            out.append(_DATE_LETTERS[char](moment))
        else:
            out.append(char)
    return "".join(out)


def keys_of(fields: Iterable[Field], scheme: str) -> list[str]:
    """The distinct keys of the fields of one scheme, in order (e.g. embedded data names)."""
    seen: dict[str, None] = {}
    for item in fields:
        if item.scheme == scheme and item.key:
            seen.setdefault(item.key, None)
    return list(seen)
