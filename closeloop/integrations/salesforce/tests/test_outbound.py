"""The outbound-message envelope: parsing the samples, hostile XML, the Ack and Faults, ids."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from closeloop.integrations.salesforce.outbound import (
    MAX_NOTIFICATIONS,
    OUTBOUND_NS,
    SOAP_ENVELOPE_NS,
    OutboundMessageError,
    ack_response,
    fault_response,
    fields_from_wsdl,
    id18,
    parse_outbound_message,
    same_salesforce_id,
    typed_value,
)

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def envelope(notifications: str, organization_id: str = "00D5g000004ClXkEAK") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="{SOAP_ENVELOPE_NS}"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="{OUTBOUND_NS}">
   <OrganizationId>{organization_id}</OrganizationId>
   <ActionId>04k5g000000TzQeAAK</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://x.my.salesforce.com/services/Soap/c/66.0</EnterpriseUrl>
   <PartnerUrl>https://x.my.salesforce.com/services/Soap/u/66.0</PartnerUrl>
   {notifications}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>""".encode()


def case_notification(number: int) -> str:
    return f"""<Notification><Id>04l5g00000HkT{number:05d}</Id>
    <sObject xsi:type="sf:Case" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>5005g00000dQz1XAAS</sf:Id><sf:CaseNumber>{number:08d}</sf:CaseNumber>
    </sObject></Notification>"""


def test_case_closed_sample():
    message = parse_outbound_message(fixture("case_closed.xml"))
    assert message.organization_id == "00D5g000004ClXkEAK"
    assert message.action_id == "04k5g000000TzQeAAK"
    assert message.session_id is None  # sent as xsi:nil
    assert message.enterprise_url.endswith("/services/Soap/c/66.0/00D5g000004ClXk")
    [notification] = message.notifications
    assert notification.id == "04l5g00000HkT2mAAF"
    assert notification.sobject_type == "Case"
    assert notification.fields["ContactEmail"] == "maria.lopez@example.com"
    assert notification.fields["IsClosed"] == "true"
    assert notification.fields["CaseNumber"] == "00001027"
    assert next(iter(notification.fields)) == "Id"


def test_opportunity_batch_sample_nil_missing_and_escaped_fields():
    message = parse_outbound_message(fixture("opportunity_won_batch.xml"))
    assert message.session_id.startswith("00D5g000004ClXk!")
    first, second, third = message.notifications
    assert [n.sobject_type for n in message.notifications] == ["Opportunity"] * 3
    assert first.fields["Primary_Contact_Email__c"] == "ken.sato@example.org"
    assert second.fields["Amount"] is None  # xsi:nil
    assert "Primary_Contact_Email__c" not in third.fields  # left out: also empty for workflows
    assert third.fields["Name"] == "Fabrikam pilot & onboarding"


@pytest.mark.parametrize(
    "name", ["bad_entity_expansion.xml", "bad_external_entity.xml", "bad_truncated.xml"]
)
def test_hostile_and_broken_samples_are_refused_fast(name):
    started = time.perf_counter()
    with pytest.raises(OutboundMessageError) as refused:
        parse_outbound_message(fixture(name))
    assert time.perf_counter() - started < 0.5
    assert "root:" not in str(refused.value)  # /etc/passwd never read into the message


def test_a_doctype_anywhere_is_refused_before_parsing():
    body = fixture("case_closed.xml").replace(b"<soapenv:Body>", b"<!DOCTYPE x><soapenv:Body>")
    with pytest.raises(OutboundMessageError, match="Document type declarations"):
        parse_outbound_message(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not well-formed"),
        (b'{"type": "track"}', "not well-formed"),
        (b"<a/>", "not a SOAP 1.1 envelope"),
        (
            f'<e:Envelope xmlns:e="{SOAP_ENVELOPE_NS}"><e:Body><x/></e:Body></e:Envelope>'.encode(),
            "no notifications element",
        ),
        (envelope(""), "no Notification"),
        (envelope(case_notification(1), organization_id="not-an-id"), "not a Salesforce id"),
        (envelope(case_notification(1), organization_id=""), "OrganizationId"),
        (envelope("<Notification><Id>04l5g00000HkT2m</Id></Notification>"), "has no sObject"),
        (
            envelope("<Notification><sObject xsi:type='sf:Case'/></Notification>"),
            "Id element is missing",
        ),
        (
            envelope("<Notification><Id>04l5g00000HkT2m</Id><sObject/></Notification>"),
            "has no type",
        ),
    ],
)
def test_malformed_messages_say_what_is_wrong(body, message):
    with pytest.raises(OutboundMessageError, match=message):
        parse_outbound_message(body)


def test_one_to_a_hundred_notifications():
    batch = envelope("".join(case_notification(n) for n in range(MAX_NOTIFICATIONS)))
    assert len(parse_outbound_message(batch).notifications) == MAX_NOTIFICATIONS
    too_many = envelope("".join(case_notification(n) for n in range(MAX_NOTIFICATIONS + 1)))
    with pytest.raises(OutboundMessageError, match="at most 100"):
        parse_outbound_message(too_many)


def test_ack_matches_what_salesforce_expects():
    ours = etree.fromstring(ack_response())
    expected = etree.fromstring(fixture("ack.xml"))
    path = f"{{{SOAP_ENVELOPE_NS}}}Body/{{{OUTBOUND_NS}}}notificationsResponse/{{{OUTBOUND_NS}}}Ack"
    assert ours.find(path).text == expected.find(path).text == "true"


def test_faults_are_soap_1_1_with_escaped_text():
    fault = etree.fromstring(fault_response("Client", "OrganizationId <00D…> & more"))
    body = fault.find(f"{{{SOAP_ENVELOPE_NS}}}Body/{{{SOAP_ENVELOPE_NS}}}Fault")
    assert body.findtext("faultcode") == "soapenv:Client"
    assert body.findtext("faultstring") == "OrganizationId <00D…> & more"
    assert etree.fromstring(fault_response("Server", "x")).find(".//faultcode").text == (
        "soapenv:Server"
    )
    with pytest.raises(ValueError):
        fault_response("Sender", "SOAP 1.2 codes are not SOAP 1.1's")


def test_ids_in_15_and_18_character_forms():
    assert id18("00D5g000004ClXk") == "00D5g000004ClXkEAK"
    assert id18("5005g00000dQz1X") == "5005g00000dQz1XAAS"
    assert same_salesforce_id("00D5g000004ClXk", "00D5g000004ClXkEAK")
    assert same_salesforce_id("00D5g000004ClXkeak", "00D5g000004ClXkEAK")  # suffix ignores case
    assert not same_salesforce_id("00D5g000004ClXK", "00D5g000004ClXkEAK")  # the 15 do not
    assert not same_salesforce_id("00D5g000004ClXk", "")
    with pytest.raises(ValueError):
        id18("00D5g")


ID_CHARACTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@given(st.text(alphabet=ID_CHARACTERS, min_size=15, max_size=15))
def test_18_character_ids_stay_apart_where_case_is_lost(id15):
    """What the suffix is for: ids that differ only in case differ once uppercased."""
    long_form = id18(id15)
    assert long_form[:15] == id15 and len(long_form) == 18
    assert same_salesforce_id(id15, long_form)
    other = id15.swapcase()
    if other != id15:
        assert long_form.upper() != id18(other).upper()
        assert not same_salesforce_id(id15, other)


@pytest.mark.parametrize(
    ("text", "xsd_type", "expected"),
    [
        ("true", "", True),
        ("false", "xsd:boolean", False),
        ("120000.0", "", Decimal("120000.0")),
        ("42", "", 42),
        ("42", "xsd:string", "42"),
        ("00001027", "xsd:string", "00001027"),
        ("2026-11-19", "", date(2026, 11, 19)),
        ("2026-11-20T14:03:11.000Z", "", datetime(2026, 11, 20, 14, 3, 11, tzinfo=UTC)),
        ("2026-11-20T14:03:11.000Z", "xsd:dateTime", datetime(2026, 11, 20, 14, 3, 11, tzinfo=UTC)),
        ("Closed", "", "Closed"),
        ("", "", None),
        (None, "xsd:boolean", None),
        ("2026-13-45", "", "2026-13-45"),
        ("INF", "xsd:double", "INF"),
        ("NaN", "xsd:double", "NaN"),
        ("1.5E3", "xsd:double", Decimal("1.5E3")),
        ("-7", "xsd:int", -7),
        ("seven", "xsd:int", "seven"),
    ],
)
def test_salesforce_values_are_typed(text, xsd_type, expected):
    assert typed_value(text, xsd_type) == expected


def test_wsdl_gives_the_object_and_its_typed_fields():
    name, fields = fields_from_wsdl(fixture("case_outbound.wsdl"))
    assert name == "Case"
    by_name = {field.name: field.xsd_type for field in fields}
    assert list(by_name)[:3] == ["Id", "CaseNumber", "ClosedDate"]
    assert by_name["IsClosed"] == "boolean"
    assert by_name["ClosedDate"] == "dateTime"
    assert by_name["Survey_Score__c"] == "double"
    assert "fieldsToNull" not in by_name


def test_a_pasted_message_or_hostile_wsdl_is_not_a_wsdl():
    with pytest.raises(OutboundMessageError, match="not an outbound-message WSDL"):
        fields_from_wsdl(fixture("case_closed.xml"))
    with pytest.raises(OutboundMessageError):
        fields_from_wsdl(fixture("bad_external_entity.xml"))
    with pytest.raises(OutboundMessageError, match="does not define the object"):
        fields_from_wsdl(fixture("case_outbound.wsdl"), "Lead")
