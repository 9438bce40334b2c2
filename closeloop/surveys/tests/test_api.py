"""/api/v1/surveys (definition import/export, publish) and the /API/v3 surveys subset
(list, get, response exports), with tenant isolation and error formats."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from closeloop.accounts import actions as account_actions
from closeloop.api.tests.conftest import assert_envelope_error, assert_problem, assert_success
from closeloop.jobs.worker import Worker
from closeloop.surveys import jobs as survey_jobs  # noqa: F401 - registers the export job
from closeloop.surveys.models import Survey, SurveyStatus
from closeloop.surveys.tests.sample import sample
from closeloop.surveys.tests.test_lifecycle import answer_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def token_a(org_a) -> str:
    return account_actions.create_api_token(*org_a, "tests")[1]


@pytest.fixture
def token_b(org_b) -> str:
    return account_actions.create_api_token(*org_b, "tests")[1]


def call(client, method, path, token, body=None):
    kwargs = {"HTTP_X_API_TOKEN": token}
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(client, method)(path, **kwargs)


def test_v1_create_export_import_publish(client, token_a):
    created = call(
        client, "post", "/api/v1/surveys", token_a, {"name": "Imported", "definition": sample()}
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["id"].startswith("SV_") and len(body["id"]) == 18
    assert body["status"] == "draft" and body["languages"] == ["EN", "FR"]
    assert body["definition"] == sample()
    survey_id = body["id"]

    exported = call(client, "get", f"/api/v1/surveys/{survey_id}", token_a).json()
    changed = exported["definition"]
    changed["title"] = "Imported again"
    updated = call(
        client,
        "put",
        f"/api/v1/surveys/{survey_id}",
        token_a,
        {"definition": changed, "name": "Renamed"},
    )
    assert updated.status_code == 200
    assert updated.json()["definition"]["title"] == "Imported again"
    assert updated.json()["name"] == "Renamed"

    published = call(client, "post", f"/api/v1/surveys/{survey_id}/publish", token_a)
    assert published.json()["version"] == 1 and published.json()["status"] == "active"
    listed = call(client, "get", "/api/v1/surveys", token_a).json()
    assert [s["id"] for s in listed["surveys"]] == [survey_id]
    assert listed["surveys"][0]["anonymousLink"].endswith(f"/jfe/form/{survey_id}")
    assert listed["next"] is None


def test_v1_refuses_invalid_definitions(client, token_a):
    bad = sample()
    bad["blocks"][0]["elements"][0]["type"] = "slider"
    response = call(client, "post", "/api/v1/surveys", token_a, {"name": "Bad", "definition": bad})
    problem = assert_problem(response, 422)
    assert "must be one of" in problem["detail"]
    assert Survey.objects.count() == 0
    response = call(client, "post", "/api/v1/surveys", token_a, {"definition": {}})
    assert_problem(response, 422)
    created = call(client, "post", "/api/v1/surveys", token_a, {"name": "Empty"}).json()
    response = call(client, "post", f"/api/v1/surveys/{created['id']}/publish", token_a)
    assert "at least one question" in assert_problem(response, 422)["detail"]
    response = call(
        client, "put", f"/api/v1/surveys/{created['id']}", token_a, {"definition": {"blocks": "x"}}
    )
    assert_problem(response, 422)


def test_v1_needs_a_token(client):
    assert_problem(client.get("/api/v1/surveys"), 401)


def test_v1_isolation(client, token_a, token_b, org_b):
    theirs = call(
        client, "post", "/api/v1/surveys", token_b, {"name": "Theirs", "definition": sample()}
    ).json()["id"]
    assert call(client, "get", "/api/v1/surveys", token_a).json()["surveys"] == []
    for method, path, body in [
        ("get", f"/api/v1/surveys/{theirs}", None),
        ("put", f"/api/v1/surveys/{theirs}", {"name": "Mine now"}),
        ("post", f"/api/v1/surveys/{theirs}/publish", None),
    ]:
        assert_problem(call(client, method, path, token_a, body), 404)
    survey = Survey.objects.get(public_id=theirs)
    assert survey.name == "Theirs" and survey.status == SurveyStatus.DRAFT


def test_v3_list_and_get(client, token_a, survey_a, survey_b):
    result = assert_success(call(client, "get", "/API/v3/surveys", token_a))
    assert [e["id"] for e in result["elements"]] == [survey_a.public_id]
    assert result["elements"][0]["isActive"] is True and result["nextPage"] is None
    result = assert_success(call(client, "get", f"/API/v3/surveys/{survey_a.public_id}/", token_a))
    assert result["name"] == "Customer feedback"
    assert_envelope_error(
        call(client, "get", f"/API/v3/surveys/{survey_b.public_id}", token_a), 404
    )


def test_v3_response_export(client, token_a, survey_a, contact_a):
    response = answer_all(survey_a, contact_a)
    base = f"/API/v3/surveys/{survey_a.public_id}/export-responses"
    started = assert_success(call(client, "post", base, token_a, {"format": "json"}))
    assert started["progressId"].startswith("ES_")
    assert started == {
        "progressId": started["progressId"],
        "fileId": None,
        "percentComplete": 0.0,
        "status": "inProgress",
    }
    progress = assert_success(call(client, "get", f"{base}/{started['progressId']}", token_a))
    assert progress["status"] == "inProgress" and progress["fileId"] is None

    Worker().run_once()
    progress = assert_success(call(client, "get", f"{base}/{started['progressId']}", token_a))
    assert progress["status"] == "complete" and progress["percentComplete"] == 100.0
    download = call(client, "get", f"{base}/{progress['fileId']}/file", token_a)
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    data = json.loads(archive.read("Customer feedback.json"))
    assert data["responses"][0]["responseId"] == response.public_id

    assert_envelope_error(call(client, "get", f"{base}/ES_nope", token_a), 404)
    assert_envelope_error(call(client, "get", f"{base}/nope/file", token_a), 404)
    assert_envelope_error(call(client, "post", base, token_a, {"format": "xlsx"}), 400)


def test_v3_export_isolation(client, token_a, token_b, survey_a, contact_a):
    answer_all(survey_a, contact_a)
    base = f"/API/v3/surveys/{survey_a.public_id}/export-responses"
    started = assert_success(call(client, "post", base, token_a, {"format": "csv"}))
    Worker().run_once()
    progress = assert_success(call(client, "get", f"{base}/{started['progressId']}", token_a))
    assert_envelope_error(call(client, "post", base, token_b, {"format": "csv"}), 404)
    assert_envelope_error(call(client, "get", f"{base}/{started['progressId']}", token_b), 404)
    assert_envelope_error(call(client, "get", f"{base}/{progress['fileId']}/file", token_b), 404)
    assert_envelope_error(client.get(f"{base}/{progress['fileId']}/file"), 401)


def test_openapi_documents_the_survey_endpoints(client):
    v1 = client.get("/api/v1/openapi.json").json()
    assert {"/api/v1/surveys", "/api/v1/surveys/{survey_id}/publish"} <= set(v1["paths"])
    v3 = client.get("/API/v3/openapi.json").json()
    assert "/API/v3/surveys/{surveyId}/export-responses/{fileId}/file" in v3["paths"]
