"""End to end in Debian's chromium: build a JSON-event workflow from a pasted sample, add an XM
Directory task with the {a} picker, send events over HTTP, read workflow reporting, make the
task fail, fix it and retry the run."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from closeloop.accounts import actions as accounts_actions
from closeloop.directory.models import Contact
from closeloop.jobs.worker import Worker
from closeloop.workflows.models import RunStatus, Workflow, WorkflowRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SAMPLE = {
    "customer": {
        "first": "Ada",
        "last": "Lovelace",
        "email": "ada@example.com",
        "work_email": "ada@work.example",
    },
    "order": {"id": "A-1", "total": 120.5, "store": "Soho"},
}
EVENT = {
    "customer": {"first": "Ada", "last": "Lovelace", "email": "ada@example.com"},
    "order": {"id": "A-2", "total": 99, "store": "Soho"},
}

A11Y_SCRIPT = """() => {
  const problems = [];
  const named = (el) => {
    if (el.labels && el.labels.length && [...el.labels].some(l => l.textContent.trim())) return true;
    return !!(el.getAttribute('aria-label') || '').trim();
  };
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden') continue;
    if (!named(el)) problems.push('unnamed ' + el.tagName + ' ' + (el.name || el.id));
  }
  for (const b of document.querySelectorAll('button')) {
    if (!(b.textContent.trim() || b.getAttribute('aria-label'))) problems.push('unnamed button');
  }
  if (document.querySelectorAll('h1').length !== 1) problems.push('not one h1');
  const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
  const dup = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (dup.length) problems.push('duplicate ids ' + dup.join(','));
  return problems;
}"""


def log_in(page, base_url: str, email: str) -> None:
    page.goto(base_url + "/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_role("button", name=re.compile("Log in", re.I)).click()
    page.wait_for_url(base_url + "/")


def send(url: str, token: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-API-TOKEN": token},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def pick(page, button_name: str, field_label: str) -> None:
    page.get_by_role("button", name=button_name).click()
    page.get_by_role("menuitem", name=field_label).click()


def set_email(page, field_label: str) -> None:
    email = page.locator("input[name=contact_email]")
    email.fill("")
    email.click()
    pick(page, "Insert a field into Email", field_label)
    page.get_by_role("button", name="Save task").click()
    page.get_by_text("Saved.").wait_for()


def run_worker() -> None:
    Worker().run(once=True)


def test_json_workflow_from_sample_to_retried_run(page, live_server, org_a, workflows_urls):
    organization, user = org_a
    _token_row, token = accounts_actions.create_api_token(organization, user, "browser test")
    base = live_server.url
    log_in(page, base, user.email)

    # Create the workflow and map its fields from a pasted sample.
    page.goto(base + "/workflows/")
    page.get_by_role("link", name="Create a workflow").first.click()
    page.get_by_label("Name").fill("Order follow-up")
    page.get_by_role("button", name="Create workflow").click()
    page.get_by_role("heading", name="Event: JSON event").wait_for()
    page.get_by_label("Paste a sample payload").fill(json.dumps(SAMPLE, indent=2))
    page.get_by_role("button", name="Map fields automatically").click()
    page.locator('input[name=field_path][value="$.customer.email"]').wait_for()
    assert page.locator('input[name=field_path][value="$.order.total"]').count() == 1

    # Add an XM Directory task, filled with the {a} picker.
    page.get_by_label("Add a task").select_option("xm_directory")
    page.get_by_role("button", name="Add task").click()
    page.get_by_text("not saved yet").wait_for()
    page.locator("input[name=contact_firstName]").click()
    pick(page, "Insert a field into First name", "customer.first ($.customer.first)")
    page.locator("input[name=contact_lastName]").fill("Ms ")
    page.locator("input[name=contact_lastName]").press("End")
    pick(page, "Insert a field into Last name", "customer.last ($.customer.last)")
    page.locator("input[name=contact_email]").click()
    pick(page, "Insert a field into Email", "customer.email ($.customer.email)")
    page.get_by_label("New embedded data name").fill("Store")
    page.get_by_role("textbox", name="New embedded data value", exact=True).click()
    pick(page, "Insert a field into the new embedded data value", "order.store ($.order.store)")
    workflow = Workflow.objects.get()
    assert page.locator("input[name=contact_lastName]").input_value() == (
        f"Ms ~{{ch://{workflow.event_id}/customer.last}}"
    )
    page.get_by_role("button", name="Save task").click()
    page.get_by_text("not saved yet").wait_for(state="detached")
    page.locator("#section-tasks").get_by_text("Saved.").wait_for()
    workflow.refresh_from_db()
    assert workflow.tasks[0]["config"]["embeddedData"] == [
        {"name": "Store", "value": f"~{{ch://{workflow.event_id}/order.store}}"}
    ]
    assert page.evaluate(A11Y_SCRIPT) == []

    # Send an event over HTTP to the copied trigger URL; a worker runs it.
    trigger_url = page.locator("#trigger-url").input_value()
    trigger_url = base + trigger_url[trigger_url.index("/inbound/") :]
    status, body = send(trigger_url, token, EVENT)
    assert status == 202
    run_worker()

    # Workflow reporting: the payload and the task's output.
    page.get_by_role("link", name="Runs").click()
    page.get_by_role("link", name=body["runId"]).click()
    page.get_by_text("Succeeded").first.wait_for()
    assert "A-2" in page.get_by_label("Event payload").inner_text()
    contact = Contact.objects.get()
    assert (contact.last_name, contact.embedded_data) == ("Ms Lovelace", {"Store": "Soho"})
    assert contact.public_id in page.locator(".wf-output").first.inner_text()

    # Make the task fail: its email now comes from a field the events do not carry.
    page.goto(base + f"/workflows/{workflow.public_id}/")
    set_email(page, "customer.work_email ($.customer.work_email)")
    status, body = send(trigger_url, token, {**EVENT, "order": {**EVENT["order"], "id": "A-3"}})
    run_worker()
    page.goto(base + "/workflows/runs/?status=failed")
    page.get_by_role("link", name=body["runId"]).click()
    page.get_by_text("The contact has no email").first.wait_for()

    # Fix the task, then retry the run from the failed task.
    page.goto(base + f"/workflows/{workflow.public_id}/")
    set_email(page, "customer.email ($.customer.email)")
    page.goto(base + f"/workflows/runs/{body['runId']}/")
    page.get_by_role("button", name="Retry from the failed task").click()
    page.get_by_text("is queued again").wait_for()
    run_worker()
    page.reload()
    page.get_by_text("Attempt 1 (earlier)").wait_for()
    run = WorkflowRun.objects.get(public_id=body["runId"])
    assert (run.status, run.generation) == (RunStatus.SUCCEEDED, 2)
    assert Contact.objects.count() == 1
    assert "Retry from the start" not in page.content()
