"""End to end in Debian's chromium: display logic with several conditions, and the
Translations tab, each built in the builder, published and answered through individual links."""

from __future__ import annotations

import re

import pytest

from closeloop.surveys import actions
from closeloop.surveys.models import Response, Survey
from closeloop.surveys.tests.conftest import make_contact
from closeloop.surveys.tests.test_browser import (
    PHONE,
    accessibility_problems,
    add_question,
    log_in,
    save_question,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def create_survey(page, base: str, name: str) -> str:
    page.goto(base + "/surveys/")
    page.get_by_label("New survey name").fill(name)
    page.get_by_role("button", name="Create survey").click()
    page.wait_for_url(re.compile(r"/surveys/SV_\w+/$"))
    return page.url.rstrip("/").rsplit("/", 1)[1]


def publish(page) -> None:
    page.wait_for_load_state("networkidle")
    page.locator("#survey-status").get_by_role("button", name="Publish").click()
    page.get_by_text(re.compile(r"Version \d+ published")).wait_for()


def respondent_page(page, base: str, survey, contact):
    _link, url = actions.create_link(survey, contact)
    phone = page.context.browser.new_context(viewport=PHONE)
    phone.set_default_timeout(15_000)
    respondent = phone.new_page()
    respondent.goto(base + "/jfe/" + url.split("/jfe/", 1)[1])
    return phone, respondent


def test_display_logic_with_two_conditions_joined_by_or(page, live_server, org_a):
    organization, user = org_a
    base = live_server.url
    log_in(page, base, user.email)
    survey_id = create_survey(page, base, "Logic")

    page.locator("#flow-editor").get_by_role("button", name="Add embedded data field").click()
    page.get_by_label("Field name").fill("Store")
    page.locator("#flow-editor").get_by_role("button", name="Save flow").click()
    page.get_by_text("Survey flow saved.").wait_for()
    add_question(page, "mc", "QID1")
    page.locator("form#q-QID1").get_by_label("Question text").fill("Which plan?")
    save_question(page, "QID1")
    page.get_by_role("button", name="Add page break").click()
    page.locator(".page-break").first.wait_for()
    add_question(page, "text", "QID2")
    editor = page.locator("form#q-QID2")
    editor.get_by_label("Question text").fill("Why Option 2, or why Oslo?")
    first = editor.get_by_role("group", name="Condition 1")
    first.get_by_label("Question or field").select_option("QID1")
    first.get_by_label("Comparison").select_option("selected")
    first.get_by_label("Value or choice").fill("Option 2")
    editor.get_by_role("button", name="Add condition").click()
    second = page.locator("form#q-QID2").get_by_role("group", name="Condition 2")
    second.wait_for()
    assert page.locator("form#q-QID2").get_by_label("Value or choice").first.input_value() == (
        "Option 2"
    )
    second.get_by_label("Question or field").select_option("e:Store")
    second.get_by_label("Comparison").select_option("=")
    second.get_by_label("Value or choice").fill("Oslo")
    page.locator("form#q-QID2").get_by_label("Show the question when").select_option("or")
    assert accessibility_problems(page) == []
    save_question(page, "QID2")
    summary = page.locator("article#q-QID2").inner_text()
    assert "QID1" in summary and " or " in summary and "Store" in summary
    publish(page)

    survey = Survey.objects.get(public_id=survey_id)
    assert survey.current_version.definition["blocks"][0]["elements"][2]["display"] == {
        "conjunction": "or",
        "conditions": [
            {"question": "QID1", "op": "selected", "choice": "2"},
            {"embedded": "Store", "op": "=", "value": "Oslo"},
        ],
    }
    # Bergen and Option 1: neither condition holds, the second page is skipped.
    bergen = make_contact(organization, "bo@example.com", embedded={"Store": "Bergen"})
    phone, respondent = respondent_page(page, base, survey, bergen)
    respondent.get_by_label("Option 1").check()
    # Page 2 has no question for Bergen as things stand: the first page already says Submit.
    respondent.get_by_role("button", name=re.compile("Submit")).click()
    respondent.wait_for_url(re.compile(r"/done$"))
    phone.close()
    # Oslo and Option 1: the second condition holds (OR), the question is shown.
    oslo = make_contact(organization, "os@example.com", embedded={"Store": "Oslo"})
    phone, respondent = respondent_page(page, base, survey, oslo)
    respondent.get_by_label("Option 1").check()
    respondent.get_by_role("button", name=re.compile("Next")).click()
    respondent.get_by_role("textbox", name="Why Option 2, or why Oslo?").fill("Close to home")
    assert accessibility_problems(respondent) == []
    respondent.get_by_role("button", name=re.compile("Submit")).click()
    respondent.wait_for_url(re.compile(r"/done$"))
    phone.close()
    answers = {r.contact.email: r.answers for r in Response.objects.filter(survey=survey)}
    assert answers == {
        "bo@example.com": {"QID1": {"choices": ["1"]}},
        "os@example.com": {"QID1": {"choices": ["1"]}, "QID2": "Close to home"},
    }


def test_translations_tab_to_a_spanish_respondent(page, live_server, org_a):
    organization, user = org_a
    base = live_server.url
    log_in(page, base, user.email)
    survey_id = create_survey(page, base, "Idiomas")
    add_question(page, "nps", "QID1")
    page.locator("form#q-QID1").get_by_label("Question text").fill(
        "${m://FirstName}, would you recommend us?"
    )
    save_question(page, "QID1")

    page.get_by_role("navigation", name="Survey").get_by_role("link", name="Translations").click()
    page.wait_for_url(re.compile(r"/translations"))
    page.get_by_label("Add a language (code)").fill("es")
    page.get_by_role("button", name="Add language").click()
    page.get_by_role("heading", name=re.compile("Spanish")).wait_for()
    status = page.locator("#translation-status")
    untranslated = int(re.search(r"(\d+) of", status.inner_text()).group(1))
    assert "Would you recommend" not in status.inner_text()
    original = page.get_by_role("row", name=re.compile("QID1 question text"))
    assert "${m://FirstName}, would you recommend us?" in original.inner_text()
    page.get_by_label("QID1 question text in Spanish").fill("${m://FirstName}, ¿nos recomendaría?")
    page.get_by_label("Thank-you message in Spanish").fill("¡Gracias, ${m://FirstName}!")
    assert accessibility_problems(page) == []
    page.get_by_role("button", name="Save Spanish translations").click()
    page.get_by_text("Saved.").wait_for()
    assert f"{untranslated - 2} of" in status.inner_text()
    assert page.url.endswith("/translations")  # HTMX: no page load

    page.get_by_role("navigation", name="Survey").get_by_role("link", name="Survey").click()
    page.wait_for_url(re.compile(r"/surveys/SV_\w+/$"))
    publish(page)
    survey = Survey.objects.get(public_id=survey_id)
    assert survey.current_version.languages == ["EN", "ES"]

    ana = make_contact(organization, "ana@example.com", language="es", firstName="Ana")
    phone, respondent = respondent_page(page, base, survey, ana)
    assert respondent.locator("html").get_attribute("lang") == "es"
    respondent.get_by_text("Ana, ¿nos recomendaría?").wait_for()
    respondent.get_by_role("group", name=re.compile("recomendar")).get_by_label(
        "10", exact=True
    ).check()
    respondent.get_by_role("button", name=re.compile("Submit")).click()
    respondent.wait_for_url(re.compile(r"/done$"))
    assert respondent.get_by_text("¡Gracias, Ana!").is_visible()
    phone.close()
    assert Response.objects.get(survey=survey).language == "ES"
