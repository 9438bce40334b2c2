"""In Debian's chromium: link a Salesforce sandbox account through the fake Salesforce's OAuth
pages from Extensions, rename it, and remove it (revoked at Salesforce)."""

from __future__ import annotations

import re

import pytest

from closeloop.integrations.salesforce.models import ConnectedAccount

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def callbacks_to_live_server(settings, live_server):
    settings.CLOSELOOP_BASE_URL = live_server.url


@pytest.fixture
def salesforce_page(chromium):
    # The fake Salesforce's certificate is self-signed; Closeloop's own pages are plain HTTP.
    context = chromium.new_context(ignore_https_errors=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def test_link_rename_and_remove_an_account(
    salesforce_page, live_server, callbacks_to_live_server, org_a, fake_salesforce
):
    page, base = salesforce_page, live_server.url
    page.goto(base + "/login/")
    page.get_by_label("Email").fill("owner@acme.test")
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_role("button", name=re.compile("Log in", re.I)).click()
    page.wait_for_url(base + "/")

    page.get_by_role("link", name="Extensions").first.click()
    page.get_by_role("link", name="Salesforce accounts").click()
    page.get_by_role("heading", name="Salesforce accounts").wait_for()
    page.get_by_label("Connection type").select_option(label="Salesforce Sandbox (OAuth)")
    page.get_by_label("Account name").fill("UAT sandbox")
    page.get_by_role("button", name="Sign in to Salesforce").click()

    page.get_by_role("heading", name="Allow Access?").wait_for()  # Salesforce's page
    assert page.url.startswith(fake_salesforce.base_url)
    page.get_by_role("button", name="Allow").click()

    page.get_by_text("Linked UAT sandbox").wait_for()
    row = page.locator("tr", has_text="UAT sandbox")
    assert "Salesforce Sandbox (OAuth)" in row.inner_text()
    assert fake_salesforce.organization_id in row.inner_text()
    assert "Connected" in row.inner_text()

    row.get_by_label("New name for UAT sandbox").fill("Support sandbox")
    row.get_by_role("button", name="Rename").click()
    page.locator("tr", has_text="Support sandbox").wait_for()

    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("tr", has_text="Support sandbox").get_by_role("button", name="Remove").click()
    page.get_by_text("its token is revoked at Salesforce").wait_for()
    assert not ConnectedAccount.objects.exists()
    assert fake_salesforce.revoked
