"""The Twilio Segment event: a workflow started by the events Segment sends to its URL.

Config: {"fields": [{"name", "path", "type"}]}, the JSON event's field mapping (RFC 9535
JSONPath, String/Number/Boolean) applied to each Segment event, with Segment's presets by
default: userId, anonymousId, messageId, type, event, timestamp, traits.email/firstName/
lastName/phone and the same under context.traits (where track calls carry them). Conditions
on `type` and `event` are Segment's mapping filters (*Event type is identify*, *Event name is
Transaction Created*). Each event is one run, deduplicated on its messageId. The shared
secret lives beside the workflow (models.Endpoint), not in its definition; the receiver is
webhooks.segment_event.
"""

from __future__ import annotations

from collections.abc import Mapping

from closeloop.integrations.segment import queries, spec
from closeloop.workflows import mapping
from closeloop.workflows.builtin.json_event import JsonEvent

KEY = queries.EVENT_KEY


class SegmentEvent(JsonEvent):
    key = KEY
    label = "Twilio Segment"
    description = (
        "Started when Twilio Segment sends an event (identify, track, page, screen, group, "
        "alias) to the workflow's URL: from the Webhooks (Actions) destination, one at a time "
        "or in batches, or from the Qualtrics destination's Start a workflow action."
    )
    inbound = True
    trigger_url_name = "segment-inbound:event"
    dedup = "An event Segment delivers again (the same messageId) starts no second run."
    editor_template = "segment/events/segment.html"

    def default_config(self) -> dict:
        return {"fields": spec.preset_rows()}

    def validate_config(self, config: Mapping, *, organization, survey) -> list[str]:
        unknown = set(config) - {"fields"}
        problems = [f"The Segment event has no setting {name!r}." for name in sorted(unknown)]
        return problems + mapping.validate_mappings(config.get("fields", []))

    def config_from_sample(self, sample: str, config: Mapping) -> dict:
        """Fields for every value of a pasted or captured event (or batch of them), the
        presets and the rows already mapped kept as they are."""
        try:
            events, _is_batch = spec.parse_events(sample.strip())
        except spec.SegmentError as error:
            raise ValueError(str(error)) from None
        rows = mapping.merge_mappings(list(config.get("fields") or []), spec.sample_rows(events))
        return {**config, "fields": rows}

    def editor_context(self, config: Mapping, *, organization, workflow=None) -> dict:
        if workflow is None:
            return {}
        return {
            "endpoint": queries.endpoint_of(workflow),
            "source_link": queries.link_of(workflow),
            "limits": {
                "event_kb": spec.MAX_EVENT_BYTES // 1024,
                "batch_events": spec.MAX_BATCH_EVENTS,
                "body_mb": spec.MAX_BODY_BYTES // (1024 * 1024),
            },
        }
