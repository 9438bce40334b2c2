"""POST /api/v1/workflows/{id}/runs/{runId}/replay: a finished run replayed as a new run."""

import json

import pytest

from closeloop.workflows import actions, mapping
from closeloop.workflows.models import RunStatus, WorkflowRun
from closeloop.workflows.tests.conftest import SAMPLE, make_workflow, run_jobs

pytestmark = pytest.mark.django_db

BASE = "/api/v1/workflows"
ECHO = {"type": "test.echo", "name": "Echo", "config": {"who": "~{ch://event/email}"}}


def post(client, path, body, token):
    return client.post(
        BASE + path, json.dumps(body), content_type="application/json", HTTP_X_API_TOKEN=token
    )


def finished_run(workflow):
    values, _ = mapping.extract(SAMPLE, workflow.event_config["fields"])
    run, _ = actions.start_run(workflow, payload=json.dumps(SAMPLE), fields=values)
    run_jobs()
    run.refresh_from_db()
    return run


def test_replay_a_succeeded_run(client, org_a, token_a, workflows_urls):
    workflow = make_workflow(*org_a, tasks=[ECHO])
    run = finished_run(workflow)
    path = f"/{workflow.public_id}/runs/{run.public_id}/replay"

    response = post(client, path, {"revision": "original"}, token_a)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["replayOf"] == run.public_id and body["source"] == "replay"
    assert body["status"] == "queued" and body["id"] != run.public_id
    assert body["idempotencyKey"] == f"replay:{run.public_id}:1"
    run_jobs()
    assert WorkflowRun.objects.get(public_id=body["id"]).status == RunStatus.SUCCEEDED
    assert WorkflowRun.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED

    bad = post(client, path, {"revision": "yesterday"}, token_a)
    assert bad.status_code == 422  # schema validation, as for every body
    actions.set_enabled(workflow, org_a[1], False)
    refused = post(client, path, {}, token_a)
    assert refused.status_code == 409 and refused.json()["code"] == "WF_06"
    assert "disabled" in refused.json()["detail"]


def test_another_organization_cannot_replay(client, org_a, token_b, workflows_urls):
    workflow = make_workflow(*org_a, tasks=[ECHO])
    run = finished_run(workflow)
    response = post(client, f"/{workflow.public_id}/runs/{run.public_id}/replay", {}, token_b)
    assert response.status_code == 404
    assert not WorkflowRun.objects.filter(source="replay").exists()


def test_openapi_documents_replay(client, workflows_urls):
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/workflows/{workflow_id}/runs/{run_id}/replay" in schema["paths"]
