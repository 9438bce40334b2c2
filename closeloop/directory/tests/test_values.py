"""Checking contact values as they arrive: text fields, embedded data, transaction data, dates."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from closeloop.directory.dedup import InvalidValue
from closeloop.directory.values import (
    clean_bool,
    clean_embedded_data,
    clean_text_fields,
    clean_transaction_data,
    parse_transaction_date,
    scalar_text,
)


def test_text_fields_are_trimmed_text():
    assert clean_text_fields({"firstName": " Jane ", "extRef": 48213, "unknown": "x"}) == {
        "firstName": "Jane",
        "extRef": "48213",
    }


def test_too_long_and_bad_email_are_refused():
    with pytest.raises(InvalidValue, match="firstName is longer than 200"):
        clean_text_fields({"firstName": "x" * 201})
    with pytest.raises(InvalidValue, match="not a valid email"):
        clean_text_fields({"email": "jane@"})
    with pytest.raises(InvalidValue, match="lastName must be text"):
        clean_text_fields({"lastName": {"a": 1}})


def test_scalars_become_qualtrics_text():
    assert scalar_text(True, "x") == "true"
    assert scalar_text(12, "x") == "12"
    assert scalar_text(149.9, "x") == "149.9"
    assert scalar_text(None, "x") == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("true", True), ("1", True), (False, False), ("no", False), (None, None)],
)
def test_booleans(value, expected):
    assert clean_bool(value, "unsubscribed") is expected


def test_a_non_boolean_is_refused():
    with pytest.raises(InvalidValue, match="unsubscribed must be true or false"):
        clean_bool("maybe", "unsubscribed")


def test_embedded_data_limits():
    assert clean_embedded_data({"Plan": "Pro", "seats": 12, "ok": True}) == {
        "Plan": "Pro",
        "seats": "12",
        "ok": "true",
    }
    assert clean_embedded_data({"n": "x" * 1024}) == {"n": "x" * 1024}
    assert clean_embedded_data({"x" * 200: "v"}) == {"x" * 200: "v"}
    with pytest.raises(InvalidValue, match="longer than 1024"):
        clean_embedded_data({"n": "x" * 1025})
    with pytest.raises(InvalidValue, match="longer than 200"):
        clean_embedded_data({"x" * 201: "v"})
    with pytest.raises(InvalidValue, match="must not be empty"):
        clean_embedded_data({" ": "v"})
    with pytest.raises(InvalidValue, match="must be an object"):
        clean_embedded_data(["a"])
    with pytest.raises(InvalidValue, match="must be text, a number"):
        clean_embedded_data({"nested": {"a": 1}})


def test_transaction_data_keeps_scalars_as_given():
    data = {"order_id": "SO-100482", "total": 149.9, "first_purchase": False}
    assert clean_transaction_data(data) == data
    with pytest.raises(InvalidValue):
        clean_transaction_data({"items": [1, 2]})


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-21 10:02:44",
        "2026-11-21T10:02:44Z",
        "2026-11-21T10:02:44.000Z",
        "2026-11-21T11:02:44+01:00",
        "2026-11-21T10:02:44+00:00",
    ],
)
def test_transaction_dates_in_qualtrics_and_iso_forms(text):
    assert parse_transaction_date(text) == datetime(2026, 11, 21, 10, 2, 44, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["", "yesterday", "2026-13-01 00:00:00", None, 12])
def test_bad_dates_are_refused(bad):
    with pytest.raises(InvalidValue, match="transactionDate"):
        parse_transaction_date(bad)


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.just(timezone(timedelta(hours=-5))),
    )
)
def test_any_aware_iso_date_round_trips(moment):
    assert parse_transaction_date(moment.isoformat()) == moment.astimezone(UTC)
