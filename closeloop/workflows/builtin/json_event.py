"""The JSON event: any system POSTs JSON to the workflow's trigger URL.

Config: {"fields": [{"name", "path", "type"}]} — named fields taken from the payload by
RFC 9535 JSONPath, typed String, Number or Boolean. Deliveries are deduplicated by the
optional Idempotency-Key header. The endpoint itself is closeloop.workflows.inbound.
"""

from __future__ import annotations

from collections.abc import Mapping

from closeloop.workflows import mapping
from closeloop.workflows.registry import EventType, OfferedField


def extract_fields(payload: object, config: Mapping) -> tuple[dict, list[mapping.FieldError]]:
    """The JSON event's fields from a parsed payload: the one extraction the trigger URL, a
    retry from the start and a dry run share."""
    return mapping.extract(payload, config.get("fields") or [])


class JsonEvent(EventType):
    key = "json"
    label = "JSON event"
    description = "Started when a JSON payload is POSTed to the workflow's trigger URL."
    inbound = True
    trigger_url_name = "triggers:json"
    dedup = "Requests with the same Idempotency-Key header start one run."
    editor_template = "workflows/events/json.html"

    def default_config(self) -> dict:
        return {"fields": []}

    def clean_config(self, config: Mapping) -> dict:
        rows = config.get("fields") or []
        return {"fields": mapping.clean_mappings(rows) if isinstance(rows, list) else rows}

    def validate_config(self, config: Mapping, *, organization, survey) -> list[str]:
        unknown = set(config) - {"fields"}
        problems = [f"The JSON event has no setting {name!r}." for name in sorted(unknown)]
        return problems + mapping.validate_mappings(config.get("fields", []))

    def fields(self, config: Mapping, *, survey=None) -> list[OfferedField]:
        rows = config.get("fields") or []
        return [
            OfferedField(row["name"], row.get("type", "String"), f"{row['name']} ({row['path']})")
            for row in rows
            if isinstance(row, Mapping) and row.get("name") and row.get("path")
        ]

    def remap(self, run, config: Mapping) -> dict | None:
        values, errors = extract_fields(mapping.as_payload(run.payload_document), config)
        if errors:
            raise ValueError(" ".join(error.message for error in errors))
        return values

    def sample_event(self, sample: str, config: Mapping) -> tuple[object, dict]:
        try:
            payload = mapping.parse_payload(sample)
        except mapping.PayloadError as error:
            raise ValueError(str(error)) from None
        values, errors = extract_fields(payload, config)
        if errors:  # one line each: the dry run lists them
            raise ValueError("\n".join(error.message for error in errors))
        return payload, values

    def config_from_sample(self, sample: str, config: Mapping) -> dict:
        try:
            payload = mapping.parse_payload(sample)
        except mapping.PayloadError as error:
            raise ValueError(str(error)) from None
        rows = mapping.merge_mappings(config.get("fields") or [], mapping.leaves(payload))
        return {**config, "fields": rows}

    def config_from_form(self, data, previous: Mapping) -> dict:
        names = data.getlist("field_name")
        paths = data.getlist("field_path")
        types = data.getlist("field_type")
        rows = [
            {"name": name, "path": path, "type": field_type}
            for name, path, field_type in zip(names, paths, types, strict=False)
        ]
        return self.clean_config({"fields": rows})
