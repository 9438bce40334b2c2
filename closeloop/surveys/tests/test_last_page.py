"""Submit on the last page that would be shown: display logic decides, as when submitting."""

from __future__ import annotations

import pytest

from closeloop.surveys import logic, presenter
from closeloop.surveys.tests.sample import simple
from closeloop.surveys.tests.test_definition import form


def three_pages() -> dict:
    """Page 0: QID1 (NPS). Page 1: QID2, for detractors. Page 2: QID3, for the Oslo store."""
    definition = simple("nps", "text", "text")
    elements = definition["blocks"][0]["elements"]
    elements[1]["display"] = {
        "conjunction": "and",
        "conditions": [{"question": "QID1", "op": "<=", "value": 6}],
    }
    elements[2]["display"] = {
        "conjunction": "and",
        "conditions": [{"embedded": "Store", "op": "=", "value": "Oslo"}],
    }
    elements.insert(2, {"type": "page_break"})
    elements.insert(1, {"type": "page_break"})
    return definition


@pytest.mark.parametrize(
    ("page", "answers", "embedded", "last"),
    [
        (0, {"QID1": 9}, {}, True),  # both later pages hidden
        (0, {"QID1": 5}, {}, False),  # the detractor page follows
        (0, {"QID1": 9}, {"Store": "Oslo"}, False),  # the store page follows
        (0, {}, {}, True),  # unanswered: nothing follows yet
        (1, {"QID1": 5}, {"Store": "Bergen"}, True),
        (1, {"QID1": 5}, {"Store": "Oslo"}, False),
        (2, {"QID1": 5}, {"Store": "Oslo"}, True),
    ],
)
def test_last_page_is_where_submitting_finishes(page, answers, embedded, last):
    definition = three_pages()
    assert logic.is_last_page(definition, page, answers, embedded) is last
    # The submit path agrees: the same answers, posted again, finish exactly on a last page.
    posted = {"QID1": str(answers["QID1"])} if "QID1" in answers and page == 0 else {}
    step = logic.advance(definition, answers, embedded, page, page, form(posted))
    assert step.finished is last


def test_an_answer_on_the_page_that_reveals_a_later_page_goes_there():
    definition = three_pages()
    assert logic.is_last_page(definition, 0, {}, {})
    step = logic.advance(definition, {}, {}, 0, 0, form({"QID1": "3"}))
    assert (step.finished, step.page) == (False, 1)


def view(answers, embedded=None, page=0, values=None):
    return presenter.page_view(
        three_pages(),
        page,
        answers=answers,
        embedded=embedded or {},
        contact_fields={},
        values=values,
    )


def test_page_view_says_submit_only_when_no_later_page_shows():
    assert view({"QID1": 9})["is_last"]
    assert not view({"QID1": 5})["is_last"]
    assert not view({"QID1": 9}, {"Store": "Oslo"})["is_last"]
    assert view({"QID1": 5}, {"Store": "Bergen"}, page=1)["is_last"]
    assert view({"QID1": 5}, {"Store": "Oslo"}, page=2)["is_last"]


def test_page_view_shown_again_with_errors_uses_what_was_submitted():
    # The saved score revealed the detractor page; the re-shown submission cleared it.
    assert view({"QID1": 5}, values={"QID1": None})["is_last"]
    # Nothing saved yet; the re-shown submission is a detractor's score.
    assert not view({}, values={"QID1": 4})["is_last"]
