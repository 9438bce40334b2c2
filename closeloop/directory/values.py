"""Checking contact values as they arrive (API, CSV, workflow task), with no Django imports.

Every check raises InvalidValue with a sentence a person can act on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

from closeloop.directory.dedup import InvalidValue, normalize_email

# Qualtrics field name -> longest accepted value.
TEXT_FIELDS = {
    "firstName": 200,
    "lastName": 200,
    "email": 320,
    "phone": 64,
    "extRef": 200,
    "language": 16,
}
MAX_EMBEDDED_NAME = 200
MAX_EMBEDDED_VALUE = 1024
MAX_EMBEDDED_FIELDS = 500
MAX_TRANSACTION_FIELDS = 500


def scalar_text(value: object, what: str) -> str:
    """A scalar as the text Qualtrics stores: true/false, numbers as written, None as ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return value
    raise InvalidValue(f"{what} must be text, a number or true/false, not {type(value).__name__}.")


def clean_text_fields(fields: Mapping) -> dict[str, str]:
    """The standard text fields present in `fields`, as text, length-checked; email checked."""
    cleaned = {}
    for name, limit in TEXT_FIELDS.items():
        if name not in fields:
            continue
        text = scalar_text(fields[name], name).strip()
        if len(text) > limit:
            raise InvalidValue(f"{name} is longer than {limit} characters.")
        if name == "email" and text:
            normalize_email(text)  # raises InvalidValue with the reason
        cleaned[name] = text
    return cleaned


def clean_bool(value: object, what: str) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", ""):
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise InvalidValue(f"{what} must be true or false.")


def clean_embedded_data(data: object) -> dict[str, str]:
    """Embedded data as {name: text}: names 1 to 200 characters (case-sensitive), values ≤ 1,024."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InvalidValue("embeddedData must be an object of names and values.")
    if len(data) > MAX_EMBEDDED_FIELDS:
        raise InvalidValue(f"embeddedData has more than {MAX_EMBEDDED_FIELDS} fields.")
    cleaned = {}
    for name, value in data.items():
        if not isinstance(name, str) or not name.strip():
            raise InvalidValue("embeddedData field names must not be empty.")
        if len(name) > MAX_EMBEDDED_NAME:
            raise InvalidValue(
                f"embeddedData field name {name[:40]!r}… is longer than {MAX_EMBEDDED_NAME} "
                "characters."
            )
        text = scalar_text(value, f"embeddedData field {name!r}")
        if len(text) > MAX_EMBEDDED_VALUE:
            raise InvalidValue(
                f"embeddedData field {name!r} is longer than {MAX_EMBEDDED_VALUE} characters."
            )
        cleaned[name] = text
    return cleaned


def clean_transaction_data(data: object) -> dict[str, object]:
    """Transaction data: names like embedded data, scalar values kept as given (str/num/bool)."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InvalidValue("data must be an object of names and values.")
    if len(data) > MAX_TRANSACTION_FIELDS:
        raise InvalidValue(f"data has more than {MAX_TRANSACTION_FIELDS} fields.")
    cleaned: dict[str, object] = {}
    for name, value in data.items():
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_EMBEDDED_NAME:
            raise InvalidValue(f"data field names must be 1 to {MAX_EMBEDDED_NAME} characters.")
        if len(scalar_text(value, f"data field {name!r}")) > MAX_EMBEDDED_VALUE:
            raise InvalidValue(
                f"data field {name!r} is longer than {MAX_EMBEDDED_VALUE} characters."
            )
        cleaned[name] = value
    return cleaned


def parse_transaction_date(value: object) -> datetime:
    """ISO 8601 (with or without offset) or Qualtrics' 'YYYY-MM-DD HH:MM:SS'; naive means UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidValue(
                f"transactionDate {value!r} is not a date; use 'YYYY-MM-DD HH:MM:SS' (UTC) "
                "or ISO 8601."
            ) from None
    else:
        raise InvalidValue("transactionDate is required: 'YYYY-MM-DD HH:MM:SS' (UTC) or ISO 8601.")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
