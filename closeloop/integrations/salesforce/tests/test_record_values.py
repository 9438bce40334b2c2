"""Piped text typed for Salesforce fields (record_values, no Django)."""

from __future__ import annotations

import pytest

from closeloop.integrations.salesforce.record_values import (
    FieldInfo,
    field_value,
    is_api_name,
    record_id,
)


def typed(kind: str, text: str):
    return field_value(text, FieldInfo("Field__c", kind))


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("boolean", "true", True),
        ("boolean", "FALSE", False),
        ("boolean", "1", True),
        ("boolean", " no ", False),
        ("double", "9", 9),
        ("double", "9.5", 9.5),
        ("double", "-0.25", -0.25),
        ("currency", "1e3", 1000.0),
        ("percent", "12.50", 12.5),
        ("int", "7", 7),
        ("int", "7.0", 7),
        ("long", "-3", -3),
        ("date", "2026-12-31", "2026-12-31"),
        ("date", "2026-12-31T23:30:00-05:00", "2026-12-31"),
        ("datetime", "2026-12-31T17:00:00Z", "2026-12-31T17:00:00.000Z"),
        ("datetime", "2026-12-31T17:00:00+02:00", "2026-12-31T17:00:00.000+02:00"),
        ("datetime", "2026-12-31 17:00:00", "2026-12-31T17:00:00.000Z"),
        ("datetime", "2026-12-31", "2026-12-31T00:00:00.000Z"),
        ("time", "17:05", "17:05:00.000Z"),
        ("reference", "500000000000001", "500000000000001AAA"),
        ("reference", "500000000000001aaa", "500000000000001AAA"),
        ("id", " 5005g00000AbCdE ", "5005g00000AbCdEAAV"),
        ("string", "  kept as written ", "  kept as written "),
        ("textarea", "two\nlines", "two\nlines"),
        ("picklist", "Closed", "Closed"),
        ("multipicklist", "A;B", "A;B"),
        ("email", "ada@example.com", "ada@example.com"),
    ],
)
def test_values_are_sent_as_their_field_s_type(kind, text, expected):
    value = typed(kind, text)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("kind", ["boolean", "double", "int", "date", "datetime", "reference"])
def test_an_empty_value_is_null(kind):
    assert typed(kind, "") is None
    assert typed(kind, "   ") is None


def test_an_empty_text_is_null_but_spaces_are_text():
    assert typed("string", "") is None
    assert typed("string", " ") == " "


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("boolean", "maybe", "Field__c is a checkbox (true or false), and 'maybe' is not."),
        ("double", "nine", "Field__c is a number, and 'nine' is not."),
        ("double", "NaN", "is a number"),
        ("double", "Infinity", "is a number"),
        ("double", "1,5", "is a number"),
        ("int", "7.5", "Field__c is a whole number, and '7.5' is not."),
        ("date", "31/12/2026", "Field__c is a date (YYYY-MM-DD), and '31/12/2026' is not."),
        ("datetime", "soon", "Field__c is a date and time (ISO 8601"),
        ("time", "5pm", "Field__c is a time"),
        ("reference", "500-123", "Field__c is a record id (15 or 18 characters), and"),
        ("reference", "5" * 16, "is a record id"),
        ("address", "1 Main St", "Field__c is of type address, which this task cannot set."),
    ],
)
def test_a_value_that_does_not_fit_names_the_field(kind, text, message):
    with pytest.raises(ValueError) as refused:
        typed(kind, text)
    assert message in str(refused.value)


def test_a_long_value_is_shortened_in_the_message():
    with pytest.raises(ValueError) as refused:
        typed("double", "x" * 500)
    assert len(str(refused.value)) < 120


def test_fields_from_describe_and_back():
    described = {
        "name": "Case__c",
        "type": "reference",
        "label": "Case",
        "createable": True,
        "updateable": False,
        "nillable": True,
        "referenceTo": ["Case"],
        "externalId": False,
        "soapType": "tns:ID",
    }
    info = FieldInfo.from_describe(described)
    assert info == FieldInfo("Case__c", "reference", "Case", True, False, True, ("Case",), False)
    assert FieldInfo.from_describe(info.as_json()) == info
    assert info.title == "Case (Case__c) · reference to Case"
    assert not FieldInfo("Address", "address").writable


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("Case", True),
        ("Survey_Response__c", True),
        ("ns__Thing__c", True),
        ("Case__c.Id", False),
        ("1Case", False),
        ("Case_", False),
        ("Bad___c", False),
        ("Case; DROP", False),
        ("", False),
        (None, False),
    ],
)
def test_api_names(name, ok):
    assert is_api_name(name) is ok


def test_record_ids():
    assert record_id("500000000000001") == "500000000000001AAA"
    with pytest.raises(ValueError, match="is empty after piped text"):
        record_id(" ")
    with pytest.raises(ValueError, match="The Case 'abc' is not a Salesforce record id"):
        record_id("abc", "The Case")
