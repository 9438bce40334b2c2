"""The messages Try it sends are the protocols' own: read by the real receivers' parsers, and
shaped like the protocol samples (shared/fixtures, copied under the integrations' tests)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from closeloop.demo import messages
from closeloop.integrations.salesforce import event as salesforce_event
from closeloop.integrations.salesforce import outbound
from closeloop.integrations.segment import spec

INTEGRATIONS = Path(__file__).resolve().parents[2] / "integrations"
SALESFORCE_FIXTURES = INTEGRATIONS / "salesforce" / "tests" / "fixtures"
SEGMENT_FIXTURES = INTEGRATIONS / "segment" / "tests" / "fixtures"
ORG = messages.Org("00D5g000004ClXkEAK", "04k5g000000TzQeAAK")
CLOSED = datetime(2026, 11, 20, 14, 3, 11, tzinfo=UTC)


def case_message(**overrides) -> tuple[bytes, messages.Notification]:
    fields = messages.closed_case_fields(
        case_id="5005g00000dQz1XAAS",
        case_number="00001027",
        contact_id="0035g00000KqA9bAAF",
        email="maria.lopez@example.com",
        first_name="Maria",
        last_name="Lopez",
        subject=overrides.pop("subject", "Router keeps dropping the connection"),
        closed_at=CLOSED,
        priority="High",
        origin="Phone",
    )
    notification = messages.Notification("04l5g00000HkT2mAAF", "Case", fields)
    return messages.outbound_message(ORG, [notification]), notification


def shape(xml: bytes) -> list[tuple[str, tuple]]:
    """Every element's qualified name and attributes, in document order: the message's form."""
    root = etree.fromstring(xml)
    return [
        (element.tag, tuple(sorted(element.attrib.items())))
        for element in root.iter()
        if isinstance(element.tag, str)
        and element.getparent() is not None
        and element.getparent().tag != f"{{{outbound.OUTBOUND_NS}}}sObject"
    ]


def test_the_outbound_message_is_read_by_the_receivers_parser():
    body, notification = case_message()
    message = outbound.parse_outbound_message(body)
    assert message.organization_id == ORG.organization_id
    assert message.action_id == ORG.action_id and message.session_id is None
    assert message.enterprise_url.endswith("/services/Soap/c/66.0/00D5g000004ClXk")
    assert message.partner_url.endswith("/services/Soap/u/66.0/00D5g000004ClXk")
    (parsed,) = message.notifications
    assert parsed.id == notification.id and parsed.sobject_type == "Case"
    assert parsed.fields["IsClosed"] == "true" and parsed.fields["Status"] == "Closed"
    assert parsed.fields["ClosedDate"] == "2026-11-20T14:03:11.000Z"
    assert next(iter(parsed.fields)) == "Id"
    config = {"object": "Case", "fields": [{"name": "IsClosed", "type": "Boolean"}]}
    _payload, fields, key = salesforce_event.notification_event(message, parsed, config)
    assert fields["Case.IsClosed"] is True
    assert fields["Case.ContactEmail"] == "maria.lopez@example.com"
    assert key == f"salesforce:{notification.id}"


def test_the_outbound_message_has_the_samples_envelope():
    body, _ = case_message()
    sample = (SALESFORCE_FIXTURES / "case_closed.xml").read_bytes()
    assert shape(body) == shape(sample)
    ours = outbound.parse_outbound_message(body).notifications[0].fields
    theirs = outbound.parse_outbound_message(sample).notifications[0].fields
    assert set(theirs) <= set(ours)  # the sample's Case fields, and the contact's name
    for name in ("Id", "CaseNumber", "ClosedDate", "ContactEmail", "IsClosed", "Status"):
        assert ours[name] == theirs[name]


def test_text_is_escaped_and_empty_fields_left_out():
    body, _ = case_message(subject='Bill & "fees" <again>')
    parsed = outbound.parse_outbound_message(body).notifications[0]
    assert parsed.fields["Subject"] == 'Bill & "fees" <again>'
    fields = dict(
        messages.closed_case_fields(
            case_id="5005g00000dQz1XAAS",
            case_number="1",
            contact_id="",
            email="a@example.com",
            first_name="A",
            last_name="B",
            subject="s",
            closed_at=CLOSED,
        )
    )
    message = messages.outbound_message(
        ORG, [messages.Notification("04l5g00000HkT2mAAF", "Case", fields)]
    )
    assert "ContactId" not in outbound.parse_outbound_message(message).notifications[0].fields


def test_generated_ids_are_salesforce_ids():
    for prefix in ("04l", "04k", "500"):
        value = messages.salesforce_id(prefix)
        assert len(value) == 18 and value.startswith(prefix)
        assert outbound.id18(value[:15]) == value


def test_the_track_event_is_read_by_the_segment_receivers_parser():
    person = messages.Person("user_59034", "li.wei@example.com", "Wei", "Li")
    event = messages.track_event(
        person, sent_at=datetime(2026, 11, 21, 11, 20, 9, 995000, tzinfo=UTC)
    )
    body = messages.segment_body(event)
    (parsed,), is_batch = spec.parse_events(body.decode())
    assert not is_batch and parsed.data == event
    assert spec.profile_traits(parsed.data)["email"] == "li.wei@example.com"
    assert spec.dedup_key(parsed) == f"segment:{event['messageId']}"
    assert event["timestamp"] == "2026-11-21T11:20:09.995Z"
    sample = json.loads((SEGMENT_FIXTURES / "track_onboarding_completed.json").read_text())
    assert set(event) == set(sample)
    assert set(event["context"]) == set(sample["context"])
    assert event["event"] == sample["event"] and event["type"] == "track"
    assert set(event["properties"]) == set(sample["properties"])


def test_the_signature_is_segments():
    body = (SEGMENT_FIXTURES / "identify_compact.json").read_bytes()
    signature = messages.segment_signature("closeloop-example-secret", body)
    assert signature == "2c90d865a399cd7e3d6ab09714a8c87afa0f8877"  # shared/fixtures/README.md
    assert spec.signature_matches("closeloop-example-secret", body, signature)


def test_pretty_indents_json_and_xml_and_keeps_anything_else():
    assert messages.pretty(b'{"a":1}', "application/json") == '{\n  "a": 1\n}'
    ack = messages.pretty(outbound.ack_response(), "text/xml; charset=utf-8")
    assert "\n" in ack and "<Ack>true</Ack>" in ack
    assert messages.pretty(b"<!DOCTYPE x><x/>", "text/xml") == "<!DOCTYPE x><x/>"
    assert messages.pretty(b"not json", "application/json") == "not json"
