"""In Debian's chromium (GitHub issue #13): link an account through the fake Salesforce's OAuth
pages, create a Salesforce Outbound Message workflow, fill its fields from the WSDL, copy its
endpoint URL, have the fake Salesforce send a closed case there, and find the run in reporting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from closeloop.integrations.salesforce.models import ConnectedAccount
from closeloop.jobs.worker import Worker
from closeloop.workflows import jobs as _jobs  # noqa: F401  (registers the run handlers)
from closeloop.workflows.models import RunStatus, Workflow, WorkflowRun
from tests.screenshots import doc_screenshot
from tests.test_accounts_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def callbacks_to_live_server(settings, live_server):
    settings.CLOSELOOP_BASE_URL = live_server.url


@pytest.fixture
def outbound_page(chromium, live_server):
    # The fake Salesforce's certificate is self-signed; Closeloop's own pages are plain HTTP
    # on localhost (a secure context, so navigator.clipboard exists).
    context = chromium.new_context(ignore_https_errors=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def copied_text(page) -> str:
    """What the Copy button put on the clipboard; "" when headless chromium has none."""
    from playwright.sync_api import Error

    try:
        return page.evaluate("() => navigator.clipboard.readText()")
    except Error:  # no clipboard in this chromium: the caller falls back to the input
        return ""


def test_outbound_message_from_linked_account_to_reporting(
    outbound_page, live_server, callbacks_to_live_server, org_a, fake_salesforce
):
    page, base = outbound_page, live_server.url
    _organization, user = org_a
    log_in(page, base, user.email, "correct horse battery")

    # Extensions → Salesforce: link a sandbox account on the fake Salesforce's Allow page.
    page.get_by_role("link", name="Extensions").first.click()
    page.get_by_role("link", name="Salesforce accounts").click()
    page.get_by_label("Connection type").select_option(label="Salesforce Sandbox (OAuth)")
    page.get_by_label("Account name").fill("Service Cloud sandbox")
    page.get_by_role("button", name="Sign in to Salesforce").click()
    page.get_by_role("heading", name="Allow Access?").wait_for()
    assert page.url.startswith(fake_salesforce.base_url)
    page.get_by_role("button", name="Allow").click()
    page.get_by_text("Linked Service Cloud sandbox").wait_for()

    # Workflows → Create: a Salesforce Outbound Message workflow.
    page.get_by_role("link", name="Workflows", exact=True).first.click()
    page.get_by_role("link", name="Create a workflow").first.click()
    page.get_by_label("Name").fill("Closed case survey")
    page.get_by_role("radio", name=re.compile("Salesforce Outbound Message")).check()
    page.get_by_role("button", name="Create workflow").click()
    page.get_by_role("heading", name="Event: Salesforce Outbound Message").wait_for()

    # The editor: the linked account, Case, and the fields from the outbound message's WSDL.
    account = page.get_by_label("Linked Salesforce account")
    choice = account.locator("option", has_text="Service Cloud sandbox")
    assert fake_salesforce.username in choice.inner_text()
    account.select_option(choice.get_attribute("value"))
    page.locator("#sf-object").fill("Case")
    page.get_by_label("Paste the WSDL of your outbound message").fill(
        (FIXTURES / "case_outbound.wsdl").read_text()
    )
    page.get_by_role("button", name="Fill fields from the WSDL").click()
    page.locator('input[name=field_name][value="ContactEmail"]').wait_for()
    page.locator("#section-event").get_by_text("Saved.").wait_for()
    assert page.get_by_label("Type of IsClosed").input_value() == "Boolean"
    with page.expect_response(re.compile(r"/workflows/\w+/event$")) as saved:
        page.get_by_role("button", name="Save event").click()
    assert saved.value.ok
    page.locator("#section-event").get_by_text("Saved.").wait_for()
    runs_as = page.get_by_test_id("runs-as").inner_text()
    assert "Salesforce account Service Cloud sandbox" in runs_as
    assert runs_as.startswith("Runs as ")
    assert fake_salesforce.organization_id in runs_as and fake_salesforce.username in runs_as
    workflow = Workflow.objects.get()
    config = workflow.event_config
    assert (config["account"], config["object"]) == (
        ConnectedAccount.objects.get().public_id,
        "Case",
    )
    assert {"name": "ContactEmail", "type": "String"} in config["fields"]

    # Copy the endpoint URL, as a user pasting it into Salesforce's Endpoint URL would.
    copy = page.locator('button[data-copy="trigger-url"]')
    copy.click()
    assert copy.inner_text() == "Copied"
    shown = page.locator("#trigger-url").input_value()
    url = copied_text(page) or shown
    assert url == shown
    assert re.fullmatch(re.escape(base) + r"/inbound/salesforce/[\w-]+", url), url
    doc_screenshot(page, "salesforce-outbound-event")

    # Salesforce sends the closed case; one attempt is acknowledged.
    message = (FIXTURES / "case_closed.xml").read_bytes()
    assert fake_salesforce.organization_id.encode() in message
    replies = fake_salesforce.send_outbound_message(url, message)
    assert [status for status, _type, _body in replies] == [200], replies
    assert b"<Ack>true</Ack>" in replies[0][2]
    Worker().run(once=True)
    run = WorkflowRun.objects.get()
    assert run.status == RunStatus.SUCCEEDED

    # Reporting, from the editor: the workflow's runs, then the run with the case's fields.
    page.get_by_role("navigation", name="Workflow").get_by_role("link", name="Runs").click()
    page.get_by_role("heading", name="Workflow reporting").wait_for()
    assert page.get_by_label("Workflow").locator("option:checked").inner_text() == (
        "Closed case survey"
    )
    page.get_by_role("link", name=run.public_id).click()
    page.get_by_role("heading", name=re.compile(f"Run {run.public_id}")).wait_for()
    assert "Succeeded" in page.locator("h1").inner_text()
    payload = page.get_by_label("Event payload").inner_text()
    assert "maria.lopez@example.com" in payload and "00001027" in payload
    assert "SessionId" not in payload
    field_row = page.locator(
        "tr", has=page.locator("td", has_text=re.compile(r"^Case\.ContactEmail$"))
    )
    assert field_row.locator("td").nth(1).inner_text() == "maria.lopez@example.com"
    closed_row = page.locator(
        "tr", has=page.locator("td", has_text=re.compile(r"^Case\.IsClosed$"))
    )
    assert closed_row.locator("td").nth(1).inner_text() == "true"

    # The same message delivered again starts no second run.
    again = fake_salesforce.send_outbound_message(url, message)
    assert again[0][0] == 200 and WorkflowRun.objects.count() == 1
