"""End to end in Debian's chromium (issue #17): in the workflow editor, add a Distribute survey
task after the XM Directory task, its contact picked from the XM Directory task's output with
{a}, and dry run a sample whose contact does not exist yet: both tasks would succeed, the
invitation going to the contact the first task would create, and nothing is written."""

from __future__ import annotations

import json
import re

import pytest
from django.core import mail

from closeloop.directory.models import Contact, Directory
from closeloop.distributions.models import Distribution
from closeloop.surveys.tests.test_browser import log_in
from closeloop.workflows.tests.conftest import directory_task, make_workflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SAMPLE = {
    "customer": {"first": "Grace", "last": "Hopper", "email": "grace@example.com"},
    "order": {"total": 80, "vip": False, "store": "Soho"},
}


def test_dry_run_of_xm_directory_then_distribute_survey_for_a_new_contact(
    page, live_server, org_a, survey_a, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    organization, user = org_a
    save = {**directory_task(), "id": "TA_save"}
    workflow = make_workflow(organization, user, tasks=[save], survey=survey_a.public_id)
    base = live_server.url
    log_in(page, base, user.email)
    page.goto(f"{base}/workflows/{workflow.public_id}/")

    # Add the Distribute survey task; its contact is the XM Directory task's contactId.
    page.get_by_label("Add a task").select_option("distribute_survey")
    page.get_by_role("button", name="Add task").click()
    page.get_by_text("not saved yet").wait_for()
    invite = page.locator("article.wf-task").nth(1)
    invite.get_by_label("Task name").fill("Invite")
    invite.get_by_role("textbox", name="Contact ID").click()
    invite.get_by_role("button", name="Insert a field into Contact ID").click()
    page.get_by_role("menuitem", name="Contact ID").click()
    assert (
        invite.get_by_role("textbox", name="Contact ID").input_value()
        == "~{ch://TA_save/contactId}"
    )
    invite.get_by_role("textbox", name="Email", exact=True).fill("")
    invite.get_by_role("button", name="Save task").click()
    page.get_by_text("not saved yet").wait_for(state="detached")
    page.locator("#section-tasks").get_by_text("Saved.").wait_for()
    workflow.refresh_from_db()
    assert [task["type"] for task in workflow.tasks] == ["xm_directory", "distribute_survey"]

    # Dry run a sample whose contact is new.
    page.get_by_label("Sample payload (JSON)").fill(json.dumps(SAMPLE, indent=2))
    page.get_by_role("button", name="Dry run").click()
    report = page.get_by_role("region", name="Dry run result")
    report.wait_for()
    tasks = report.locator(".wf-dry-task")
    assert tasks.count() == 2
    first, second = tasks.nth(0), tasks.nth(1)
    assert first.get_by_role("heading", name=re.compile("Task 1: Save contact")).is_visible()
    assert second.get_by_role("heading", name=re.compile("Task 2: Invite")).is_visible()
    for task in (first, second):
        assert task.get_attribute("data-status") == "succeed"
        assert task.locator(".badge").inner_text() == "Would succeed"
    assert "Would fail" not in report.inner_text()
    assert "Would create a new contact grace@example.com in Main directory" in first.inner_text()
    assert (
        "Would email an invitation to Customer feedback to grace@example.com (a new contact)."
        in second.inner_text()
    )
    # The would-be contact, with the mapped fields, is the one the invitation goes to.
    written = json.loads(first.get_by_label("What Task 1: Save contact would write").inner_text())
    ((contact_id, would_be),) = written.items()
    assert would_be["email"] == "grace@example.com" and would_be["firstName"] == "Grace"
    assert would_be["exists"] is False
    assert f'"contactId": "{contact_id}"' in second.inner_text()
    assert second.get_by_label("What Task 2: Invite would write").count() == 0

    # Nothing was written or sent.
    assert not Contact.objects.exists() and not Directory.objects.exists()
    assert not Distribution.objects.exists() and mail.outbox == []
