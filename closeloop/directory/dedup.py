"""Contact deduplication, with no Django imports: normalising, rule evaluation, merging.

A directory has up to three *rules*; a rule is a list of field names. An incoming contact
matches an existing one under a rule when every field of the rule is equal after
normalisation (AND within a rule). Rules are tried in order and the first that matches wins
(OR across rules). A rule is skipped when the incoming contact lacks one of its fields, so
`[["extRef"], ["email"]]` matches by extRef when one is given and by email otherwise.

Field names are the Qualtrics ones (firstName, lastName, email, phone, extRef); any other
name is an embedded-data field, matched case-sensitively by name.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from closeloop.directory import phones

STANDARD_FIELDS = ("firstName", "lastName", "email", "phone", "extRef")
MAX_RULES = 3
MAX_RULE_FIELDS = 5
MAX_FIELD_NAME = 200


class InvalidValue(ValueError):
    """A value that cannot be stored (an email address that is not one, for instance)."""


def normalize_text(value: object) -> str:
    """Trimmed, NFC, case-folded: 'ÉMILE ' and 'émile' are the same."""
    if value is None:
        return ""
    text = str(value)
    if text.isascii():  # NFC changes no ASCII text, and casefold() is lower() there
        return text.strip().lower()
    return unicodedata.normalize("NFC", text).strip().casefold()


# Plain addresses that email-validator certainly accepts and normalises to themselves with the
# domain lower-cased (tests compare the two on generated addresses): an ASCII domain, and a
# local part of ASCII letters, digits and precomposed Latin letters (U+00C0 to U+017F but the
# multiplication and division signs), which are already in NFC: all that email-validator
# would change about them.
_LOCAL_CHARACTER = "A-Za-z0-9\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u017f"
PLAIN_EMAIL = re.compile(
    rf"(?P<local>[{_LOCAL_CHARACTER}]+(?:[._+-][{_LOCAL_CHARACTER}]+)*)@"
    r"(?P<domain>(?:[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\.)+(?P<tld>[A-Za-z]{2,24}))"
)
_SPECIAL_TLDS = {"arpa", "invalid", "local", "localhost", "onion"}


def plain_email(text: str) -> str | None:
    match = PLAIN_EMAIL.fullmatch(text)
    if match is None or len(text.encode()) > 254 or len(match["local"].encode()) > 64:
        return None
    if match["tld"].lower() in _SPECIAL_TLDS:
        return None
    if any(len(label) > 63 for label in match["domain"].split(".")):
        return None
    return text.casefold()


@functools.lru_cache(maxsize=1 << 16)  # more than an import chunk
def _validated_email(text: str) -> str:
    plain = plain_email(text)
    if plain is not None:
        return plain
    try:
        checked = validate_email(text, check_deliverability=False, test_environment=True)
    except EmailNotValidError as error:
        raise InvalidValue(f"{text!r} is not a valid email address: {error}") from None
    return checked.normalized.casefold()


def normalize_email(value: object) -> str:
    """The address in email-validator's normalised form, lower-cased; '' for no address.

    Raises InvalidValue for something that is not an email address. No DNS look-ups.
    """
    text = "" if value is None else str(value).strip()
    if not text:
        return ""
    return _validated_email(text)


def normalize_phone(value: object, region: str = "US") -> str:
    """E.164 (+14155550123) for a valid number, '' otherwise (the contact then gets no SMS)."""
    text = "" if value is None else str(value).strip()
    if not text:
        return ""
    return _e164(text, region)


@functools.lru_cache(maxsize=1 << 16)  # more than an import chunk
def _e164(text: str, region: str) -> str:
    return phones.parse_e164(text, (region or "US").upper())


def normalize_field(name: str, value: object, region: str = "US") -> str:
    """The match form of one field (standard or embedded data). Never raises."""
    if name == "email":
        try:
            return normalize_email(value)
        except InvalidValue:
            return normalize_text(value)
    if name == "phone":
        return normalize_phone(value, region)
    return normalize_text(value)


def validate_rules(rules: object) -> list[str]:
    """Problems with a dedup-rules value, in plain words; [] when it is fine."""
    if not isinstance(rules, list):
        return ["Deduplication rules must be a list of rules."]
    problems = []
    if len(rules) > MAX_RULES:
        problems.append(f"At most {MAX_RULES} deduplication rules are allowed.")
    for number, rule in enumerate(rules, start=1):
        if not isinstance(rule, list) or not rule:
            problems.append(f"Rule {number} must be a non-empty list of field names.")
            continue
        if len(rule) > MAX_RULE_FIELDS:
            problems.append(f"Rule {number} has more than {MAX_RULE_FIELDS} fields.")
        for field in rule:
            if not isinstance(field, str) or not field.strip():
                problems.append(f"Rule {number} has an empty field name.")
            elif len(field) > MAX_FIELD_NAME:
                problems.append(f"Rule {number} has a field name over {MAX_FIELD_NAME} characters.")
        if len(set(map(str, rule))) != len(rule):
            problems.append(f"Rule {number} names a field twice.")
    return problems


@dataclass(frozen=True)
class Lookup:
    """One rule made concrete for an incoming contact: fields and their normalised values."""

    rule_index: int
    conditions: tuple[tuple[str, str], ...]
    # A stable text key of this lookup, for locks (and the bulk upsert's index). Computed
    # once here: a cached_property took a lock on every read (~5 % of an import).
    key: str = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", lookup_key(self.rule_index, self.conditions))


def lookup_key(rule_index: int, conditions: tuple[tuple[str, str], ...]) -> str:
    """Lookup.key: the rule's position, then each field and its normalised value."""
    return "\x1f".join([str(rule_index), *(f"{f}\x1e{v}" for f, v in conditions)])


def probe_fields(rule) -> tuple[str, ...]:
    """The fields by which stored contacts are looked up for a rule, in a bulk upsert: all of
    them when all are standard (the database then picks the most selective index of the
    AND: a rule firstName, lastName, email finds one contact by email, not everyone with the
    first name), else the first field (an embedded data field first in a rule has its own
    index, match_indexes)."""
    fields = tuple(rule)
    if all(field in STANDARD_FIELDS for field in fields):
        return fields
    return fields[:1]


def incoming_value(field: str, fields: Mapping, embedded_data: Mapping) -> object:
    if field in STANDARD_FIELDS:
        return fields.get(field)
    return embedded_data.get(field)


def lookups(
    rules: Iterable[Iterable[str]],
    fields: Mapping,
    embedded_data: Mapping | None = None,
    region: str = "US",
) -> list[Lookup]:
    """The lookups to try, in rule order; rules whose fields the incoming contact lacks are
    skipped (a phone that is not a valid number counts as lacking)."""
    embedded_data = embedded_data or {}
    result = []
    for index, rule in enumerate(rules):
        conditions = []
        for field in rule:
            value = normalize_field(field, incoming_value(field, fields, embedded_data), region)
            if not value:
                break
            conditions.append((field, value))
        else:
            if conditions:
                result.append(Lookup(index, tuple(conditions)))
    return result


def normalized_view(
    fields: Mapping, embedded_data: Mapping | None = None, region: str = "US"
) -> dict[str, str]:
    """Every field of a contact in match form: the standard fields and its embedded data."""
    view = {
        name: normalize_field(name, incoming_value(name, fields, {}), region)
        for name in STANDARD_FIELDS
    }
    for name, value in (embedded_data or {}).items():
        if name not in STANDARD_FIELDS:
            view[name] = normalize_text(value)
    return view


def matches(lookup: Lookup, candidate_view: Mapping[str, str]) -> bool:
    return all(candidate_view.get(field, "") == value for field, value in lookup.conditions)


def find_match(
    rules: Iterable[Iterable[str]],
    fields: Mapping,
    embedded_data: Mapping | None,
    candidates: Iterable[tuple[object, Mapping[str, str]]],
    region: str = "US",
):
    """In memory: the first candidate (key, normalized_view) matching by the first rule that
    matches; None when nothing matches. The database version is actions.upsert_contact."""
    candidates = list(candidates)
    for lookup in lookups(rules, fields, embedded_data, region):
        for key, view in candidates:
            if matches(lookup, view):
                return key
    return None


def is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def merge_fields(existing: Mapping, incoming: Mapping) -> dict:
    """Changes to apply: every non-empty incoming value that differs from the existing one.

    Empty incoming values (None, '', whitespace) never erase what is stored.
    """
    return {
        name: value
        for name, value in incoming.items()
        if not is_empty(value) and existing.get(name) != value
    }


def merge_embedded(existing: Mapping, incoming: Mapping) -> dict:
    """Embedded data merged key by key (names are case-sensitive); empty values keep the old."""
    merged = dict(existing)
    for name, value in incoming.items():
        if not is_empty(value):
            merged[name] = value
    return merged
