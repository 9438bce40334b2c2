"""Tenant isolation: another organization's workflows, runs and revisions are never reachable."""

import json

import pytest
from django.urls import reverse

from closeloop.workflows import actions, mapping, queries
from closeloop.workflows.models import RunStatus, Workflow, WorkflowRun
from closeloop.workflows.tests.conftest import SAMPLE, make_workflow, run_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def theirs(org_a):
    """Organization A's workflow with a failed run."""
    workflow = make_workflow(
        *org_a, name="Secret flow", tasks=[{"type": "test.flaky", "config": {"permanent": True}}]
    )
    values, _ = mapping.extract(SAMPLE, workflow.event_config["fields"])
    run, _ = actions.start_run(workflow, payload=json.dumps(SAMPLE), fields=values)
    run_jobs()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    return workflow, run


@pytest.fixture
def client_b(client, org_b, workflows_urls):
    client.force_login(org_b[1])
    return client


def page_urls(workflow, run):
    wf = workflow.public_id
    task_id = workflow.tasks[0]["id"]
    return {
        "GET": [
            reverse("workflows:edit", args=[wf]),
            reverse("workflows:revisions", args=[wf]),
            reverse("workflows:revision", args=[wf, 1]),
            reverse("workflows:delete", args=[wf]),
            reverse("workflows:capture", args=[wf]),
            reverse("workflows:workflow-runs", args=[wf]),
            reverse("workflows:run", args=[run.public_id]),
        ],
        "POST": [
            reverse("workflows:settings", args=[wf]),
            reverse("workflows:event", args=[wf]),
            reverse("workflows:rotate-token", args=[wf]),
            reverse("workflows:capture", args=[wf]),
            reverse("workflows:conditions", args=[wf]),
            reverse("workflows:task", args=[wf, task_id]),
            reverse("workflows:task-move", args=[wf, task_id]),
            reverse("workflows:task-delete", args=[wf, task_id]),
            reverse("workflows:dry-run", args=[wf]),
            reverse("workflows:delete", args=[wf]),
            reverse("workflows:run-retry", args=[run.public_id]),
        ],
    }


def test_pages_of_another_organization_are_404(client_b, theirs):
    workflow, run = theirs
    urls = page_urls(workflow, run)
    for url in urls["GET"]:
        assert client_b.get(url).status_code == 404, url
    for url in urls["POST"]:
        assert client_b.post(url, {"name": "Hijacked", "action": "save"}).status_code == 404, url
    workflow.refresh_from_db()
    assert (workflow.name, workflow.revision) == ("Secret flow", 1)
    assert WorkflowRun.objects.get(pk=run.pk).generation == 1


def test_lists_reporting_and_csv_show_only_the_own_organization(client_b, theirs, org_b):
    workflow, run = theirs
    mine = make_workflow(*org_b, name="My flow", tasks=[])
    for url in (reverse("workflows:list"), reverse("workflows:runs"), reverse("workflows:create")):
        page = client_b.get(url).content.decode()
        assert "Secret flow" not in page and run.public_id not in page
    assert "My flow" in client_b.get(reverse("workflows:list")).content.decode()
    filtered = client_b.get(
        reverse("workflows:runs"), {"workflow": workflow.public_id}
    ).content.decode()
    assert run.public_id not in filtered
    csv_text = b"".join(client_b.get(reverse("workflows:runs-csv")).streaming_content).decode()
    assert run.public_id not in csv_text
    csv_text = b"".join(
        client_b.get(
            reverse("workflows:runs-csv"), {"workflow": workflow.public_id}
        ).streaming_content
    ).decode()
    assert run.public_id not in csv_text
    assert mine.public_id not in csv_text  # no runs of its own yet


def test_the_api_of_another_organization(client, theirs, token_b, workflows_urls):
    workflow, run = theirs
    base = f"/api/v1/workflows/{workflow.public_id}"
    headers = {"HTTP_X_API_TOKEN": token_b}
    assert client.get("/api/v1/workflows", **headers).json() == {"elements": []}
    for method, path in [
        ("get", ""),
        ("get", "/runs"),
        ("get", f"/runs/{run.public_id}"),
        ("delete", ""),
    ]:
        assert getattr(client, method)(base + path, **headers).status_code == 404, path
    response = client.post(
        f"{base}/runs/{run.public_id}/retry", "{}", content_type="application/json", **headers
    )
    assert response.status_code == 404
    response = client.patch(
        base, json.dumps({"name": "x"}), content_type="application/json", **headers
    )
    assert response.status_code == 404
    assert Workflow.objects.filter(pk=workflow.pk, name="Secret flow").exists()


def test_the_survey_of_another_organization_is_not_listed_on_create(client_b, org_a):
    from closeloop.surveys import actions as survey_actions

    survey_actions.create_survey(*org_a, "Their survey")
    assert "Their survey" not in client_b.get(reverse("workflows:create")).content.decode()


def test_queries_answer_none_across_organizations(theirs, org_b):
    workflow, run = theirs
    organization_b = org_b[0]
    assert queries.workflow(organization_b, workflow.public_id) is None
    assert queries.run(organization_b, run.public_id) is None
    assert queries.workflow_for_trigger(organization_b, workflow.trigger_token, "json") is None
    user_b = org_b[1]
    assert not queries.runs(organization_b, user_b).exists()
    assert queries.workflows_with_activity(organization_b, user_b) == []
    assert queries.workflow_choices(organization_b, user_b) == []
