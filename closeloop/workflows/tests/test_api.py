"""/api/v1/workflows: create, read, update, delete, runs, retry; problem details on errors."""

import json

import pytest

from closeloop.workflows import actions, mapping
from closeloop.workflows.models import RunStatus, Workflow, WorkflowRun
from closeloop.workflows.tests.conftest import (
    MAPPING,
    SAMPLE,
    directory_task,
    make_workflow,
    run_jobs,
)

pytestmark = pytest.mark.django_db

BASE = "/api/v1/workflows"


@pytest.fixture
def api(client, token_a, workflows_urls):
    def call(method, path="", body=None, token=token_a, **params):
        kwargs = {"HTTP_X_API_TOKEN": token}
        if body is not None:
            return client.generic(
                method, BASE + path, json.dumps(body), content_type="application/json", **kwargs
            )
        return getattr(client, method.lower())(BASE + path, params, **kwargs)

    return call


def definition(**overrides):
    body = {
        "name": "From the API",
        "event": {"type": "json", "config": {"fields": MAPPING}},
        "tasks": [directory_task("event")],
    }
    body.update(overrides)
    return body


def problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    return body


def test_create_read_update_delete(api, org_a):
    created = api("POST", body=definition())
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["id"].startswith("WF_")
    assert body["owner"] == {"id": org_a[1].public_id, "email": "owner@acme.test"}
    assert body["triggerUrl"].endswith(Workflow.objects.get().trigger_token)
    assert body["tasks"][0]["id"].startswith("TA_")
    assert body["revision"] == 1 and body["warnings"] == []

    assert api("GET", f"/{body['id']}").json()["name"] == "From the API"
    assert [item["id"] for item in api("GET").json()["elements"]] == [body["id"]]

    replaced = api("PUT", f"/{body['id']}", definition(name="Replaced", enabled=False))
    assert replaced.status_code == 200
    assert (replaced.json()["name"], replaced.json()["enabled"], replaced.json()["revision"]) == (
        "Replaced",
        False,
        2,
    )

    patched = api("PATCH", f"/{body['id']}", {"enabled": True})
    assert (patched.json()["name"], patched.json()["enabled"]) == ("Replaced", True)

    assert api("DELETE", f"/{body['id']}").status_code == 204
    problem(api("GET", f"/{body['id']}"), 404, "RES_01")


def test_a_round_trip_keeps_task_ids_and_the_event_id(api):
    body = api("POST", body=definition()).json()
    again = {
        key: body[key]
        for key in (
            "name",
            "enabled",
            "survey",
            "continueOnFailure",
            "event",
            "conditions",
            "tasks",
        )
    }
    updated = api("PUT", f"/{body['id']}", again).json()
    assert updated["tasks"] == body["tasks"]
    assert updated["event"] == body["event"]
    assert updated["revision"] == 1  # nothing changed


def test_invalid_definitions_are_422_problems_with_every_error(api):
    bad = definition(name="", tasks=[{"type": "nope"}])
    body = problem(api("POST", body=bad), 422, "WF_04")
    messages = [item["message"] for item in body["errors"]]
    assert "Give the workflow a name." in messages
    assert any("unknown task type 'nope'" in message for message in messages)
    assert not Workflow.objects.exists()


def test_unknown_keys_and_wrong_types_are_refused(api):
    problem(api("POST", body={**definition(), "colour": "red"}), 422, "REQ_01")
    problem(api("POST", body={**definition(), "enabled": "maybe"}), 422, "REQ_01")


def test_warnings_come_back(api):
    task = directory_task("event")
    task["config"]["contact"]["phone"] = "~{ch://event/phone}"
    body = api("POST", body=definition(tasks=[task])).json()
    assert body["warnings"] == [
        "Task 1: Save contact, Phone: ~{ch://event/phone} is not a field of the event or of "
        "an earlier task; it will be empty when the workflow runs."
    ]


def start(workflow):
    values, _ = mapping.extract(SAMPLE, workflow.event_config["fields"])
    run, _ = actions.start_run(workflow, payload=json.dumps(SAMPLE), fields=values)
    return run


def test_runs_list_get_and_retry(api, org_a):
    task = directory_task()
    task["config"]["contact"]["email"] = "~{ch://event/mail}"
    workflow = make_workflow(*org_a, tasks=[task])
    runs = [start(workflow) for _ in range(3)]
    run_jobs()

    page = api("GET", f"/{workflow.public_id}/runs", pageSize=2).json()
    assert [item["id"] for item in page["elements"]] == [runs[2].public_id, runs[1].public_id]
    assert page["elements"][0]["status"] == "failed"
    rest = api(
        "GET",
        page["nextPage"].split(BASE)[1].split("?")[0],
        **dict(pair.split("=") for pair in page["nextPage"].split("?")[1].split("&")),
    ).json()
    assert [item["id"] for item in rest["elements"]] == [runs[0].public_id]
    assert rest["nextPage"] is None

    detail = api("GET", f"/{workflow.public_id}/runs/{runs[0].public_id}").json()
    assert detail["payload"] == SAMPLE
    assert detail["fields"]["email"] == "ada@example.com"
    assert detail["tasks"][0]["status"] == "failed"
    assert "no email" in detail["tasks"][0]["error"]

    task["config"]["contact"]["email"] = "~{ch://event/email}"
    api(
        "PATCH",
        f"/{workflow.public_id}",
        {"tasks": [dict(workflow.tasks[0], config=task["config"])]},
    )
    retried = api(
        "POST", f"/{workflow.public_id}/runs/{runs[0].public_id}/retry", {"from": "failedTask"}
    )
    assert retried.status_code == 202
    assert retried.json()["status"] == "running"
    run_jobs()
    assert WorkflowRun.objects.get(pk=runs[0].pk).status == RunStatus.SUCCEEDED
    again = api("POST", f"/{workflow.public_id}/runs/{runs[0].public_id}/retry", {})
    problem(again, 409, "WF_05")
    problem(api("GET", f"/{workflow.public_id}/runs", status="nope"), 400, "REQ_01")


def test_missing_token(client, workflows_urls):
    problem(client.get(BASE), 401, "AUTH_01")


def test_openapi_documents_the_endpoints(client, workflows_urls):
    schema = client.get("/api/v1/openapi.json").json()
    assert {"/api/v1/workflows", "/api/v1/workflows/{workflow_id}/runs/{run_id}/retry"} <= set(
        schema["paths"]
    )
