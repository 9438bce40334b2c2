"""The E.164 fast path answers exactly as phonenumbers does (parse, is_valid_number, format)."""

from __future__ import annotations

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from closeloop.directory import phones

COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
REGIONS = st.sampled_from(["US", "GB", "DE", "FR", "IT", "BR", "IN", "JP", "ZZ"])


def reference(text: str, region: str) -> str:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@st.composite
def numbers_sharing_a_prefix(draw):
    """Several '+' numbers of one country that share their leading digits: the fast path
    answers the later ones from the first one's answer."""
    code = draw(st.sampled_from(COUNTRY_CODES))
    shared = draw(st.text("0123456789", min_size=0, max_size=9))
    tails = draw(st.lists(st.text("0123456789", min_size=0, max_size=8), min_size=1, max_size=6))
    return [f"+{code}{shared}{tail}" for tail in tails]


@settings(max_examples=500, deadline=None)
@given(numbers=numbers_sharing_a_prefix(), region=REGIONS)
def test_fast_path_equals_phonenumbers(numbers, region):
    for text in numbers:
        assert phones.parse_e164(text, region) == reference(text, region), text


def example_numbers() -> list[str]:
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                found.append(
                    phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
                )
    return found


@st.composite
def valid_looking_numbers(draw):
    """Real example numbers of every region with their last digits changed: mostly valid
    numbers, many sharing a cached prefix."""
    example = draw(st.sampled_from(EXAMPLES))
    changed = draw(st.integers(min_value=1, max_value=min(7, len(example) - 2)))
    tails = draw(st.lists(st.text("0123456789", min_size=changed, max_size=changed), max_size=8))
    return [example[:-changed] + tail for tail in tails]


EXAMPLES = example_numbers()


@settings(max_examples=500, deadline=None)
@given(numbers=valid_looking_numbers(), region=REGIONS)
def test_fast_path_equals_phonenumbers_on_valid_numbers(numbers, region):
    for text in numbers:
        assert phones.parse_e164(text, region) == reference(text, region), text


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from(["+1415", "+1212", "+44 20", "+4930", "+3906", "+61 2", "(415) ", "0"]),
    rest=st.text("0123456789 -()", max_size=12),
    region=REGIONS,
)
def test_national_and_formatted_numbers_equal_phonenumbers(prefix, rest, region):
    text = (prefix + rest).strip()
    assert phones.parse_e164(text, region) == reference(text, region)


def test_valid_numbers_of_many_countries():
    for region in ("US", "CA", "GB", "DE", "FR", "IT", "AU", "BR", "JP", "IN", "NG", "AG"):
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            text = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            for _twice in range(2):  # the second answer comes from the cache
                assert phones.parse_e164(text, region) == text


def test_country_codes_are_analysed():
    assert phones.constrained_prefix(1) is not None and phones.constrained_prefix(1) < 10
    assert phones.constrained_prefix(49) is not None
