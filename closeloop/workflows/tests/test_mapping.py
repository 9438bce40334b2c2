"""JSON payloads: safe parsing, JSONPath mapping with types, automatic mapping (pure)."""

import json
import time

import pytest

from closeloop.workflows import mapping


def test_ten_thousand_levels_of_nesting_are_refused_quickly():
    for text in ("[" * 10_000 + "]" * 10_000, '{"a":' * 10_000 + "1" + "}" * 10_000):
        started = time.monotonic()
        with pytest.raises(mapping.PayloadError, match="nested more than 64 levels"):
            mapping.parse_json(text)
        assert time.monotonic() - started < 0.5


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps({"text": "[" * 1000 + "{" * 1000})
    assert mapping.parse_json(text) == {"text": "[" * 1000 + "{" * 1000}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ('{"a": NaN}', "not valid JSON"),
        ('{"a": 1e999}', "not valid JSON"),
        ("", "not valid JSON"),
    ],
)
def test_invalid_json_is_explained(text, message):
    with pytest.raises(mapping.PayloadError, match=message):
        mapping.parse_json(text)


def test_a_payload_is_an_object_or_an_array():
    assert mapping.parse_payload("[1]") == [1]
    with pytest.raises(mapping.PayloadError, match="object or array"):
        mapping.parse_payload('"text"')


ROWS = [
    {"name": "email", "path": "$.customer.email", "type": "String"},
    {"name": "total", "path": "$.total", "type": "Number"},
    {"name": "vip", "path": "$.vip", "type": "Boolean"},
    {"name": "skus", "path": "$.items[*].sku", "type": "String"},
    {"name": "missing", "path": "$.nothing.here", "type": "String"},
]


def test_extract_types_the_values():
    payload = {
        "customer": {"email": "a@example.com"},
        "total": "42",
        "vip": "TRUE",
        "items": [{"sku": "A1"}, {"sku": "B2"}],
    }
    values, errors = mapping.extract(payload, ROWS)
    assert errors == []
    assert values == {
        "email": "a@example.com",
        "total": 42,
        "vip": True,
        "skus": "A1, B2",
        "missing": None,
    }


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"total": "abc"},
            'Field "total" ($.total) should be a Number, but the value is the text "abc".',
        ),
        (
            {"total": True},
            'Field "total" ($.total) should be a Number, but the value is the boolean true.',
        ),
        (
            {"vip": "yes"},
            'Field "vip" ($.vip) should be a Boolean (true or false), but the value is the text "yes".',
        ),
        (
            {"customer": {"email": {"x": 1}}},
            'Field "email" ($.customer.email) should be a String, but the value is an object.',
        ),
    ],
)
def test_values_that_do_not_fit_their_type_are_named(payload, message):
    _values, errors = mapping.extract(payload, ROWS)
    assert [error.message for error in errors] == [message]


def test_several_matches_for_a_number_are_an_error():
    rows = [{"name": "n", "path": "$.a[*]", "type": "Number"}]
    _values, errors = mapping.extract({"a": [1, 2]}, rows)
    assert "matched 2 values" in errors[0].message


def test_mappings_are_validated():
    rows = [
        {"name": "", "path": "$.a", "type": "String"},
        {"name": "a", "path": "a.b", "type": "String"},
        {"name": "b", "path": "$.a[", "type": "String"},
        {"name": "c", "path": "$.c", "type": "Text"},
        {"name": "c", "path": "$.d", "type": "String"},
        {"name": "x}", "path": "$.d", "type": "String"},
    ]
    problems = mapping.validate_mappings(rows)
    assert problems[0] == "Field 1: give it a name."
    assert 'Field "a": A JSONPath starts with $' in problems[1]
    assert problems[2].startswith('Field "b": $.a[ is not a valid JSONPath')
    assert problems[3] == 'Field "c": the type must be one of String, Number, Boolean.'
    assert problems[4] == 'Field "c": this name is used twice.'
    assert "braces" in problems[5]


def test_regular_expression_functions_are_not_available_in_paths():
    assert mapping.validate_mappings(
        [{"name": "a", "path": "$[?match(@.a, 'a.*')]", "type": "String"}]
    )
    assert not mapping.validate_mappings(
        [{"name": "a", "path": "$.items[?@.price > 10].sku", "type": "String"}]
    )


def test_every_leaf_of_a_sample_is_mapped_with_its_type():
    sample = {
        "customer": {"email": "a@example.com", "first name": "Ada"},
        "total": 12.5,
        "vip": False,
        "items": [{"sku": "A1"}],
        "note": None,
        "empty": {},
    }
    rows = mapping.leaves(sample)
    assert rows == [
        {"name": "customer.email", "path": "$.customer.email", "type": "String"},
        {"name": "customer.first name", "path": '$.customer["first name"]', "type": "String"},
        {"name": "total", "path": "$.total", "type": "Number"},
        {"name": "vip", "path": "$.vip", "type": "Boolean"},
        {"name": "items[0].sku", "path": "$.items[0].sku", "type": "String"},
        {"name": "note", "path": "$.note", "type": "String"},
    ]
    assert mapping.validate_mappings(rows) == []
    values, errors = mapping.extract(sample, rows)
    assert not errors
    assert values["customer.first name"] == "Ada"


def test_automatic_mapping_keeps_existing_rows():
    existing = [{"name": "mail", "path": "$.customer.email", "type": "String"}]
    merged = mapping.merge_mappings(existing, mapping.leaves({"customer": {"email": "x", "id": 1}}))
    assert merged == [
        existing[0],
        {"name": "customer.id", "path": "$.customer.id", "type": "Number"},
    ]


def scanned_depth(text: str, limit: int) -> int:
    """The nesting depth stepping through every character (what nesting_depth must equal)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
        elif char in "]}":
            depth -= 1
    return deepest


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{}",
        '[{"a": [1, {"b": "]]]}}}"}]}, {"c": "\\"[[["}]',
        '{"a": "\\\\", "b": [[{"c": "x\\\\\\"]"}]]}',
        '{"a": "unclosed [[[',
        '{"a": "ends in a backslash \\',
        '"\\u005b[" [{"x": "é{"}]',
        "[" * 70 + "]" * 70,
        '[{"a": "' + "[" * 100 + '"}]',
    ],
)
def test_the_nesting_depth_is_a_plain_scans(text):
    for limit in (1, 3, mapping.MAX_DEPTH):
        assert mapping.nesting_depth(text, limit) == scanned_depth(text, limit)
