"""The pure Segment protocol module: splitting bodies into events, signatures, dedup keys, and
the person and data of an event."""

from __future__ import annotations

import json

import pytest

from closeloop.integrations.segment import spec
from closeloop.integrations.segment.tests.conftest import (
    COMPACT_SIGNATURE,
    SECRET,
    sample,
    sample_json,
)
from closeloop.workflows import mapping


def test_a_batch_keeps_each_events_exact_text():
    text = ' [ {"type": "identify", "userId": "a"} ,\n{"type":"track","event":"X"}\t] \n'
    events, is_batch = spec.parse_events(text)
    assert is_batch
    assert [event.text for event in events] == [
        '{"type": "identify", "userId": "a"}',
        '{"type":"track","event":"X"}',
    ]
    assert spec.first_event_text(text) == events[0].text


def test_a_single_pretty_event_is_one_event():
    text = sample("identify.json").decode()
    events, is_batch = spec.parse_events(text)
    assert not is_batch and events[0].data == sample_json("identify.json")


def test_the_readme_signature_and_a_batch_first_event_signature():
    body = sample("identify_compact.json")
    assert spec.signature_matches(SECRET, body, COMPACT_SIGNATURE)
    assert not spec.signature_matches(SECRET, body, "")
    assert not spec.signature_matches("other", body, COMPACT_SIGNATURE)
    assert not spec.signature_matches(SECRET, body, "é" * 40)
    batch = "[" + body.decode() + "]"
    assert spec.first_event_text(batch).encode() == body
    assert spec.first_event_text(body.decode()) == ""
    assert spec.first_event_text("[{") == ""


def test_dedup_keys():
    identify = spec.Event("", sample_json("identify.json"))
    assert spec.dedup_key(identify) == f"segment:{identify.data['messageId']}"
    long_id = spec.Event("", {"messageId": "m" * 300})
    assert spec.dedup_key(long_id).startswith("segment:sha256:")
    assert len(spec.dedup_key(long_id)) < 255
    assert spec.dedup_key(spec.Event("", {"messageId": 42})) == "segment:42"
    no_id = spec.dedup_key(spec.Event("", {"b": 1, "a": [1, 2]}))
    assert no_id == spec.dedup_key(spec.Event("", {"a": [1, 2], "b": 1}))
    assert no_id != spec.dedup_key(spec.Event("", {"a": [2, 1], "b": 1}))


def test_the_person_of_each_kind_of_call():
    identify = sample_json("identify.json")
    assert spec.contact_fields(identify) == {
        "email": "jane.doe@example.com",
        "firstName": "Jane",
        "lastName": "Doe",
        "phone": "+14155550123",
        "extRef": "user_48213",
    }
    track = sample_json("track_transaction_created.json")
    assert spec.contact_fields(track)["email"] == "jane.doe@example.com"
    qualtrics = sample_json("qualtrics_destination_trigger_payload.json")
    assert spec.contact_fields(qualtrics)["firstName"] == "Wei"
    named = {"type": "identify", "traits": {"name": "Ada King Lovelace", "first_name": ""}}
    assert spec.contact_fields(named, user_id_as_ext_ref=False) == {
        "firstName": "Ada",
        "lastName": "King Lovelace",
    }
    own_ref = {"type": "identify", "userId": "u1", "traits": {"extRef": "CRM-9", "email": "a@b.c"}}
    assert spec.contact_fields(own_ref)["extRef"] == "CRM-9"
    group = {"type": "group", "traits": {"email": "team@acme.test"}, "context": {}}
    assert spec.contact_fields(group) == {}  # a group's traits describe the group


def test_traits_and_properties_as_directory_data():
    track = sample_json("track_transaction_created.json")
    embedded, left_out = spec.embedded_traits(track)
    assert embedded == {} and left_out == []  # qualtricsMailingListId steers the destination
    data, _ = spec.transaction_data(track)
    assert data["total"] == 149.9 and data["first_purchase"] is False
    nested = {"type": "identify", "traits": {"address": {"city": "Berlin"}, "n": None, "ok": True}}
    assert spec.embedded_traits(nested) == ({"address.city": "Berlin", "ok": "true"}, [])
    assert spec.event_time({"originalTimestamp": "2026-01-01T00:00:00Z"}) == "2026-01-01T00:00:00Z"
    assert spec.event_time({}) == ""


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[" + ",".join(["{}"] * (spec.MAX_BATCH_EVENTS + 1)) + "]", spec.TooManyEvents),
        (json.dumps({"x": "y" * spec.MAX_EVENT_BYTES}), spec.EventTooLarge),
        ("[[]]", spec.NotAnEvent),
        ("x" * (spec.MAX_BODY_BYTES + 1), spec.BodyTooLarge),
    ],
)
def test_the_limits(text, error):
    with pytest.raises(error):
        spec.parse_events(text)


def test_too_deep_bodies_are_refused():
    deep = {"type": "track"}
    for _ in range(spec.MAX_DEPTH - 1):
        deep = {"x": deep}
    spec.parse_events(json.dumps(deep))
    spec.parse_events(json.dumps([deep]))  # the batch's array is not counted
    with pytest.raises(spec.SegmentError, match="nested more than"):
        spec.parse_events(json.dumps({"x": deep}))
    with pytest.raises(spec.SegmentError, match="nested more than"):
        spec.parse_events(json.dumps([{"x": deep}]))


def test_the_field_mapping_gives_what_the_json_event_gives():
    rows = [
        *spec.preset_rows(),
        {"name": "total", "path": "$.properties.total", "type": "Number"},
        {"name": "skipped", "path": "$.properties.skipped", "type": "Boolean"},
        {"name": "steps", "path": "$.properties.steps_completed", "type": "Boolean"},
        {"name": "tour", "path": "$.properties.tour", "type": "Number"},
        {"name": "email", "path": "$.properties.tour.email", "type": "String"},
        {"name": "library", "path": "$.context.library", "type": "String"},
        {"name": "emails", "path": "$..email", "type": "String"},
        {"name": "quoted", "path": "$['context']['traits']['email']", "type": "String"},
        {"name": "broken", "path": "$.[", "type": "String"},
        {"name": "userId", "path": "$.anonymousId", "type": "String"},  # a name twice
    ]
    fields = spec.FieldMapping(rows)
    for data in [*sample_json("webhooks_actions_batch.json"), {"properties": [1]}, {}]:
        expected = mapping.extract(data, rows)
        got = fields.extract(data)
        assert got == expected and list(got[0]) == list(expected[0])
