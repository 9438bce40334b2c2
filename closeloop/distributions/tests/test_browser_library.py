"""In Debian's chromium: the message library (create and preview a message, use it in a
distribution, read it in the outbox) and the SMS simulator (a person answers a two-way SMS
survey, with one invalid answer, and the response shows in the survey's results)."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from closeloop.distributions.tests.conftest import make_list
from closeloop.distributions.tests.helpers import run_jobs
from closeloop.distributions.tests.test_sms import sms_list
from closeloop.distributions.tests.test_sms_two_way import sms_survey
from closeloop.surveys.tests.test_browser import log_in
from tests.screenshots import doc_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def outbox(settings, live_server):
    settings.CLOSELOOP_BASE_URL = live_server.url
    settings.EMAIL_BACKEND = "closeloop.outbox.backends.OutboxEmailBackend"
    settings.CLOSELOOP_OUTBOX_ACTIVE = True
    return live_server.url


def test_a_library_message_used_in_a_distribution_reaches_the_outbox(page, outbox, org_a, survey_a):
    organization, user = org_a
    mailing_list, _contacts = make_list(organization, 1, domain="customers.example")
    log_in(page, outbox, user.email)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Distributions").click()
    page.get_by_role("link", name="Messages", exact=True).click()
    page.get_by_role("link", name="New email message").click()
    page.get_by_label("Name").fill("Spring hello")
    page.get_by_label("Subject").fill("Welcome ${m://FirstName}")
    page.get_by_label("Plain-text body").fill(
        "Dear ${m://FirstName}, tell us: ${l://SurveyLink?d=Take the survey}"
    )
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-subject")).to_have_text("Welcome Alex")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/distributions/messages/MS_\w+/$"))
    page.get_by_role("link", name="← Message library").click()
    expect(page.locator("#library")).to_contain_text("Spring hello")

    page.goto(outbox + "/distributions/new/")
    page.get_by_label("Survey").select_option(survey_a.public_id)
    page.get_by_label("Mailing list").select_option(mailing_list.public_id)
    page.get_by_label("Library message").select_option(label="Spring hello")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(re.compile(r"/distributions/EMD_\w+/$"))
    detail_url = page.url
    expect(page.get_by_role("link", name="Spring hello")).to_be_visible()
    run_jobs()

    page.goto(outbox + "/outbox/")
    page.get_by_role("link", name="Welcome Person0").first.click()
    text = page.locator("pre.message-text").inner_text()
    link = re.match(r"Dear Person0, tell us: (https?://\S+/jfe/l/\S+)", text)
    assert link, text

    # A reminder from the distribution's page carries the same personal link.
    page.goto(detail_url)
    page.get_by_text("Send a reminder or a thank-you").click()
    page.get_by_label("Follow-up").select_option("reminder:notStarted")
    page.get_by_label("Subject").fill("Reminder for ${m://FirstName}")
    page.get_by_label("Message", exact=True).fill("Still time: ${l://SurveyURL}")
    page.get_by_role("button", name="Schedule follow-up").click()
    expect(page.get_by_text(re.compile(r"Reminder EMD_\w+ is on its way"))).to_be_visible()
    run_jobs()
    page.goto(outbox + "/outbox/")
    page.get_by_role("link", name="Reminder for Person0").first.click()
    expect(page.locator("pre.message-text")).to_have_text("Still time: " + link.group(1))


def test_answering_a_two_way_sms_survey_in_the_simulator(page, outbox, org_a):
    organization, user = org_a
    survey = sms_survey(organization, user)
    phone = "+14155552671"
    mailing_list, _contacts = sms_list(organization, [phone])
    log_in(page, outbox, user.email)

    page.goto(outbox + "/distributions/new/")
    page.get_by_label("Survey").select_option(survey.public_id)
    page.get_by_label("Mailing list").select_option(mailing_list.public_id)
    page.get_by_label("Channel").select_option("sms2way")
    page.get_by_label("Message", exact=True).fill("Hi ${m://FirstName}, a few questions by text.")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(re.compile(r"/distributions/EMD_\w+/$"))
    detail_url = page.url
    run_jobs()

    page.goto(outbox + "/outbox/")
    page.get_by_role("link", name="SMS simulator").click()
    page.get_by_label("Respondent's number").fill(phone)
    page.get_by_role("button", name="Open conversation").click()
    conversation = page.locator("#conversation")
    expect(conversation).to_contain_text("Hi Texter0, a few questions by text.")
    expect(conversation).to_contain_text("Which store, Texter0?")

    def reply(text: str, expected: str) -> None:
        page.get_by_label("Reply").fill(text)
        page.get_by_role("button", name="Send", exact=True).click()
        expect(conversation.locator("li").last).to_contain_text(expected)

    reply("7", "Please reply with a number from 1 to 2.")
    reply("2", "Reply with a number from 0 to 10.")
    reply("9", "Tell us more.")
    reply("Friendly staff", "Thank you")
    doc_screenshot(page, "twilio-sms-simulator")
    assert page.url.endswith("?phone=" + quote(phone))

    page.goto(f"{outbox}/surveys/{survey.public_id}/results")
    row = page.locator("table tbody tr").filter(has=page.get_by_role("cell", name="Friendly staff"))
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_text("Finished")
    expect(row.get_by_role("cell", name="9", exact=True)).to_have_count(1)
    page.goto(detail_url)
    expect(page.locator("#history tbody tr").first.locator(".delivery-status")).to_have_text(
        "SurveyFinished"
    )
