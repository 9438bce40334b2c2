"""Pure dedup logic: normalising, rules (AND within, OR across, skipped if lacking), merging."""

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from closeloop.directory import dedup
from closeloop.directory.dedup import (
    InvalidValue,
    Lookup,
    find_match,
    lookups,
    merge_embedded,
    merge_fields,
    normalize_email,
    normalize_field,
    normalize_phone,
    normalize_text,
    normalized_view,
    validate_rules,
)

DEFAULT_RULES = [["extRef"], ["email"]]


def test_the_module_imports_no_django():
    code = (
        "import sys, closeloop.directory.dedup, closeloop.directory.values;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'django');"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# Normalising ---------------------------------------------------------------------------------


def test_email_is_normalised_and_lower_cased():
    assert normalize_email("  Jane.Doe@Example.COM ") == "jane.doe@example.com"
    assert normalize_email("") == ""
    assert normalize_email(None) == ""


@pytest.mark.parametrize("bad", ["jane", "jane@", "@example.com", "a b@example.com", "a@localhost"])
def test_something_that_is_not_an_email_is_refused(bad):
    with pytest.raises(InvalidValue, match="not a valid email address"):
        normalize_email(bad)


def test_an_invalid_email_still_has_a_match_form():
    assert normalize_field("email", " Not An Email ") == "not an email"


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+14155550123", "US", "+14155550123"),
        ("(415) 555-0123", "US", "+14155550123"),
        ("415.555.0123", "us", "+14155550123"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("12", "US", ""),
        ("call me", "US", ""),
        ("", "US", ""),
        (None, "US", ""),
    ],
)
def test_phone_becomes_e164_or_nothing(raw, region, e164):
    assert normalize_phone(raw, region) == e164


def test_text_is_trimmed_and_case_folded():
    assert normalize_text("  ÉMILE ") == "émile"
    assert normalize_text("Straße") == normalize_text("STRASSE")
    # Composed and decomposed accents are the same name.
    assert normalize_text("e\u0301mile") == normalize_text("\u00e9mile")
    assert normalize_text(None) == ""
    assert normalize_text(42) == "42"


@given(st.text())
def test_normalising_text_is_idempotent(text):
    once = normalize_text(text)
    assert normalize_text(once) == once


@given(st.emails())
def test_normalising_an_email_is_idempotent_and_case_blind(email):
    try:
        once = normalize_email(email)
    except InvalidValue:
        return  # hypothesis makes some addresses email-validator rightly refuses
    assert normalize_email(once) == once
    assert normalize_email(email.upper()) == once


@given(st.from_regex(r"\+1 ?\(?[2-9][0-9]{2}\)? ?[2-9][0-9]{2}-?[0-9]{4}", fullmatch=True))
def test_normalising_a_phone_is_idempotent(phone):
    once = normalize_phone(phone, "US")
    assert normalize_phone(once, "US") == once


# Rules ---------------------------------------------------------------------------------------


def test_valid_rules():
    assert validate_rules(DEFAULT_RULES) == []
    assert validate_rules([["firstName", "lastName", "phone"], ["Customer ID"]]) == []


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        ({"email": True}, "must be a list"),
        ([["email"], ["phone"], ["extRef"], ["firstName"]], "At most 3"),
        ([[]], "Rule 1 must be a non-empty list"),
        (["email"], "Rule 1 must be a non-empty list"),
        ([["email", " "]], "empty field name"),
        ([["email", "email"]], "names a field twice"),
        ([["x" * 201]], "over 200 characters"),
    ],
)
def test_invalid_rules_are_explained(rules, problem):
    assert any(problem in text for text in validate_rules(rules))


def test_lookups_follow_the_rules_in_order():
    found = lookups(DEFAULT_RULES, {"extRef": " U-1 ", "email": "Jane@Example.com"})
    assert found == [
        Lookup(0, (("extRef", "u-1"),)),
        Lookup(1, (("email", "jane@example.com"),)),
    ]


def test_a_rule_is_skipped_when_the_incoming_contact_lacks_one_of_its_fields():
    rules = [["firstName", "lastName"], ["email"]]
    found = lookups(rules, {"firstName": "Jane", "lastName": "  ", "email": "jane@example.com"})
    assert [lookup.rule_index for lookup in found] == [1]
    assert lookups(rules, {}) == []


def test_an_invalid_phone_counts_as_lacking():
    assert lookups([["phone"]], {"phone": "12"}) == []
    assert lookups([["phone"]], {"phone": "(415) 555-0123"}) == [
        Lookup(0, (("phone", "+14155550123"),))
    ]


def test_embedded_data_fields_are_matched_by_their_case_sensitive_name():
    found = lookups([["Customer ID"]], {}, {"Customer ID": " ab-7 ", "customer id": "zz"})
    assert found == [Lookup(0, (("Customer ID", "ab-7"),))]
    assert lookups([["Customer ID"]], {}, {"customer id": "zz"}) == []


def test_lookup_keys_differ_by_rule_and_value():
    one = Lookup(0, (("email", "a@example.com"),))
    two = Lookup(1, (("email", "a@example.com"),))
    three = Lookup(0, (("email", "b@example.com"),))
    assert len({one.key, two.key, three.key}) == 3


CANDIDATES = [
    ("jane", normalized_view({"firstName": "Jane", "lastName": "Doe", "email": "jane@x.com"})),
    ("ext", normalized_view({"extRef": "U-1", "email": "other@x.com"})),
    ("phone", normalized_view({"phone": "+14155550123", "lastName": "Roe"}, {"Tier": "Gold"})),
]


def test_first_matching_rule_wins_or_across_rules():
    incoming = {"extRef": "u-1", "email": "JANE@x.com"}
    assert find_match(DEFAULT_RULES, incoming, {}, CANDIDATES) == "ext"
    assert find_match([["email"], ["extRef"]], incoming, {}, CANDIDATES) == "jane"


def test_every_field_of_a_rule_must_match_and_within_a_rule():
    rules = [["firstName", "lastName"]]
    assert find_match(rules, {"firstName": "JANE", "lastName": "doe"}, {}, CANDIDATES) == "jane"
    assert find_match(rules, {"firstName": "Jane", "lastName": "Roe"}, {}, CANDIDATES) is None


def test_no_rule_applicable_means_no_match():
    assert find_match(DEFAULT_RULES, {"firstName": "Jane"}, {}, CANDIDATES) is None


def test_phone_and_embedded_data_rules_match_normalised_values():
    assert find_match([["phone"]], {"phone": "(415) 555-0123"}, {}, CANDIDATES) == "phone"
    assert find_match(
        [["lastName", "Tier"]], {"lastName": "ROE"}, {"Tier": "gold "}, CANDIDATES
    ) == ("phone")


field_values = st.one_of(st.none(), st.text(max_size=8))
contacts = st.fixed_dictionaries(
    {name: field_values for name in ("firstName", "lastName", "extRef")}
)


@given(
    contacts,
    st.lists(
        st.lists(
            st.sampled_from(["firstName", "lastName", "extRef"]),
            min_size=1,
            max_size=3,
            unique=True,
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_a_contact_always_matches_itself_when_a_rule_applies(contact, rules):
    candidates = [("self", normalized_view(contact))]
    applicable = lookups(rules, contact)
    expected = "self" if applicable else None
    assert find_match(rules, contact, {}, candidates) == expected


@given(contacts, contacts)
def test_matching_is_symmetric_for_one_rule(left, right):
    rules = [["firstName", "lastName"]]
    both_apply = lookups(rules, left) and lookups(rules, right)
    left_matches = find_match(rules, left, {}, [("r", normalized_view(right))]) == "r"
    right_matches = find_match(rules, right, {}, [("l", normalized_view(left))]) == "l"
    if both_apply:
        assert left_matches == right_matches


# Merging -------------------------------------------------------------------------------------


def test_non_empty_incoming_values_win():
    existing = {"firstName": "Jane", "lastName": "Doe", "language": "EN"}
    incoming = {"firstName": "Janet", "lastName": "", "language": None, "phone": " "}
    assert merge_fields(existing, incoming) == {"firstName": "Janet"}


def test_unchanged_values_are_not_changes():
    assert merge_fields({"email": "a@x.com"}, {"email": "a@x.com"}) == {}


def test_embedded_data_is_merged_key_by_key_case_sensitively():
    existing = {"Location": "Berlin", "Tier": "Gold", "plan": "Free"}
    incoming = {"Tier": "Platinum", "Plan": "Pro", "Location": ""}
    assert merge_embedded(existing, incoming) == {
        "Location": "Berlin",
        "Tier": "Platinum",
        "plan": "Free",
        "Plan": "Pro",
    }


@given(
    st.dictionaries(st.text(min_size=1, max_size=5), st.text(max_size=5)),
    st.dictionaries(st.text(min_size=1, max_size=5), st.text(max_size=5)),
)
def test_merge_keeps_every_old_key_and_takes_every_non_empty_new_value(existing, incoming):
    merged = merge_embedded(existing, incoming)
    assert set(existing) <= set(merged)
    for name, value in incoming.items():
        if value.strip():
            assert merged[name] == value
        elif name in existing:
            assert merged[name] == existing[name]
    assert merge_embedded(merged, incoming) == merged  # idempotent


def test_standard_fields_list():
    assert dedup.STANDARD_FIELDS == ("firstName", "lastName", "email", "phone", "extRef")


def _slow_normal_form(text):
    from email_validator import EmailNotValidError, validate_email

    try:
        checked = validate_email(text, check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        return None
    return checked.normalized.casefold()


@given(st.one_of(st.emails(), st.from_regex(dedup.PLAIN_EMAIL, fullmatch=True)))
def test_the_fast_path_for_plain_addresses_agrees_with_email_validator(text):
    fast = dedup.plain_email(text)
    if fast is not None:
        assert fast == _slow_normal_form(text)


@pytest.mark.parametrize(
    "text", ["a@b.onion", "a@x.localhost", "a@x.invalid", "a" * 65 + "@example.com", "a@b.c0"]
)
def test_the_fast_path_leaves_doubtful_addresses_to_email_validator(text):
    assert dedup.plain_email(text) is None


@given(st.text(max_size=20))
def test_normalize_text_agrees_with_nfc_and_casefold(text):
    import unicodedata

    assert dedup.normalize_text(text) == unicodedata.normalize("NFC", text).strip().casefold()
