"""End to end in Debian's chromium: create a distribution to a list from the UI, open the email
in the Outbox, follow the link, finish the survey, see SurveyFinished, download the CSV."""

from __future__ import annotations

import re

import pytest

from closeloop.distributions.tests.conftest import make_list
from closeloop.distributions.tests.helpers import run_jobs
from closeloop.surveys.tests.test_browser import log_in
from tests.screenshots import doc_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_distribute_from_the_ui_answer_and_see_it_in_the_history(
    page, live_server, org_a, survey_a, settings, tmp_path
):
    settings.CLOSELOOP_BASE_URL = live_server.url
    settings.EMAIL_BACKEND = "closeloop.outbox.backends.OutboxEmailBackend"
    settings.CLOSELOOP_OUTBOX_ACTIVE = True
    organization, user = org_a
    mailing_list, contacts = make_list(organization, 1, domain="customers.example")
    base = live_server.url
    log_in(page, base, user.email)

    page.goto(base + "/distributions/new/")
    page.get_by_label("Survey").select_option(survey_a.public_id)
    page.get_by_label("Mailing list").select_option(mailing_list.public_id)
    page.get_by_label("Subject").fill("How did we do, ${m://FirstName}?")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(re.compile(r"/distributions/EMD_\w+/$"))
    detail_url = page.url
    run_jobs()

    page.goto(base + "/outbox/")
    page.get_by_role("link", name=re.compile("How did we do, Person0")).first.click()
    text = page.locator("pre.message-text").inner_text()
    link = re.search(r"https?://\S+/jfe/l/\S+", text).group(0)
    page.goto(link)
    page.locator("input#QID1-9").check(force=True)
    page.get_by_role("button", name=re.compile("Next|Submit|Finish", re.I)).first.click()
    page.wait_for_url(re.compile(r"/done"))

    page.goto(detail_url)
    row = page.locator("#history tbody tr").first
    assert row.locator(".delivery-status").inner_text() == "SurveyFinished"
    doc_screenshot(page, "distribution-history")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download history (CSV)").click()
    path = tmp_path / "history.csv"
    download_info.value.save_as(path)
    content = path.read_text()
    assert "SurveyFinished" in content and contacts[0].public_id in content
