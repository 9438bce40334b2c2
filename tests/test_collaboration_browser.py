"""Collaboration end to end in Debian's chromium: the owner shares a survey with Bea for
editing only; Bea's Distribute button says why she can't and whom to ask; the owner grants
Distribute; Bea distributes; the audit log shows each step."""

from __future__ import annotations

import re

import pytest
from django.db import transaction

from closeloop.directory import actions as directory_actions
from closeloop.surveys import actions as survey_actions
from closeloop.surveys.tests.sample import simple
from closeloop.surveys.tests.test_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _mailing_list(organization):
    directory = directory_actions.default_directory(organization)
    mailing_list = directory_actions.create_mailing_list(directory, "Customers")
    with transaction.atomic():
        directory_actions.upsert_contacts_bulk(
            directory,
            [({"firstName": "Ada", "lastName": "Test", "email": "ada@customers.example"}, {})],
            mailing_list=mailing_list,
        )
    return mailing_list


def _session(chromium, base: str, email: str):
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, base, email)
    return context, page


def test_share_for_editing_then_grant_distribute_and_audit(
    chromium, live_server, org_a, member_a, settings
):
    settings.CLOSELOOP_BASE_URL = live_server.url
    organization, owner = org_a
    base = live_server.url
    survey = survey_actions.create_survey(organization, owner, "Support CSAT", simple("nps"))
    survey_actions.publish(survey, owner)
    mailing_list = _mailing_list(organization)
    owner_context, as_owner = _session(chromium, base, owner.email)
    bea_context, as_bea = _session(chromium, base, member_a.email)
    try:
        # The owner shares the survey with Bea: edit, not distribute.
        as_owner.goto(f"{base}/surveys/")
        as_owner.get_by_role("link", name="Support CSAT").first.click()
        as_owner.get_by_role("link", name="Sharing").click()
        as_owner.get_by_label("Person", exact=True).select_option(member_a.public_id)
        as_owner.locator("#add-share").get_by_label("Edit survey").check()
        as_owner.get_by_role("button", name="Share", exact=True).click()
        as_owner.locator(f"tr:has-text('{member_a.email}')").wait_for()

        # Bea sees the survey, and why she can't distribute it, before clicking.
        as_bea.goto(f"{base}/surveys/")
        as_bea.get_by_role("link", name="Support CSAT").first.click()
        distribute = as_bea.locator("button[data-action=distribute]")
        assert distribute.is_disabled()
        reason = as_bea.locator("#why-not-distribute").inner_text()
        assert "You can't distribute this survey" in reason
        assert "ask Acme Owner (owner) for the Distribute permission" in reason

        # The owner grants Distribute on Bea's row.
        as_owner.reload()
        row = as_owner.locator(f"tr:has-text('{member_a.email}')")
        row.get_by_label(re.compile("^Distribute for")).check()
        row.get_by_role("button", name=re.compile("^Save")).click()
        as_owner.wait_for_load_state()
        row = as_owner.locator(f"tr:has-text('{member_a.email}')")
        assert row.get_by_label(re.compile("^Distribute for")).is_checked()

        # Bea distributes.
        as_bea.reload()
        as_bea.locator("a[data-action=distribute]").click()
        as_bea.get_by_label("Mailing list").select_option(mailing_list.public_id)
        as_bea.get_by_label("Subject").fill("How did we do, ${m://FirstName}?")
        as_bea.get_by_role("button", name="Send").click()
        as_bea.wait_for_url(re.compile(r"/distributions/EMD_\w+/$"))

        # The audit log shows each step, by whom.
        as_owner.goto(f"{base}/settings/audit/")
        rows = as_owner.locator("table tbody tr")
        log = [rows.nth(i).inner_text() for i in range(rows.count())]
        shared = [line for line in log if "Survey shared" in line]
        assert len(shared) == 2, log
        assert any("Distribute" in line for line in shared), shared
        assert any("Distribution created" in line and member_a.email in line for line in log), log
    finally:
        owner_context.close()
        bea_context.close()
