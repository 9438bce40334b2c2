from hypothesis import given
from hypothesis import strategies as st

from closeloop.outbox.segments import count_segments, is_gsm7


def test_gsm7_limits():
    assert count_segments("a" * 160) == 1
    assert count_segments("a" * 161) == 2
    assert count_segments("a" * 306) == 2
    assert count_segments("a" * 307) == 3


def test_extended_characters_count_twice():
    assert count_segments("€" * 80) == 1
    assert count_segments("€" * 81) == 2


def test_unicode_switches_to_ucs2():
    assert not is_gsm7("Grüße 🙂")
    assert count_segments("ü" * 70) == 1  # ü is GSM-7
    assert count_segments("ł" * 70) == 1
    assert count_segments("ł" * 71) == 2
    assert count_segments("🙂" * 35) == 1  # two UTF-16 units each


@given(st.text(max_size=2000))
def test_segments_are_positive_and_bounded(text):
    segments = count_segments(text)
    assert 1 <= segments <= max(1, -(-len(text) * 2 // 67))
