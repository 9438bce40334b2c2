"""End to end in Debian's chromium: a run skipped by a wrong condition, the condition fixed, the
run replayed from workflow reporting with the current revision (the page warning what the
replay will send), and the new run seen, succeeded, linked to the unchanged original; then a
bulk replay of the filter with its progress."""

from __future__ import annotations

import json
import re

import pytest

from closeloop.jobs.worker import Worker
from closeloop.workflows import actions, mapping
from closeloop.workflows.models import BulkReplay, RunStatus, WorkflowRun
from closeloop.workflows.tests.conftest import SAMPLE, make_workflow
from closeloop.workflows.tests.test_browser import A11Y_SCRIPT, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ECHO = {"type": "test.echo", "name": "Echo", "config": {"who": "~{ch://event/email}"}}
SENDER = {"type": "test.sender", "name": "Invite", "config": {}}


def rule(value: str) -> dict:
    rules = [{"field": "total", "operator": "greaterThan", "value": value}]
    return {"match": "all", "groups": [{"match": "all", "rules": rules}]}


def test_replay_a_skipped_run_from_reporting_and_see_the_new_run(
    page, live_server, org_a, workflows_urls
):
    organization, user = org_a
    base = live_server.url
    workflow = make_workflow(organization, user, tasks=[ECHO, SENDER], conditions=rule("500"))
    values, _ = mapping.extract(SAMPLE, workflow.event_config["fields"])
    original, _ = actions.start_run(
        workflow, payload=json.dumps(SAMPLE), fields=values, source="http"
    )
    Worker().run(once=True)
    original.refresh_from_db()
    assert original.status == RunStatus.SKIPPED
    actions.update_workflow(workflow, user, {"conditions": rule("100")})  # the fix

    log_in(page, base, user.email)
    page.goto(base + "/workflows/runs/?status=skipped")
    page.get_by_role("link", name=original.public_id).click()
    page.get_by_text("Skipped because").wait_for()
    page.get_by_role("link", name="Replay…").click()

    current = page.get_by_label(re.compile(r"The workflow's current revision \(2\)"))
    assert current.is_checked()
    assert page.get_by_label(re.compile(r"The revision the run ran with \(1\)")).count() == 1
    assert "send test messages (Task 2: Invite)" in page.get_by_role("note").first.inner_text()
    assert page.evaluate(A11Y_SCRIPT) == []
    page.get_by_role("button", name="Replay run").click()

    page.get_by_text(f"Run {original.public_id} is replayed as").wait_for()
    replay = WorkflowRun.objects.get(source="replay")
    assert page.url == f"{base}/workflows/runs/{replay.public_id}/"
    assert page.get_by_role("link", name=original.public_id).count() == 1  # "Replay of"
    Worker().run(once=True)
    page.reload()
    page.get_by_role("heading", name=re.compile(replay.public_id)).get_by_text(
        "Succeeded"
    ).wait_for()
    original.refresh_from_db()
    assert (original.status, original.generation) == (RunStatus.SKIPPED, 1)

    # Reporting lists both; the original links to its replay.
    page.goto(base + "/workflows/runs/")
    page.get_by_role("link", name=replay.public_id).wait_for()
    page.get_by_role("link", name=original.public_id).click()
    page.get_by_role("link", name=replay.public_id).wait_for()

    # Bulk replay of the skipped runs: confirmation, then progress until finished.
    page.goto(base + "/workflows/runs/?status=skipped")
    page.get_by_role("link", name="Replay these runs…").click()
    page.get_by_text("1 run will be replayed").wait_for()
    page.get_by_role("button", name="Replay 1 run").click()
    page.get_by_text("waiting for a worker").wait_for()
    Worker().run(once=True)
    page.get_by_text("1 of 1 runs · 100%").wait_for()  # the HTMX poll shows it
    assert BulkReplay.objects.get().replayed == 1
    assert WorkflowRun.objects.filter(source="replay").count() == 2
