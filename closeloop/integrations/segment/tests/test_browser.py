"""In Debian's chromium (GitHub issue #14): create a Twilio Segment workflow, paste a sample
event and check the fields mapped from it, filter on the event name, add the Segment contact
and Distribute survey tasks, set the shared secret, send a signed event to the copied URL as
Segment would, then find the run in workflow reporting and the survey email in the Outbox."""

from __future__ import annotations

import re
import urllib.request

import pytest

from closeloop.distributions.tests.helpers import run_jobs
from closeloop.integrations.segment import spec
from closeloop.integrations.segment.tests.conftest import SECRET, sample
from closeloop.workflows.models import RunStatus, Workflow, WorkflowRun
from tests.screenshots import doc_screenshot
from tests.test_accounts_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def outbox(settings, live_server):
    settings.CLOSELOOP_BASE_URL = live_server.url
    settings.EMAIL_BACKEND = "closeloop.outbox.backends.OutboxEmailBackend"
    settings.CLOSELOOP_OUTBOX_ACTIVE = True


def send_as_segment(url: str, body: bytes, signature: str) -> int:
    request = urllib.request.Request(
        url,
        data=body,
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Segment (Actions)",
            "X-Signature": signature,
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def saved(page, section: str) -> None:
    page.locator(f"#section-{section}").get_by_text("Saved.").wait_for()


def test_segment_workflow_from_sample_to_reporting_and_outbox(
    page, live_server, outbox, org_a, survey_a
):
    _organization, user = org_a
    base = live_server.url
    log_in(page, base, user.email, "correct horse battery")

    # Extensions → Twilio Segment → create a workflow started by the Twilio Segment event.
    page.get_by_role("link", name="Extensions").first.click()
    page.get_by_role("heading", name="Twilio Segment").wait_for()
    page.get_by_role("link", name="Workflows", exact=True).first.click()
    page.get_by_role("link", name="Create a workflow").first.click()
    page.get_by_label("Name").fill("Onboarding survey")
    page.get_by_role("radio", name=re.compile("Twilio Segment")).check()
    page.get_by_label(re.compile("^Survey")).select_option(survey_a.public_id)
    page.get_by_role("button", name="Create workflow").click()
    page.get_by_role("heading", name="Event: Twilio Segment").wait_for()
    assert page.locator('input[name=field_path][value="$.context.traits.email"]').count() == 1

    # Paste the onboarding track call and map its fields automatically.
    page.get_by_label("Paste a sample Segment event").fill(
        sample("track_onboarding_completed.json").decode()
    )
    page.get_by_role("button", name="Map fields automatically").click()
    page.locator('input[name=field_path][value="$.properties.tour"]').wait_for()
    saved(page, "event")
    assert page.get_by_label("Type of properties.steps_completed").input_value() == "Number"
    assert page.get_by_label("Type of properties.skipped").input_value() == "Boolean"
    assert page.get_by_label("Type of event").input_value() == "String"
    assert page.locator('input[name=field_path][value^="$.integrations"]').count() == 0
    workflow = Workflow.objects.get()
    assert {"name": "properties.tour", "path": "$.properties.tour", "type": "String"} in (
        workflow.event_config["fields"]
    )

    # The filter: Event name is Onboarding Tour Completed.
    conditions = page.locator("#section-conditions")
    conditions.get_by_role("button", name="Add a condition group").click()
    conditions.get_by_label("Field", exact=True).select_option("event")
    conditions.get_by_label("Comparison").select_option("equals")
    conditions.get_by_label("Value").fill("Onboarding Tour Completed")
    conditions.get_by_role("button", name="Save conditions").click()
    saved(page, "conditions")

    # Tasks: the event's person as a contact, then the survey invitation to that contact.
    page.get_by_label("Add a task").select_option("segment_contact")
    page.get_by_role("button", name="Add task").click()
    page.get_by_text("not saved yet").wait_for()
    page.get_by_role("button", name="Save task").click()
    page.get_by_text("not saved yet").wait_for(state="detached")
    saved(page, "tasks")
    page.get_by_label("Add a task").select_option("distribute_survey")
    page.get_by_role("button", name="Add task").click()
    page.get_by_text("not saved yet").wait_for()
    page.locator("#new-contactId").click()
    page.locator("#new-contactId").locator("..").locator(".picker-button").click()
    page.get_by_role("menuitem", name="Contact ID").click()
    page.locator("#task-new").get_by_role("button", name="Save task").click()
    page.get_by_text("not saved yet").wait_for(state="detached")
    saved(page, "tasks")
    workflow.refresh_from_db()
    first, invite = workflow.tasks
    assert invite["config"]["contactId"] == f"~{{ch://{first['id']}/contactId}}"

    # The shared secret, as set in the Webhooks (Actions) destination.
    page.get_by_label("Shared secret").fill(SECRET)
    page.get_by_role("button", name="Save secret").click()
    page.get_by_text("Shared secret set").wait_for()
    assert page.locator("#segment-secret").get_by_text("Signature checked").is_visible()

    # Copy the URL and send the event there, signed, as Segment does.
    page.locator('button[data-copy="trigger-url"]').click()
    url = page.locator("#trigger-url").input_value()
    assert re.fullmatch(re.escape(base) + r"/inbound/segment/[\w-]+", url), url
    doc_screenshot(page, "segment-event")
    body = sample("track_onboarding_completed.json")
    assert send_as_segment(url, body, spec.sign(SECRET, body)) == 202
    run_jobs()
    run = WorkflowRun.objects.get()
    assert run.status == RunStatus.SUCCEEDED, run.error

    # Workflow reporting: the run, its payload and both tasks.
    page.goto(base + f"/workflows/{workflow.public_id}/")
    page.get_by_role("link", name="Runs", exact=True).click()
    page.get_by_role("link", name=run.public_id).click()
    page.get_by_text("Succeeded").first.wait_for()
    assert "Onboarding Tour Completed" in page.get_by_label("Event payload").inner_text()

    # The Outbox has the invitation to the event's person.
    page.goto(base + "/outbox/")
    message = page.get_by_role("link", name=re.compile("We would like your feedback")).first
    assert "li.wei@example.com" in page.content()
    message.click()
    text = page.locator("pre.message-text").inner_text()
    assert "Hello Wei" in text and re.search(r"https?://\S+/jfe/l/\S+", text)
