"""Twilio Segment's wire format: Segment Spec events as Segment's destinations send them.

Pure Python, no Django, so that it can be tested and benchmarked alone.

- The **Webhooks (Actions)** destination POSTs (or PUTs/PATCHes) one event as a JSON object,
  or, in batch mode, a JSON array of them. With a *Shared Secret* it signs the request with
  `X-Signature`: the hex HMAC-SHA1 of the body. In batch mode Segment's code (the
  action-destinations webhook destination and its "request signing with batched events" test)
  signs the JSON of the batch's *first event*, so that signature is accepted too.
- The **Qualtrics** destination's *Start a workflow* action POSTs its `eventPayload` object
  (by default `{event, type, userId, properties, traits, context}`) with `X-API-TOKEN`.

Each event is deduplicated on its `messageId` (Segment retries for 4 hours, and the batches of
a retry can differ); an event without one (the Qualtrics destination's default payload) on
the SHA-256 of its canonical JSON, so that a redelivery of the same payload starts nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from closeloop.directory.dedup import InvalidValue
from closeloop.directory.values import scalar_text
from closeloop.workflows import mapping

SPEC_TYPES = ("identify", "track", "page", "screen", "group", "alias")

# Limits. Segment itself refuses an event over 32 KB at its tracking API, so every real event
# fits the JSON event's 100 KB, which is the limit of one event here too, alone or in a batch.
# A Webhooks (Actions) batch holds at most 4,000 events (Segment's documented maximum batch
# size; 1,000 by default): a typical event is 0.5 to 1 KB, so 4 MB carries a full batch of
# typical events, while a request cannot make a worker parse and hold more than that at once.
# Bigger batches get a 413 that says to lower the mapping's Batch Size.
MAX_EVENT_BYTES = mapping.MAX_BODY_BYTES
MAX_BATCH_EVENTS = 4000
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_DEPTH = mapping.MAX_DEPTH
MAX_MESSAGE_ID = 200

# Fields every Segment event offers by default (all String): the Spec's common fields, the
# profile traits of an identify call, and the same under context.traits, where track, page
# and screen calls carry them.
PRESET_FIELDS = (
    "userId",
    "anonymousId",
    "messageId",
    "type",
    "event",
    "timestamp",
    "traits.email",
    "traits.firstName",
    "traits.lastName",
    "traits.phone",
    "context.traits.email",
    "context.traits.firstName",
    "context.traits.lastName",
    "context.traits.phone",
)
# Parts of an event left out when fields are mapped from a sample: Segment's envelope, not data.
SAMPLE_SKIPPED = ("integrations", "context.library", "_metadata", "version")

# Traits that become contact fields rather than embedded data, and the names they go by.
CONTACT_TRAITS = {
    "email": ("email",),
    "firstName": ("firstName", "first_name"),
    "lastName": ("lastName", "last_name"),
    "phone": ("phone",),
    "language": ("language",),
    "extRef": ("extRef",),
}
# Traits that steer Segment's Qualtrics destination, not data about the person.
DESTINATION_TRAITS = ("directoryId", "qualtricsMailingListId", "qualtricsContactId")
MAX_DATA_VALUE = 1024
MAX_DATA_FIELDS = 500

_WHITESPACE = re.compile(r"[ \t\n\r]*")
# A path of member names only ($.context.traits.email): what every preset and every row
# mapped from a sample's objects is.
_NAMES_PATH = re.compile(r"\$(?:\.[A-Za-z_][A-Za-z0-9_]*)+\Z")


class SegmentError(ValueError):
    """A body this endpoint refuses; `kind` says which limit or rule (for the HTTP status)."""

    kind = "malformed"


class BodyTooLarge(SegmentError):
    kind = "too_large"


class TooManyEvents(SegmentError):
    kind = "too_many"


class EventTooLarge(SegmentError):
    kind = "event_too_large"


class NotAnEvent(SegmentError):
    kind = "not_an_event"


@dataclass(frozen=True)
class Event:
    """One Segment event: its JSON text exactly as sent, and its parsed object."""

    text: str
    data: dict


def _decode(text: str, start: int) -> tuple[object, int]:
    try:
        return mapping.JSON_DECODER.raw_decode(text, start)
    except RecursionError:
        raise SegmentError(f"The JSON is nested more than {MAX_DEPTH} levels deep.") from None
    except ValueError as error:
        raise SegmentError(f"The body is not valid JSON: {error}.") from None


def _skip_whitespace(text: str, position: int) -> int:
    return _WHITESPACE.match(text, position).end()


def _event(text: str, value: object, position: int | None) -> Event:
    where = "The body" if position is None else f"Event {position + 1} of the batch"
    if not isinstance(value, dict):
        raise NotAnEvent(f"{where} is not a JSON object (a Segment event).")
    if len(text.encode("utf-8")) > MAX_EVENT_BYTES:
        raise EventTooLarge(f"{where} is larger than {MAX_EVENT_BYTES // 1024} KB.")
    kind = value.get("type")
    if kind is not None and not isinstance(kind, str):
        raise NotAnEvent(f"{where} has a type that is not text.")
    return Event(text, value)


def parse_events(text: str) -> tuple[list[Event], bool]:
    """The events of a request body and whether it was a batch (a JSON array).

    Each event keeps its exact text (what reporting shows and the batch signature covers).
    SegmentError (or a subclass naming the limit) when the body cannot be used as a whole:
    nothing of a body that fails is to be stored.
    """
    if len(text.encode("utf-8")) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"The body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB.")
    start = _skip_whitespace(text, 0)
    if start == len(text):
        raise SegmentError("The body is empty: send a Segment event or a JSON array of them.")
    is_batch = text[start] == "["
    if mapping.nesting_depth(text, MAX_DEPTH + is_batch) > MAX_DEPTH + is_batch:
        raise SegmentError(f"The JSON is nested more than {MAX_DEPTH} levels deep.")
    if not is_batch:
        value, end = _decode(text, start)
        if _skip_whitespace(text, end) != len(text):
            raise SegmentError("The body is not valid JSON: extra data after the event.")
        if len(text.encode("utf-8")) > MAX_EVENT_BYTES:
            raise EventTooLarge(f"The event is larger than {MAX_EVENT_BYTES // 1024} KB.")
        return [_event(text[start:end], value, None)], False
    events: list[Event] = []
    position = _skip_whitespace(text, start + 1)
    if position < len(text) and text[position] == "]":
        raise SegmentError("The batch is empty.")
    while True:
        value, end = _decode(text, position)
        events.append(_event(text[position:end], value, len(events)))
        if len(events) > MAX_BATCH_EVENTS:
            raise TooManyEvents(
                f"A batch holds at most {MAX_BATCH_EVENTS} events; lower the Batch Size of "
                "the Webhooks (Actions) mapping."
            )
        position = _skip_whitespace(text, end)
        if position < len(text) and text[position] == ",":
            position = _skip_whitespace(text, position + 1)
            continue
        if position < len(text) and text[position] == "]":
            if _skip_whitespace(text, position + 1) != len(text):
                raise SegmentError("The body is not valid JSON: extra data after the batch.")
            return events, True
        raise SegmentError("The body is not valid JSON: the batch array is not closed.")


# Signatures ----------------------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    """The X-Signature Segment sends: hex HMAC-SHA1 of the body with the shared secret."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()


def signature_matches(secret: str, signed: bytes, signature: str) -> bool:
    """Whether X-Signature is the HMAC-SHA1 of `signed`, compared in constant time."""
    given = signature.strip().lower().encode("ascii", "replace")
    return hmac.compare_digest(sign(secret, signed).encode(), given)


def first_event_text(text: str) -> str:
    """The exact JSON of a batch's first event, which Segment signs in batch mode; "" when
    the body is not an array that starts with a JSON value. Only that event is decoded."""
    start = _skip_whitespace(text, 0)
    if text[start : start + 1] != "[":
        return ""
    position = _skip_whitespace(text, start + 1)
    try:
        _value, end = mapping.JSON_DECODER.raw_decode(text, position)
    except (ValueError, RecursionError):
        return ""
    return text[position:end]


# Field mapping of the events of a request ----------------------------------------------------


class FieldMapping:
    """A workflow's field mapping made ready once for all the events of a request: what
    mapping.extract gives, but a row whose path is member names only is looked up in the
    event's objects directly instead of by the JSONPath engine (the same value: one match,
    or none when a member is missing or a step is not an object; then coerced alike)."""

    def __init__(self, rows: list[dict]):
        self.plan = [
            (row, tuple(row["path"][2:].split(".")) if _names_only(row["path"]) else None)
            for row in rows
        ]

    def extract(self, data: object) -> tuple[dict[str, object], list[mapping.FieldError]]:
        values: dict[str, object] = {}
        errors: list[mapping.FieldError] = []
        for row, names in self.plan:
            if names is None:
                found, failed = mapping.extract(data, [row])
                values.update(found)
                errors.extend(failed)
                continue
            value = data
            for name in names:
                value = value.get(name) if isinstance(value, dict) else None
            try:
                values[row["name"]] = mapping.coerce(value, row["type"])
            except ValueError as error:
                message = f'Field "{row["name"]}" ({row["path"]}) {error}.'
                errors.append(mapping.FieldError(row["name"], message))
        return values, errors


def _names_only(path: object) -> bool:
    return isinstance(path, str) and len(path) <= mapping.MAX_PATH and bool(_NAMES_PATH.match(path))


# Deduplication -------------------------------------------------------------------------------


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def dedup_key(event: Event) -> str:
    """`segment:<messageId>`, or `segment:sha256:<hash of the canonical JSON>` without one."""
    message_id = event.data.get("messageId")
    if isinstance(message_id, int | float) and not isinstance(message_id, bool):
        message_id = json.dumps(message_id)
    if isinstance(message_id, str) and message_id.strip():
        message_id = message_id.strip()
        if len(message_id) <= MAX_MESSAGE_ID:
            return f"segment:{message_id}"
        return "segment:sha256:" + hashlib.sha256(message_id.encode("utf-8")).hexdigest()
    digest = hashlib.sha256(canonical_json(event.data).encode("utf-8")).hexdigest()
    return f"segment:sha256:{digest}"


# Field mapping -------------------------------------------------------------------------------


def preset_rows() -> list[dict]:
    return [{"name": name, "path": "$." + name, "type": "String"} for name in PRESET_FIELDS]


def sample_rows(events: list[Event]) -> list[dict]:
    """A mapping row for every value of the sample events (a batch adds what each event has),
    without Segment's envelope (integrations, context.library, version)."""
    rows: list[dict] = []
    for event in events:
        for row in mapping.leaves(event.data):
            if any(
                row["name"] == skip or row["name"].startswith(skip + ".") for skip in SAMPLE_SKIPPED
            ):
                continue
            rows.append(row)
    return rows


# The person and the data of an event ---------------------------------------------------------


def profile_traits(data: Mapping) -> dict:
    """The person's traits: `traits` of an identify call, `context.traits` of the others (a
    group call's own traits describe the group)."""
    if data.get("type") == "identify" and isinstance(data.get("traits"), Mapping):
        traits = data["traits"]
    else:
        context = data.get("context")
        traits = context.get("traits") if isinstance(context, Mapping) else None
        if not isinstance(traits, Mapping) and data.get("type") != "group":
            traits = data.get("traits")  # the Qualtrics destination's payload has both
    return dict(traits) if isinstance(traits, Mapping) else {}


def _text(value: object) -> str:
    """A trait as contact text (values.scalar_text, trimmed); an object or a list is none."""
    try:
        return scalar_text(value, "A trait").strip()
    except InvalidValue:
        return ""


def contact_fields(data: Mapping, *, user_id_as_ext_ref: bool = True) -> dict[str, str]:
    """The contact's fields the way Segment's Qualtrics destination maps them: email,
    firstName, lastName, phone and language from the traits (a top-level email first), a
    first and last name split from `name` when only that is given, and extRef from the
    traits' extRef or else the userId."""
    traits = profile_traits(data)
    fields: dict[str, str] = {}
    for field, names in CONTACT_TRAITS.items():
        for name in names:
            text = _text(traits.get(name))
            if text:
                fields[field] = text
                break
    top_email = _text(data.get("email"))
    if top_email:
        fields["email"] = top_email
    if not fields.get("firstName") and not fields.get("lastName"):
        first, _, last = _text(traits.get("name")).partition(" ")
        if first:
            fields["firstName"] = first
        if last.strip():
            fields["lastName"] = last.strip()
    if user_id_as_ext_ref and not fields.get("extRef"):
        user_id = _text(data.get("userId"))
        if user_id:
            fields["extRef"] = user_id
    return fields


def flatten(value: Mapping, prefix: str = "") -> dict[str, object]:
    """Nested objects as dotted names (`address.city`); arrays as their JSON text; scalars
    kept as they are (text, number, true/false); null left out."""
    flat: dict[str, object] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping):
            flat.update(flatten(item, name + "."))
        elif isinstance(item, list):
            flat[name] = canonical_json(item)
        elif item is not None:
            flat[name] = item
    return flat


def _fits(name: str, value: object) -> bool:
    text = value if isinstance(value, str) else _text(value)
    return len(name.strip()) > 0 and len(name) <= 200 and len(text) <= MAX_DATA_VALUE


def split_data(values: Mapping[str, object]) -> tuple[dict[str, object], list[str]]:
    """(the values that fit a directory field, the names left out: too long, or past the
    500th)."""
    kept: dict[str, object] = {}
    left_out: list[str] = []
    for name, value in values.items():
        if len(kept) < MAX_DATA_FIELDS and _fits(name, value):
            kept[name] = value
        else:
            left_out.append(name)
    return kept, left_out


def embedded_traits(data: Mapping) -> tuple[dict[str, str], list[str]]:
    """The traits that are not contact fields, as embedded data text, and those left out."""
    skipped = {name for names in CONTACT_TRAITS.values() for name in names}
    skipped.update(DESTINATION_TRAITS)
    skipped.add("name")
    traits = {key: value for key, value in profile_traits(data).items() if str(key) not in skipped}
    kept, left_out = split_data(flatten(traits))
    return {name: _text(value) for name, value in kept.items()}, left_out


def transaction_data(data: Mapping) -> tuple[dict[str, object], list[str]]:
    """A track call's properties as transaction data (numbers and true/false kept)."""
    properties = data.get("properties")
    return split_data(flatten(properties)) if isinstance(properties, Mapping) else ({}, [])


def event_time(data: Mapping) -> str:
    """When the event happened: timestamp, else originalTimestamp, else receivedAt; ""."""
    for name in ("timestamp", "originalTimestamp", "receivedAt", "sentAt"):
        value = data.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""
