"""The contact search filter grammar of the Qualtrics API, turned into an indexed query.

    {"filterType": "email", "comparison": "eq", "value": "jane@example.com"}
    {"filterType": "embeddedData", "key": "Tier", "comparison": "eq", "value": "Gold"}
    {"conjunction": "and" | "or", "filters": [<filter>, ...]}

Standard fields compare their normalised match columns (case-insensitive, email normalised,
phone in E.164 under the directory's region), so every leaf is an index probe.
"""

from __future__ import annotations

from django.db.models import Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import Exact

from closeloop.directory import dedup
from closeloop.directory.dedup import InvalidValue

MAX_DEPTH = 4
MAX_LEAVES = 20
FIELD_FILTERS = {
    "email": "email_normalized",
    "extRef": "ext_ref_normalized",
    "phone": "phone_e164",
    "firstName": "first_name_normalized",
    "lastName": "last_name_normalized",
}
FILTER_TYPES = (*FIELD_FILTERS, "language", "unsubscribed", "contactId", "embeddedData")


def to_condition(spec: object, region: str = "US") -> Q:
    """A Q for a filter; InvalidValue with a plain explanation for anything else."""
    counter = [0]
    return _node(spec, region, 1, counter)


def _node(spec: object, region: str, depth: int, counter: list[int]) -> Q:
    if not isinstance(spec, dict):
        raise InvalidValue("filter must be an object.")
    if depth > MAX_DEPTH:
        raise InvalidValue(f"filters may be nested at most {MAX_DEPTH} deep.")
    if "conjunction" in spec or "filters" in spec:
        unknown = set(spec) - {"conjunction", "filters"}
        if unknown:
            raise InvalidValue(f"Unknown filter field(s): {', '.join(sorted(unknown))}.")
        conjunction = spec.get("conjunction")
        if conjunction not in ("and", "or"):
            raise InvalidValue('conjunction must be "and" or "or".')
        children = spec.get("filters")
        if not isinstance(children, list) or not children:
            raise InvalidValue("filters must be a non-empty list.")
        combined = None
        for child in children:
            condition = _node(child, region, depth + 1, counter)
            if combined is None:
                combined = condition
            elif conjunction == "and":
                combined &= condition
            else:
                combined |= condition
        return combined
    return _leaf(spec, region, counter)


def _leaf(spec: dict, region: str, counter: list[int]) -> Q:
    counter[0] += 1
    if counter[0] > MAX_LEAVES:
        raise InvalidValue(f"A search has at most {MAX_LEAVES} filters.")
    filter_type = spec.get("filterType")
    allowed = {"filterType", "comparison", "value"} | (
        {"key"} if filter_type == "embeddedData" else set()
    )
    unknown = set(spec) - allowed
    if unknown:
        raise InvalidValue(f"Unknown filter field(s): {', '.join(sorted(unknown))}.")
    if filter_type not in FILTER_TYPES:
        raise InvalidValue(f"filterType must be one of {', '.join(FILTER_TYPES)}.")
    if spec.get("comparison", "eq") != "eq":
        raise InvalidValue('Only the "eq" comparison is supported.')
    if "value" not in spec:
        raise InvalidValue("A filter needs a value.")
    value = spec["value"]
    if filter_type == "unsubscribed":
        if not isinstance(value, bool):
            raise InvalidValue("unsubscribed filters take true or false.")
        return Q(unsubscribed=value)
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise InvalidValue(f"The {filter_type} filter value must be text.")
    text = str(value)
    if filter_type == "contactId":
        return Q(public_id=text)
    if filter_type == "language":
        return Q(language__iexact=text.strip())
    if filter_type == "embeddedData":
        key = spec.get("key")
        if not isinstance(key, str) or not key:
            raise InvalidValue("An embeddedData filter needs a key (the field name).")
        return Q(Exact(KeyTextTransform(key, "embedded_data"), text))
    if filter_type == "phone":
        e164 = dedup.normalize_phone(text, region)
        return Q(phone_e164=e164) if e164 else Q(phone=text.strip())
    return Q(**{FIELD_FILTERS[filter_type]: dedup.normalize_field(filter_type, text, region)})
