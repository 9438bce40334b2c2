"""In Debian's chromium: Ana transfers her survey, whose workflow writes to Salesforce as her
account, to Bea (choose, review what changes for Bea, confirm); the run before re-pointing
fails saying where to re-point; Bea re-points the workflow to her own account on the same
org; the next run writes to (the fake) Salesforce with Bea's token."""

from __future__ import annotations

import pytest

from closeloop.distributions.secrets import decrypt
from closeloop.integrations.salesforce.tests.helpers import (
    finished,
    linked,
    response_workflow,
    salesforce_task,
    start,
    task_runs,
)
from closeloop.integrations.salesforce.tests.test_transfer import insert_tokens
from closeloop.surveys import actions as survey_actions
from closeloop.surveys.tests.sample import simple
from closeloop.surveys.tests.test_browser import log_in
from closeloop.workflows.models import RunStatus, Workflow
from conftest import add_member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_transfer_and_repoint_from_the_pages(page, live_server, fake_salesforce, org_a):
    organization, _admin = org_a
    ana = add_member(organization, "ana@acme.test")
    bea = add_member(organization, "bea@acme.test")
    survey = survey_actions.create_survey(organization, ana, "Support CSAT", simple("nps"))
    survey_actions.publish(survey, ana)
    anas = linked(fake_salesforce, organization, ana, name="Ana's org login")
    beas = linked(fake_salesforce, organization, bea, name="Bea's org login")
    workflow = response_workflow(
        organization, ana, [salesforce_task(anas)], survey=survey.public_id
    )
    base = live_server.url
    log_in(page, base, ana.email)
    page.goto(f"{base}/surveys/{survey.public_id}/sharing")
    page.get_by_role("link", name="Transfer ownership").click()
    warning = page.locator("#transfer-warning").inner_text()
    assert "Ana's org login" in warning and "until the new owner re-points it" in warning
    page.get_by_label("New owner").select_option(bea.public_id)
    page.get_by_role("button", name="Review what changes").click()
    warning = page.locator("#transfer-warning").inner_text()
    assert "What changes when Bea Member becomes the owner" in warning
    assert "Bea Member may not use it" in warning and "(they have 1)" in warning
    page.get_by_label("I read what changes").check()
    page.get_by_role("button", name="Transfer ownership").click()
    page.get_by_text("now belongs to bea@acme.test").wait_for()
    # A plain member who gave the survey away no longer sees it.
    assert page.get_by_role("link", name="Support CSAT").count() == 0
    page.context.clear_cookies()

    failed = finished(start(Workflow.objects.get(pk=workflow.pk)))
    assert failed.status == RunStatus.FAILED
    assert "re-point it on" in task_runs(failed)[0].error

    log_in(page, base, bea.email)
    page.goto(f"{base}/workflows/")
    page.locator("#needs-repoint").get_by_role("link", name="Re-point it").click()
    form = page.locator(f"form[data-workflow='{workflow.public_id}']")
    form.get_by_label("Your Salesforce account on the same org").select_option(beas.public_id)
    form.get_by_role("button", name="Re-point").click()
    page.get_by_text("now runs with Bea Member's account").wait_for()
    assert page.locator("#repoint").count() == 0

    run = finished(start(Workflow.objects.get(pk=workflow.pk)))
    assert run.status == RunStatus.SUCCEEDED
    assert insert_tokens(fake_salesforce)[-1] == decrypt(beas.access_token_encrypted)
