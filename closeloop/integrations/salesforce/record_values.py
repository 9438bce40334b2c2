"""Salesforce fields as describe reports them, and piped text typed for them. No Django.

A workflow renders every task value as text; Salesforce wants JSON of the field's type. Each
value is typed by the field's describe type:

| describe type | JSON sent | text accepted |
|---|---|---|
| boolean | true / false | true, false, 1, 0, yes, no (any case) |
| int, long | a whole number | 7, -3, 7.0 |
| double, currency, percent | a number | 9, 9.5, -0.25, 1e3 |
| date | "YYYY-MM-DD" | 2026-12-31, or an ISO 8601 date-time (its date) |
| datetime | ISO 8601 with an offset | 2026-12-31T17:00:00Z, …+02:00, 2026-12-31 17:00:00 (UTC), 2026-12-31 |
| time | "HH:MM:SS.sssZ" | 17:00, 17:00:05 |
| reference, id | the 18-character id | a 15- or 18-character record id |
| string, textarea, picklist, multipicklist, email, phone, url, combobox … | the text | anything |

An empty value is null (Salesforce clears the field); inserts leave empty fields out. A value
that does not fit raises ValueError naming the field, so that the task fails with it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation

from closeloop.integrations.salesforce.outbound import id18

API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}\Z")
BOOLEAN_TEXT = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
NUMBER_TYPES = ("double", "currency", "percent")
INTEGER_TYPES = ("int", "long")
ID_TYPES = ("reference", "id")
NOT_WRITABLE_TYPES = ("address", "location", "base64", "anyType", "complexvalue")
TYPE_WORDS = {
    "boolean": "a checkbox (true or false)",
    "int": "a whole number",
    "long": "a whole number",
    "double": "a number",
    "currency": "a currency amount (a number)",
    "percent": "a percent (a number)",
    "date": "a date (YYYY-MM-DD)",
    "datetime": "a date and time (ISO 8601, e.g. 2026-12-31T17:00:00Z)",
    "time": "a time (HH:MM or HH:MM:SS)",
    "reference": "a record id (15 or 18 characters)",
    "id": "a record id (15 or 18 characters)",
}


def is_api_name(name: object) -> bool:
    """Shaped like a Salesforce API name: Case, Survey_Response__c, ns__Thing__c."""
    return (
        isinstance(name, str)
        and bool(API_NAME.match(name))
        and not name.endswith("_")
        and "___" not in name
    )


@dataclass(frozen=True)
class FieldInfo:
    """One field of an object's describe, the parts the task uses."""

    name: str
    type: str = "string"
    label: str = ""
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    reference_to: tuple[str, ...] = field(default_factory=tuple)
    external_id: bool = False

    @classmethod
    def from_describe(cls, item: Mapping) -> FieldInfo:
        """From a field of Salesforce's describe result."""
        return cls(
            name=str(item.get("name") or ""),
            type=str(item.get("type") or "string"),
            label=str(item.get("label") or ""),
            createable=bool(item.get("createable", False)),
            updateable=bool(item.get("updateable", False)),
            nillable=bool(item.get("nillable", False)),
            reference_to=tuple(str(name) for name in item.get("referenceTo") or ()),
            external_id=bool(item.get("externalId", False)),
        )

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "type": self.type,
            "label": self.label,
            "createable": self.createable,
            "updateable": self.updateable,
            "nillable": self.nillable,
            "referenceTo": list(self.reference_to),
            "externalId": self.external_id,
        }

    @property
    def title(self) -> str:
        """How the editor lists it: "Case (Case__c) · reference to Case"."""
        kind = self.type
        if self.reference_to:
            kind = f"reference to {', '.join(self.reference_to)}"
        label = (
            f"{self.label} ({self.name})" if self.label and self.label != self.name else self.name
        )
        return f"{label} · {kind}"

    @property
    def writable(self) -> bool:
        return (self.createable or self.updateable) and self.type not in NOT_WRITABLE_TYPES


def _problem(info: FieldInfo, text: str) -> ValueError:
    wanted = TYPE_WORDS.get(info.type, f"a {info.type} value")
    shown = text if len(text) <= 60 else text[:57] + "…"
    return ValueError(f"{info.name} is {wanted}, and {shown!r} is not.")


def _number(text: str, info: FieldInfo) -> int | float:
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise _problem(info, text) from None
    if not number.is_finite():
        raise _problem(info, text)
    if info.type in INTEGER_TYPES:
        if number != number.to_integral_value():
            raise _problem(info, text)
        return int(number)
    if number == number.to_integral_value() and "e" not in text.lower() and "." not in text:
        return int(number)
    value = float(number)
    if math.isinf(value):
        raise _problem(info, text)
    return value


def _date(text: str, info: FieldInfo) -> str:
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        raise _problem(info, text) from None


def _datetime(text: str, info: FieldInfo) -> str:
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time(), UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _problem(info, text) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _time(text: str, info: FieldInfo) -> str:
    try:
        moment = time.fromisoformat(text.removesuffix("Z"))
    except ValueError:
        raise _problem(info, text) from None
    if moment.tzinfo is not None:
        raise _problem(info, text)
    return moment.isoformat(timespec="milliseconds") + "Z"


def field_value(text: object, info: FieldInfo) -> object:
    """The JSON value to send for `text` (a rendered piped value) in this field; None for an
    empty value; ValueError naming the field when it does not fit the field's type."""
    if text is None:
        return None
    if not isinstance(text, str):
        text = str(text)
    if info.type in NOT_WRITABLE_TYPES:
        raise ValueError(f"{info.name} is of type {info.type}, which this task cannot set.")
    if info.type not in ("string", "textarea") and not text.strip():
        return None
    if text == "":
        return None
    if info.type == "boolean":
        value = BOOLEAN_TEXT.get(text.strip().lower())
        if value is None:
            raise _problem(info, text)
        return value
    if info.type in INTEGER_TYPES or info.type in NUMBER_TYPES:
        return _number(text.strip(), info)
    if info.type == "date":
        return _date(text.strip(), info)
    if info.type == "datetime":
        return _datetime(text.strip(), info)
    if info.type == "time":
        return _time(text.strip(), info)
    if info.type in ID_TYPES:
        try:
            return id18(text.strip())
        except ValueError:
            raise _problem(info, text) from None
    return text


def record_id(text: object, what: str = "The record id") -> str:
    """A 15- or 18-character record id as its 18-character form; ValueError saying `what` is
    not one."""
    value = str(text or "").strip()
    if not value:
        raise ValueError(f"{what} is empty after piped text was filled in.")
    try:
        return id18(value)
    except ValueError:
        shown = value if len(value) <= 60 else value[:57] + "…"
        raise ValueError(
            f"{what} {shown!r} is not a Salesforce record id (15 or 18 letters and digits)."
        ) from None
