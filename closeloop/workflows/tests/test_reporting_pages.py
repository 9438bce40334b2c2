"""Workflow reporting: filters, a run's payload and tasks, retries, CSV export."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from closeloop.workflows import actions, mapping
from closeloop.workflows.models import RunStatus, WorkflowRun
from closeloop.workflows.tests.conftest import SAMPLE, directory_task, make_workflow, run_jobs

pytestmark = pytest.mark.django_db


def start(workflow, payload=SAMPLE):
    values, _ = mapping.extract(payload, workflow.event_config["fields"])
    run, _ = actions.start_run(workflow, payload=json.dumps(payload), fields=values, source="http")
    return run


@pytest.fixture
def runs(org_a):
    good = make_workflow(*org_a, name="Good")
    broken_task = directory_task()
    broken_task["config"]["contact"]["email"] = "~{ch://event/mail}"
    broken = make_workflow(*org_a, name="Broken", tasks=[broken_task])
    ok = start(good)
    failed = start(
        broken, {**SAMPLE, "customer": {**SAMPLE["customer"], "email": "zed@example.com"}}
    )
    run_jobs()
    ok.refresh_from_db()
    failed.refresh_from_db()
    return {"good": good, "broken": broken, "ok": ok, "failed": failed}


def listed(client, **params) -> str:
    return client.get(reverse("workflows:runs"), params).content.decode()


def test_filters(client_a, runs):
    ok, failed = runs["ok"].public_id, runs["failed"].public_id
    page = listed(client_a)
    assert ok in page and failed in page
    page = listed(client_a, status="failed")
    assert failed in page and ok not in page
    page = listed(client_a, workflow=runs["good"].public_id)
    assert ok in page and failed not in page
    page = listed(client_a, q="zed@example")
    assert failed in page and ok not in page
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert ok not in listed(client_a, since=tomorrow)
    assert ok in listed(client_a, until=tomorrow)
    assert "No run matches these filters." in listed(client_a, workflow="WF_unknown")


def test_run_page_shows_payload_task_input_output_and_error(client_a, runs):
    page = client_a.get(reverse("workflows:run", args=[runs["ok"].public_id])).content.decode()
    assert "ada@example.com" in page  # payload and task input
    assert "&quot;contactId&quot;: &quot;CID_" in page  # task output
    page = client_a.get(reverse("workflows:run", args=[runs["failed"].public_id])).content.decode()
    assert "The contact has no email" in page
    assert "Retry from the start" in page and "Retry from the failed task" in page


def test_fix_then_retry_from_the_page(client_a, runs, org_a):
    broken, failed = runs["broken"], runs["failed"]
    task = broken.tasks[0]
    task["config"]["contact"]["email"] = "~{ch://event/email}"
    actions.update_workflow(broken, org_a[1], {"tasks": [task]})

    response = client_a.post(
        reverse("workflows:run-retry", args=[failed.public_id]), {"from": "failed"}
    )
    assert response.status_code == 302
    run_jobs()
    failed.refresh_from_db()
    assert failed.status == RunStatus.SUCCEEDED
    page = client_a.get(reverse("workflows:run", args=[failed.public_id])).content.decode()
    assert "Attempt 1 (earlier)" in page
    assert "zed@example.com" in page

    response = client_a.post(reverse("workflows:run-retry", args=[failed.public_id]), follow=True)
    assert "Only failed runs can be retried" in response.content.decode()


def test_csv_export_follows_the_filters(client_a, runs):
    response = client_a.get(reverse("workflows:runs-csv"), {"status": "failed"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(
        csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode().lstrip("\ufeff")))
    )
    assert [row["run_id"] for row in rows] == [runs["failed"].public_id]
    assert rows[0]["workflow"] == "Broken"
    assert "failed" in rows[0]["tasks"]
    assert json.loads(rows[0]["payload"])["customer"]["email"] == "zed@example.com"


def test_csv_cells_cannot_start_formulas(client_a, org_a):
    workflow = make_workflow(*org_a, name="=HYPERLINK(1)", tasks=[])
    start(workflow)
    response = client_a.get(reverse("workflows:runs-csv"))
    text = b"".join(response.streaming_content).decode()
    assert "'=HYPERLINK(1)" in text


def test_runs_of_many_pages(client_a, org_a):
    workflow = make_workflow(*org_a, tasks=[])
    created = [start(workflow) for _ in range(55)]
    page = listed(client_a)
    assert created[-1].public_id in page and created[0].public_id not in page
    assert "Older runs" in page
    cursor = page.split("before=")[1].split('"')[0]
    older = listed(client_a, before=cursor)
    assert created[0].public_id in older
    assert WorkflowRun.objects.count() == 55
