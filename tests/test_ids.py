"""Public ids: the prefix, the length, and every character of the alphabet about equally often."""

from collections import Counter

from closeloop import ids


def test_ids_have_the_prefix_the_length_and_only_letters_and_digits():
    for length in (1, 15, 40, 100):
        made = ids.new_id("WR_", length)
        assert made.startswith("WR_") and len(made) == 3 + length
        assert set(made[3:]) <= set(ids.ALPHABET)


def test_every_character_is_about_equally_likely():
    counts = Counter("".join(ids.new_id("", 15) for _ in range(12_000)))
    expected = 12_000 * 15 / len(ids.ALPHABET)  # about 2,900 each
    assert set(counts) == set(ids.ALPHABET)
    assert all(abs(count - expected) < 0.15 * expected for count in counts.values())


def test_ids_do_not_repeat():
    assert len({ids.new_id("CID_") for _ in range(10_000)}) == 10_000
