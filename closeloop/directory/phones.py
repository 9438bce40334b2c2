"""Phone numbers in E.164, as phonenumbers gives them, fast for imports of unique numbers.

phonenumbers.parse + is_valid_number costs ~0.1 ms a number, too much for a million contacts.
For input already in international form ("+" then digits, the usual export of other systems)
the answer depends only on a number's first digits and its length: every pattern of the
country's metadata (number types, leading digits, national prefix) constrains a bounded
prefix and then accepts any digits (`\\d{n}`). So phonenumbers answers once per
(region, country code, constrained prefix, length) and numbers sharing those get the same
answer: invalid, or valid and unchanged. Anything else (national formats, patterns that
cannot be analysed, an answer that rewrites the number) asks phonenumbers every time.
tests/test_phones.py compares both on generated numbers.
"""

from __future__ import annotations

import functools
import re
from re import _constants as sre_constants  # CPython's regex parser: the patterns' structure
from re import _parser as sre_parser

import phonenumbers
from phonenumbers import PhoneMetadata

_INTERNATIONAL = re.compile(r"\+([1-9][0-9]{6,16})")
_ANY_DIGIT = (sre_constants.IN, [(sre_constants.CATEGORY, sre_constants.CATEGORY_DIGIT)])
_MAX_CACHED = 200_000
_answers: dict[tuple, str | None] = {}


class _Unbounded(Exception):
    """A pattern whose constrained prefix has no bound (or is not understood)."""


def parse_e164(text: str, region: str) -> str:
    """phonenumbers' E.164 of a trimmed text under a default region; '' when not valid."""
    key = _answer_key(text, region)
    if key is None:
        return _slow_e164(text, region)
    answer = _answers.get(key, "?")
    if answer == "?":
        result = _slow_e164(text, region)
        answer = "" if not result else ("=" if result == text else None)
        if len(_answers) >= _MAX_CACHED:
            _answers.clear()
        _answers[key] = answer
        return result
    if answer is None:
        return _slow_e164(text, region)
    return text if answer == "=" else ""


def _slow_e164(text: str, region: str) -> str:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _answer_key(text: str, region: str) -> tuple | None:
    match = _INTERNATIONAL.fullmatch(text)
    if match is None:
        return None
    digits = match[1]
    for size in (1, 2, 3):  # as phonenumbers finds the country code: the shortest known one
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    prefix = constrained_prefix(code)
    if prefix is None:
        return None
    return region, digits[: size + prefix], len(digits)


@functools.cache
def constrained_prefix(country_code: int) -> int | None:
    """How many leading digits of the national number decide validity and form.

    parse strips a national prefix by the main region's pattern; is_valid_number then tells
    the regions of the code apart by leading digits (a prefix match) or number patterns.
    """
    main = PhoneMetadata.metadata_for_region_or_calling_code(
        country_code, phonenumbers.region_code_for_country_code(country_code)
    )
    regions = [
        PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
        for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[country_code]
    ]
    if main is None or None in regions:
        return None
    try:
        stripped = _max_width(main.national_prefix_for_parsing or "")
        decided = max(_decided_width(metadata) for metadata in regions)
    except _Unbounded:
        return None
    return stripped + decided


def _decided_width(metadata) -> int:
    widths = [_constrained_width(pattern) for pattern in _patterns(metadata)]
    if metadata.leading_digits:
        widths.append(_max_width(metadata.leading_digits))
    return max(widths, default=0)


def _patterns(metadata) -> list[str]:
    descriptions = [
        metadata.general_desc,
        metadata.fixed_line,
        metadata.mobile,
        metadata.toll_free,
        metadata.premium_rate,
        metadata.shared_cost,
        metadata.personal_number,
        metadata.voip,
        metadata.pager,
        metadata.uan,
        metadata.voicemail,
    ]
    return [d.national_number_pattern for d in descriptions if d and d.national_number_pattern]


def _max_width(pattern: str) -> int:
    _low, high = sre_parser.parse(pattern).getwidth()
    if high >= sre_constants.MAXREPEAT:
        raise _Unbounded(pattern)
    return high


def _constrained_width(pattern: str) -> int:
    return _sequence_width(sre_parser.parse(pattern).data)


def _sequence_width(items: list) -> int:
    """The furthest position any item other than 'any digit' can reach in this sequence."""
    before, furthest = 0, 0
    for op, value in items:
        if not _is_free(op, value):
            furthest = before + _item_width(op, value)
        _low, high = sre_parser.SubPattern(sre_parser.State(), [(op, value)]).getwidth()
        if high >= sre_constants.MAXREPEAT:
            if not _is_free(op, value):
                raise _Unbounded(str(op))
            before = sre_constants.MAXREPEAT  # only free items may follow, unbounded is fine
        else:
            before += high
    if furthest >= sre_constants.MAXREPEAT:
        raise _Unbounded("constraint after an unbounded item")
    return furthest


def _item_width(op, value) -> int:
    if op is sre_constants.BRANCH:
        return max(_sequence_width(list(branch)) for branch in value[1])
    if op is sre_constants.SUBPATTERN:
        return _sequence_width(list(value[3]))
    if op in (sre_constants.LITERAL, sre_constants.IN):
        return 1
    if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
        _low, high, inner = value
        if high >= sre_constants.MAXREPEAT:
            raise _Unbounded("repeated constraint")
        return high * max(1, _sre_high(inner))
    raise _Unbounded(str(op))  # anchors, look-arounds, back-references: not analysed


def _sre_high(inner) -> int:
    _low, high = inner.getwidth()
    if high >= sre_constants.MAXREPEAT:
        raise _Unbounded("repeated constraint")
    return high


def _is_free(op, value) -> bool:
    """'Any digit', alone or repeated: the items whose position never changes the answer."""
    if (op, value) == _ANY_DIGIT:
        return True
    if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
        return all(_is_free(inner_op, inner) for inner_op, inner in value[2])
    if op is sre_constants.SUBPATTERN:
        return all(_is_free(inner_op, inner) for inner_op, inner in value[3])
    return False
