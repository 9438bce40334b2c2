"""Salesforce outbound messages: the SOAP 1.1 envelope in, the Ack or a Fault out.

Pure (lxml only, no Django), so that the receiver, the tests and the benchmark share it. The
parser is hardened: a document type declaration is refused before parsing (no entity of any
kind, internal or external, is ever expanded), and lxml never reads the network or a DTD.

A message is `notifications` in http://soap.sforce.com/2005/09/outbound with OrganizationId,
ActionId, SessionId (may be xsi:nil), EnterpriseUrl, PartnerUrl and 1 to 100 `Notification`
elements (Id, and an sObject of xsi:type sf:<Object> whose children are its fields).
A field left out and a field sent xsi:nil="true" are both empty (None).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from xml.sax.saxutils import escape

from lxml import etree

SOAP_ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"

MAX_NOTIFICATIONS = 100
# Salesforce ids: 15 case-sensitive characters, or 18 with a case-insensitive checksum suffix.
SALESFORCE_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)


class OutboundMessageError(ValueError):
    """The body is not an outbound message Closeloop can accept (a soapenv:Client fault)."""


@dataclass(frozen=True)
class Notification:
    id: str
    sobject_type: str
    fields: dict[str, str | None]


@dataclass(frozen=True)
class OutboundMessage:
    organization_id: str
    action_id: str
    session_id: str | None
    enterprise_url: str
    partner_url: str
    notifications: list[Notification]


def hardened_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(body: bytes) -> etree._Element:
    """The root element of a document without a DTD, or OutboundMessageError."""
    if DOCTYPE.search(body):
        raise OutboundMessageError("Document type declarations (DTDs, entities) are not allowed.")
    try:
        root = etree.fromstring(body, hardened_parser())
    except etree.XMLSyntaxError as error:
        raise OutboundMessageError(f"The body is not well-formed XML: {error.msg}.") from None
    if root is None:
        raise OutboundMessageError("The body is empty.")
    return root


def parse_outbound_message(body: bytes) -> OutboundMessage:
    root = parse_xml(body)
    if root.tag != f"{{{SOAP_ENVELOPE_NS}}}Envelope":
        raise OutboundMessageError("The body is not a SOAP 1.1 envelope.")
    notifications = root.find(f"{{{SOAP_ENVELOPE_NS}}}Body/{{{OUTBOUND_NS}}}notifications")
    if notifications is None:
        raise OutboundMessageError(
            f"The SOAP body has no notifications element in {OUTBOUND_NS}: "
            "is this a Salesforce outbound message?"
        )
    items = notifications.findall(f"{{{OUTBOUND_NS}}}Notification")
    if not items:
        raise OutboundMessageError("The message has no Notification.")
    if len(items) > MAX_NOTIFICATIONS:
        raise OutboundMessageError(
            f"The message has {len(items)} notifications; Salesforce sends at most "
            f"{MAX_NOTIFICATIONS}."
        )
    organization_id = _required_text(notifications, "OrganizationId")
    if not SALESFORCE_ID.match(organization_id):
        raise OutboundMessageError(f"OrganizationId {organization_id!r} is not a Salesforce id.")
    return OutboundMessage(
        organization_id=organization_id,
        action_id=_text(notifications, "ActionId") or "",
        session_id=_text(notifications, "SessionId"),
        enterprise_url=_text(notifications, "EnterpriseUrl") or "",
        partner_url=_text(notifications, "PartnerUrl") or "",
        notifications=[_notification(item) for item in items],
    )


def _notification(element: etree._Element) -> Notification:
    notification_id = _required_text(element, "Id")
    sobject = element.find(f"{{{OUTBOUND_NS}}}sObject")
    if sobject is None:
        raise OutboundMessageError(f"Notification {notification_id} has no sObject.")
    declared = sobject.get(f"{{{XSI_NS}}}type") or ""
    sobject_type = declared.rpartition(":")[2]
    if not sobject_type:
        raise OutboundMessageError(f"The sObject of notification {notification_id} has no type.")
    fields: dict[str, str | None] = {}
    for field in sobject:
        if not isinstance(field.tag, str):
            continue
        name = field.tag.rpartition("}")[2]  # the local name ({namespace}Status)
        fields[name] = None if _is_nil(field) else (field.text or "")
    return Notification(notification_id, sobject_type, fields)


def _is_nil(element: etree._Element) -> bool:
    return element.get(f"{{{XSI_NS}}}nil") in ("true", "1")


def _text(parent: etree._Element, name: str) -> str | None:
    element = parent.find(f"{{{OUTBOUND_NS}}}{name}")
    if element is None or _is_nil(element):
        return None
    return (element.text or "").strip()


def _required_text(parent: etree._Element, name: str) -> str:
    value = _text(parent, name)
    if not value:
        raise OutboundMessageError(f"The {name} element is missing or empty.")
    return value


def ack_response(ack: bool = True) -> bytes:
    """The notificationsResponse Salesforce waits for; only Ack true stops its retries."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENVELOPE_NS}">'
        "<soapenv:Body>"
        f'<notificationsResponse xmlns="{OUTBOUND_NS}">'
        f"<Ack>{'true' if ack else 'false'}</Ack>"
        "</notificationsResponse>"
        "</soapenv:Body>"
        "</soapenv:Envelope>"
    ).encode()


def fault_response(code: str, message: str) -> bytes:
    """A SOAP 1.1 Fault: code "Client" (the sender's message is wrong, HTTP 400) or "Server"
    (Closeloop could not take it now, HTTP 500: Salesforce retries)."""
    if code not in ("Client", "Server"):
        raise ValueError(f"SOAP 1.1 fault codes used here are Client and Server, not {code!r}")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENVELOPE_NS}">'
        "<soapenv:Body>"
        "<soapenv:Fault>"
        f"<faultcode>soapenv:{code}</faultcode>"
        f"<faultstring>{escape(message)}</faultstring>"
        "</soapenv:Fault>"
        "</soapenv:Body>"
        "</soapenv:Envelope>"
    ).encode()


def id_checksum(id15: str) -> str:
    """The three characters Salesforce appends to a 15-character id to make it case-safe."""
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(
            1 << position for position, char in enumerate(id15[start : start + 5]) if char.isupper()
        )
        suffix += CHECKSUM_ALPHABET[bits]
    return suffix


def id18(salesforce_id: str) -> str:
    """The 18-character form of a 15- or 18-character Salesforce id."""
    if not SALESFORCE_ID.match(salesforce_id):
        raise ValueError(f"{salesforce_id!r} is not a Salesforce id")
    if len(salesforce_id) == 18:
        return salesforce_id[:15] + salesforce_id[15:].upper()
    return salesforce_id + id_checksum(salesforce_id)


def same_salesforce_id(first: str, second: str) -> bool:
    """Whether two ids, in 15- or 18-character form, name the same record or organization."""
    try:
        return id18(first) == id18(second)
    except ValueError:
        return False


# Values as Salesforce writes them in outbound messages (xsd lexical forms).
BOOLEAN = re.compile(r"^(?:true|false)$")
NUMBER = re.compile(r"^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$")


def typed_value(text: str | None, xsd_type: str = ""):
    """A field's value as Python: bool, int or Decimal, date, aware datetime, or the text.

    With the WSDL's type (xsd:boolean, xsd:double, xsd:int, xsd:date, xsd:dateTime) that type
    decides; without it, the lexical form does. Ids and picklists stay text."""
    if text is None or text == "":
        return None
    kind = xsd_type.rpartition(":")[2]
    if kind == "string" or kind == "ID":
        return text
    if kind == "boolean" or (not kind and BOOLEAN.match(text)):
        return text == "true" or text == "1"
    if kind in ("int", "long", "double", "decimal") or (not kind and NUMBER.match(text)):
        return _number(text)
    if kind == "date" or (not kind and DATE.match(text)):
        return _parsed(date.fromisoformat, text)
    if kind == "dateTime" or (not kind and DATETIME.match(text)):
        return _parsed(lambda value: datetime.fromisoformat(value.replace("Z", "+00:00")), text)
    return text


def _number(text: str):
    """An int for an integer literal, a Decimal otherwise; xsd:double's INF and NaN, like
    anything that is no number, stay text."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    if not number.is_finite():
        return text
    return int(number) if "." not in text and "e" not in text.lower() else number


def _parsed(parse, text: str):
    try:
        return parse(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class WsdlField:
    name: str
    xsd_type: str


def fields_from_wsdl(wsdl: bytes, sobject_type: str = "") -> tuple[str, list[WsdlField]]:
    """The object and its fields from the WSDL Salesforce generates for an outbound message
    (Setup → Outbound Messages → Click for WSDL): (object name, fields in WSDL order)."""
    root = parse_xml(wsdl)
    schemas = root.iter(f"{{{XSD_NS}}}schema")
    sobject_schema = next((s for s in schemas if s.get("targetNamespace") == SOBJECT_NS), None)
    if sobject_schema is None:
        raise OutboundMessageError(
            "This is not an outbound-message WSDL: it has no schema for " + SOBJECT_NS + "."
        )
    types = {
        element.get("name"): element
        for element in sobject_schema.findall(f"{{{XSD_NS}}}complexType")
        if element.get("name") and element.get("name") != "sObject"
    }
    if not types:
        raise OutboundMessageError("The WSDL defines no object besides sObject.")
    name = sobject_type or _notified_object(root, types)
    if name not in types:
        raise OutboundMessageError(f"The WSDL does not define the object {name!r}.")
    fields = [WsdlField("Id", "ID")]
    for element in types[name].iter(f"{{{XSD_NS}}}element"):
        field = element.get("name")
        if field and field != "Id":
            fields.append(WsdlField(field, (element.get("type") or "").rpartition(":")[2]))
    return name, fields


def _notified_object(root: etree._Element, types: dict) -> str:
    """The object named by the Notification's sObject element (type="ens:Case")."""
    for element in root.iter(f"{{{XSD_NS}}}element"):
        if element.get("name") == "sObject":
            declared = (element.get("type") or "").rpartition(":")[2]
            if declared in types:
                return declared
    return next(iter(types))
