"""End to end in Debian's chromium: build a survey with every question type and an embedded
data field, publish it, answer it through an individual link on a phone-sized screen, leave,
resume, finish, and find the link used up. Includes accessibility checks."""

from __future__ import annotations

import re

import pytest

from closeloop.surveys import actions
from closeloop.surveys.models import Response, Survey
from closeloop.surveys.tests.conftest import make_contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}

A11Y_SCRIPT = """() => {
  const problems = [];
  const named = (el) => {
    if (el.labels && el.labels.length && [...el.labels].some(l => l.textContent.trim())) return true;
    if ((el.getAttribute('aria-label') || '').trim()) return true;
    const ids = (el.getAttribute('aria-labelledby') || '').split(/\\s+/).filter(Boolean);
    return ids.some(id => { const t = document.getElementById(id); return t && t.textContent.trim(); });
  };
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden') continue;
    if (!named(el)) problems.push('unnamed ' + el.tagName + ' ' + (el.name || el.id));
  }
  for (const fs of document.querySelectorAll('fieldset')) {
    const legend = fs.querySelector(':scope > legend');
    if (!legend || !legend.textContent.trim()) problems.push('fieldset without legend ' + fs.id);
  }
  for (const b of document.querySelectorAll('button')) {
    if (b.getAttribute('aria-hidden') === 'true') continue;
    if (!(b.textContent.trim() || b.getAttribute('aria-label'))) problems.push('unnamed button');
  }
  const h1 = document.querySelectorAll('h1').length;
  if (h1 !== 1) problems.push(h1 + ' h1 elements');
  if (!document.documentElement.getAttribute('lang')) problems.push('no lang attribute');
  const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
  const dup = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (dup.length) problems.push('duplicate ids ' + dup.join(','));
  for (const el of document.querySelectorAll('[aria-describedby]')) {
    for (const id of el.getAttribute('aria-describedby').split(/\\s+/)) {
      if (!document.getElementById(id)) problems.push('aria-describedby to missing ' + id);
    }
  }
  return problems;
}"""


def accessibility_problems(page) -> list[str]:
    return page.evaluate(A11Y_SCRIPT)


def log_in(page, base_url: str, email: str) -> None:
    page.goto(base_url + "/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_role("button", name=re.compile("Log in", re.I)).click()
    page.wait_for_url(base_url + "/")


def add_question(page, qtype: str, qid: str) -> None:
    page.get_by_label("New question type").select_option(qtype)
    page.get_by_role("button", name="Add question").click()
    page.locator(f"form#q-{qid} textarea[name=text]").wait_for()


def save_question(page, qid: str) -> None:
    page.locator(f"form#q-{qid}").get_by_role("button", name="Save question").click()
    page.locator(f"article#q-{qid}").wait_for()


def test_build_publish_answer_resume_finish(page, live_server, org_a):
    organization, user = org_a
    base = live_server.url
    log_in(page, base, user.email)

    # Create a survey and build it in the UI.
    page.goto(base + "/surveys/")
    page.get_by_label("New survey name").fill("Every type")
    page.get_by_role("button", name="Create survey").click()
    page.wait_for_url(re.compile(r"/surveys/SV_\w+/$"))
    survey_id = page.url.rstrip("/").rsplit("/", 1)[1]
    assert accessibility_problems(page) == []

    flow = page.locator("#flow-editor")
    flow.get_by_role("button", name="Add embedded data field").click()
    page.get_by_label("Field name").fill("Store")
    page.get_by_label("Value from").select_option("contact")
    page.locator("#flow-editor").get_by_role("button", name="Save flow").click()
    page.get_by_text("Survey flow saved.").wait_for()

    add_question(page, "nps", "QID1")
    editor = page.locator("form#q-QID1")
    editor.get_by_label("Question text").fill("How likely are you to recommend ${e://Field/Store}?")
    editor.get_by_label("Require an answer").check()
    save_question(page, "QID1")
    page.get_by_role("button", name="Add page break").click()
    page.locator(".page-break").first.wait_for()

    add_question(page, "mc", "QID2")
    editor = page.locator("form#q-QID2")
    editor.get_by_label("Question text").fill("What did you buy?")
    editor.get_by_role("button", name="Add choice").click()
    page.locator("form#q-QID2 input[name=choice_text_3]").wait_for()
    page.locator("form#q-QID2 input[name=choice_text_3]").fill("Something else")
    page.locator("form#q-QID2").get_by_label(re.compile("Choice 3 has a text box")).check()
    save_question(page, "QID2")
    assert "Something else" in page.locator("article#q-QID2").inner_text()

    add_question(page, "rating", "QID3")
    save_question(page, "QID3")
    add_question(page, "matrix", "QID4")
    save_question(page, "QID4")
    page.get_by_role("button", name="Add page break").click()
    page.locator(".page-break").nth(1).wait_for()
    add_question(page, "text", "QID5")
    editor = page.locator("form#q-QID5")
    editor.get_by_label("Question text").fill("Anything else, ${m://FirstName}?")
    editor.get_by_label("Several lines").check()
    save_question(page, "QID5")
    assert accessibility_problems(page) == []

    page.wait_for_load_state("networkidle")
    page.locator("#survey-status").get_by_role("button", name="Publish").click()
    page.get_by_text("Version 1 published").wait_for()
    survey = Survey.objects.get(public_id=survey_id)
    assert survey.organization == organization and survey.current_version.number == 1
    types = [q["type"] for q in survey.current_version.definition["blocks"][0]["elements"]]
    assert types == ["nps", "page_break", "mc", "rating", "matrix", "page_break", "text"]

    # An individual link for a contact with embedded data.
    contact = make_contact(organization, "ann@example.com", embedded={"Store": "Oslo Central"})
    _link, url = actions.create_link(survey, contact)
    link = base + "/jfe/" + url.split("/jfe/", 1)[1]

    phone = page.context.browser.new_context(viewport=PHONE)
    respondent = phone.new_page()
    respondent.goto(link)
    assert respondent.get_by_role("heading", level=1).count() == 1
    assert respondent.get_by_text("How likely are you to recommend Oslo Central?").is_visible()
    assert accessibility_problems(respondent) == []
    assert respondent.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # Required: Next without an answer shows a linked error.
    respondent.get_by_role("button", name=re.compile("Next")).click()
    respondent.get_by_role("alert").wait_for()
    assert respondent.locator("#QID1-error").is_visible()
    assert accessibility_problems(respondent) == []
    respondent.get_by_role("group", name=re.compile("recommend")).get_by_label(
        "9", exact=True
    ).check()
    respondent.get_by_role("button", name=re.compile("Next")).click()
    respondent.get_by_text("What did you buy?").wait_for()
    phone.close()  # leave mid-way

    phone = page.context.browser.new_context(viewport=PHONE)
    respondent = phone.new_page()
    respondent.goto(link)
    respondent.get_by_text("What did you buy?").wait_for()  # resumed on page 2
    respondent.get_by_label("Something else", exact=True).check()
    respondent.get_by_label("Something else: please specify").fill("A gift card")
    respondent.locator("#QID3").get_by_label("4", exact=True).check()
    respondent.get_by_role("group", name="Statement 1").get_by_label("Agree", exact=True).check()
    respondent.get_by_role("group", name="Statement 2").get_by_label("Neutral").check()
    assert accessibility_problems(respondent) == []
    respondent.get_by_role("button", name=re.compile("Next")).click()
    respondent.get_by_text("Anything else, Ann?").wait_for()
    # Back keeps answers, then forward again.
    respondent.get_by_role("button", name=re.compile("Back")).click()
    assert respondent.locator("#QID3").get_by_label("4", exact=True).is_checked()
    respondent.get_by_role("button", name=re.compile("Next")).click()
    respondent.get_by_role("textbox", name="Anything else, Ann?").fill("Great <b>service</b>")
    respondent.get_by_role("button", name=re.compile("Submit")).click()
    respondent.wait_for_url(re.compile(r"/done$"))
    assert "Thank you" in respondent.content()

    response = Response.objects.get(survey=survey)
    assert response.finished and response.contact == contact
    assert response.embedded_data == {"Store": "Oslo Central"}
    assert response.answers == {
        "QID1": 9,
        "QID2": {"choices": ["3"], "text": {"3": "A gift card"}},
        "QID3": 4,
        "QID4": {"1": "4", "2": "3"},
        "QID5": "Great <b>service</b>",
    }

    respondent.goto(link)
    assert respondent.get_by_role("heading", name="You have already taken this survey").is_visible()
    assert accessibility_problems(respondent) == []
    phone.close()

    # The builder's results show the response.
    page.goto(base + f"/surveys/{survey_id}/results")
    assert response.public_id in page.content()
    assert accessibility_problems(page) == []
