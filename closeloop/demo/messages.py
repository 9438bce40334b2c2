"""The messages the Try it page sends, as Salesforce and Segment send them. Pure: no Django.

- `outbound_message(...)`: a Salesforce outbound message (SOAP 1.1) for closed Cases, in the
  shape of shared/fixtures/salesforce/case_closed.xml: `notifications` in
  http://soap.sforce.com/2005/09/outbound with OrganizationId, ActionId, SessionId sent as
  xsi:nil, EnterpriseUrl, PartnerUrl and one Notification per case, each an sObject of
  xsi:type sf:Case whose fields are `sf:<Field>` in urn:sobject.enterprise.soap.sforce.com,
  in the order Salesforce writes them (Id first, then by name). Empty fields are left out.
- `track_event(...)`: a Segment Spec track call in the shape of
  shared/fixtures/segment/track_onboarding_completed.json (traits under context.traits), and
  `segment_body` / `segment_signature`: the compact JSON Segment's Webhooks (Actions)
  destination POSTs and its X-Signature (hex HMAC-SHA1 of the body with the shared secret).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from lxml import etree

from closeloop.integrations.salesforce.outbound import OutboundMessageError, id18, parse_xml

SOAP_ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
API_VERSION = "66.0"
ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
# What Salesforce sends with an outbound message.
OUTBOUND_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
SEGMENT_HEADERS = {"Content-Type": "application/json"}
ONBOARDING_EVENT = "Onboarding Tour Completed"


def salesforce_id(prefix: str) -> str:
    """A random 18-character Salesforce id with a key prefix (04l a notification, 04k an
    outbound-message action, 500 a Case)."""
    body = "".join(secrets.choice(ID_ALPHABET) for _ in range(15 - len(prefix) - 2))
    return id18(prefix + "5g" + body)


def salesforce_time(moment: datetime) -> str:
    """A dateTime as Salesforce writes it: 2026-11-20T14:03:11.000Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def segment_time(moment: datetime) -> str:
    return salesforce_time(moment)


# Salesforce ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """One notification: its id and the record's fields (API name → text; None left out)."""

    id: str
    sobject_type: str
    fields: Mapping[str, str | None]


@dataclass(frozen=True)
class Org:
    """The sending org: its id, the outbound message's action id and the org's host."""

    organization_id: str
    action_id: str
    host: str = "https://closeloop-demo.my.salesforce.com"

    def soap_url(self, kind: str) -> str:
        return f"{self.host}/services/Soap/{kind}/{API_VERSION}/{self.organization_id[:15]}"


def closed_case_fields(
    *,
    case_id: str,
    case_number: str,
    contact_id: str,
    email: str,
    first_name: str,
    last_name: str,
    subject: str,
    closed_at: datetime,
    priority: str = "Medium",
    origin: str = "Web",
) -> dict[str, str]:
    """A closed Case's fields as an outbound message carries them; Contact_First_Name__c and
    Contact_Last_Name__c are the formula fields a real set-up adds to send the contact's name."""
    return {
        "Id": case_id,
        "CaseNumber": case_number,
        "ClosedDate": salesforce_time(closed_at),
        "ContactEmail": email,
        "ContactId": contact_id,
        "Contact_First_Name__c": first_name,
        "Contact_Last_Name__c": last_name,
        "IsClosed": "true",
        "Origin": origin,
        "Priority": priority,
        "Status": "Closed",
        "Subject": subject,
        "SuppliedName": f"{first_name} {last_name}".strip(),
    }


def _sobject_fields(fields: Mapping[str, str | None]) -> list[tuple[str, str]]:
    present = [(name, value) for name, value in fields.items() if value not in (None, "")]
    return sorted(present, key=lambda item: (item[0] != "Id", item[0].lower()))


def outbound_message(org: Org, notifications: list[Notification]) -> bytes:
    """The SOAP envelope Salesforce POSTs for these notifications (1 to 100)."""
    if not 1 <= len(notifications) <= 100:
        raise ValueError("an outbound message carries 1 to 100 notifications")
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENVELOPE_NS}" xmlns:xsd="{XSD_NS}" '
        f'xmlns:xsi="{XSI_NS}">',
        " <soapenv:Body>",
        f'  <notifications xmlns="{OUTBOUND_NS}">',
        f"   <OrganizationId>{escape(org.organization_id)}</OrganizationId>",
        f"   <ActionId>{escape(org.action_id)}</ActionId>",
        '   <SessionId xsi:nil="true"/>',
        f"   <EnterpriseUrl>{escape(org.soap_url('c'))}</EnterpriseUrl>",
        f"   <PartnerUrl>{escape(org.soap_url('u'))}</PartnerUrl>",
    ]
    for notification in notifications:
        lines += [
            "   <Notification>",
            f"    <Id>{escape(notification.id)}</Id>",
            f'    <sObject xsi:type="sf:{escape(notification.sobject_type)}" '
            f'xmlns:sf="{SOBJECT_NS}">',
        ]
        lines += [
            f"     <sf:{name}>{escape(value)}</sf:{name}>"
            for name, value in _sobject_fields(notification.fields)
        ]
        lines += ["    </sObject>", "   </Notification>"]
    lines += ["  </notifications>", " </soapenv:Body>", "</soapenv:Envelope>", ""]
    return "\n".join(lines).encode("utf-8")


# Segment -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    user_id: str
    email: str
    first_name: str
    last_name: str
    anonymous_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def track_event(
    person: Person,
    *,
    sent_at: datetime,
    event: str = ONBOARDING_EVENT,
    properties: Mapping | None = None,
    message_id: str = "",
) -> dict:
    """A Segment Spec track call from analytics.js, the person's traits under context.traits."""
    milliseconds = int(sent_at.timestamp() * 1000)
    stamp = segment_time(sent_at)
    return {
        "anonymousId": person.anonymous_id,
        "context": {
            "library": {"name": "analytics.js", "version": "5.2.0"},
            "traits": {
                "email": person.email,
                "firstName": person.first_name,
                "lastName": person.last_name,
            },
        },
        "event": event,
        "integrations": {"All": True},
        "messageId": message_id or f"ajs-next-{milliseconds}-{uuid.uuid4()}",
        "properties": dict(
            properties
            if properties is not None
            else {"tour": "workspace-setup", "steps_completed": 7, "skipped": False}
        ),
        "receivedAt": stamp,
        "sentAt": stamp,
        "originalTimestamp": stamp,
        "timestamp": stamp,
        "type": "track",
        "userId": person.user_id,
        "version": 2,
    }


def segment_body(event: Mapping) -> bytes:
    """The compact JSON Segment sends."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def segment_signature(secret: str, body: bytes) -> str:
    """X-Signature: the hex HMAC-SHA1 of the exact body with the shared secret."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()


def pretty(body: bytes, content_type: str) -> str:
    """A body for people: JSON and XML indented (XML parsed with the receiver's hardened
    parser), anything else as it is."""
    text = body.decode("utf-8", "replace")
    try:
        if "json" in content_type:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        if "xml" in content_type:
            root = parse_xml(body)
            for element in root.iter():
                if len(element) and element.text is not None and not element.text.strip():
                    element.text = None
                if element.tail is not None and not element.tail.strip():
                    element.tail = None
            return etree.tostring(root, pretty_print=True, encoding="unicode").rstrip()
    except (ValueError, OutboundMessageError):
        pass
    return text
