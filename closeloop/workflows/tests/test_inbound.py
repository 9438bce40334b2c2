"""The JSON event's trigger URL: auth, limits, content types, idempotency, field types, capture."""

import base64
import json

import pytest
from django.urls import reverse

from closeloop.directory.models import Contact
from closeloop.jobs.models import Job
from closeloop.workflows import actions
from closeloop.workflows.models import RunStatus, TaskRun, WorkflowRun
from closeloop.workflows.tests.conftest import SAMPLE, make_workflow, run_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def workflow(org_a):
    return make_workflow(*org_a)


def url(workflow) -> str:
    return reverse("triggers:json", args=[workflow.trigger_token])


def post(client, target, body=SAMPLE, *, token=None, content_type="application/json", **headers):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    if token is not None:
        headers.setdefault("HTTP_X_API_TOKEN", token)
    return client.generic("POST", target, data, content_type=content_type, **headers)


def assert_nothing_stored():
    assert not WorkflowRun.objects.exists()
    assert not Job.objects.exists()


def problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    return body


def test_an_event_runs_the_workflow_end_to_end(client, workflow, token_a):
    response = post(client, url(workflow), token=token_a)

    assert response.status_code == 202
    run = WorkflowRun.objects.get()
    assert response.json() == {"runId": run.public_id, "status": "queued"}
    assert json.loads(run.payload) == SAMPLE
    assert run.fields["email"] == "ada@example.com"
    run_jobs()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    contact = Contact.objects.get()
    assert (contact.email, contact.embedded_data) == ("ada@example.com", {"Store": "Soho"})


def test_the_same_idempotency_key_starts_no_second_run(client, workflow, token_a):
    first = post(client, url(workflow), token=token_a, HTTP_IDEMPOTENCY_KEY="order-1")
    again = post(client, url(workflow), token=token_a, HTTP_IDEMPOTENCY_KEY="order-1")

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == {
        "runId": first.json()["runId"],
        "status": "queued",
        "duplicate": True,
    }
    assert WorkflowRun.objects.count() == 1
    assert Job.objects.filter(kind=actions.RUN_JOB).count() == 1
    run_jobs()
    assert Contact.objects.count() == 1
    assert (
        post(client, url(workflow), token=token_a, HTTP_IDEMPOTENCY_KEY="order-2").status_code
        == 202
    )


def test_a_failing_condition_gives_a_skipped_run_with_its_reason(client, org_a, token_a):
    conditions = {
        "match": "all",
        "groups": [
            {"match": "all", "rules": [{"field": "vip", "operator": "equals", "value": "false"}]}
        ],
    }
    workflow = make_workflow(*org_a, conditions=conditions)
    post(client, url(workflow), token=token_a)
    run_jobs()

    run = WorkflowRun.objects.get()
    assert run.status == RunStatus.SKIPPED
    assert run.skip_reason == 'Conditions not met: "vip" is equal to "false" (the value was true).'
    assert not TaskRun.objects.exists()
    assert not Contact.objects.exists()


def test_bearer_and_basic_auth_work(client, workflow, token_a):
    bearer = post(client, url(workflow), HTTP_AUTHORIZATION=f"Bearer {token_a}")
    credentials = base64.b64encode(f"owner@acme.test:{token_a}".encode()).decode()
    basic = post(client, url(workflow), HTTP_AUTHORIZATION=f"Basic {credentials}")
    assert (bearer.status_code, basic.status_code) == (202, 202)


def test_missing_auth(client, workflow):
    response = post(client, url(workflow))
    body = problem(response, 401, "AUTH_01")
    assert "X-API-TOKEN" in body["detail"]
    assert response["WWW-Authenticate"].startswith("Basic")
    assert_nothing_stored()


@pytest.mark.parametrize("header", ["HTTP_X_API_TOKEN", "HTTP_AUTHORIZATION"])
def test_a_wrong_token(client, workflow, header):
    value = "x" * 40 if header == "HTTP_X_API_TOKEN" else "Basic !!!"
    problem(post(client, url(workflow), **{header: value}), 401, "AUTH_02")
    assert_nothing_stored()


def test_a_wrong_trigger_token(client, workflow, token_a):
    target = reverse("triggers:json", args=["not-the-token"])
    body = problem(post(client, target, token=token_a), 404, "RES_01")
    assert "trigger URL" in body["detail"]
    assert_nothing_stored()


def test_another_organizations_token_does_not_reach_the_workflow(client, workflow, token_b):
    problem(post(client, url(workflow), token=token_b), 404, "RES_01")
    assert_nothing_stored()


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1", ""],
)
def test_non_json_content_types(client, workflow, token_a, content_type):
    response = post(client, url(workflow), token=token_a, content_type=content_type)
    problem(response, 415, "WF_02")
    assert_nothing_stored()


def test_json_suffix_types_are_accepted(client, workflow, token_a):
    response = post(
        client, url(workflow), token=token_a, content_type="application/vnd.api+json; charset=utf-8"
    )
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("{not json", "The body is not valid JSON"),
        ("  ", "The body is not valid JSON"),
        ('"just text"', "must be a JSON object or array"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        ("[" * 10_000 + "]" * 10_000, "nested more than 64 levels"),
        ('{"a":' * 10_000 + "1" + "}" * 10_000, "nested more than 64 levels"),
    ],
)
def test_malformed_bodies(client, workflow, token_a, body, detail):
    response = post(client, url(workflow), body, token=token_a)
    assert detail in problem(response, 400, "REQ_02")["detail"]
    assert_nothing_stored()


def test_a_body_over_100_kb(client, workflow, token_a):
    body = json.dumps({"blob": "x" * (101 * 1024)})
    response = post(client, url(workflow), body, token=token_a)
    assert problem(response, 413, "WF_01")["detail"] == "The body is larger than 100 KB."
    assert_nothing_stored()


def test_a_body_larger_than_its_content_length_says_is_cut_and_refused(client, workflow, token_a):
    body = json.dumps({"blob": "x" * (101 * 1024)})
    response = post(client, url(workflow), body, token=token_a, CONTENT_LENGTH="100")
    problem(response, 400, "REQ_02")
    assert_nothing_stored()


def test_a_body_of_exactly_100_kb_is_accepted(client, workflow, token_a):
    body = json.dumps({**SAMPLE, "pad": ""})
    body = body[:-2] + "x" * (100 * 1024 - len(body)) + '"}'
    assert len(body.encode()) == 100 * 1024
    assert post(client, url(workflow), body, token=token_a).status_code == 202


def test_values_that_do_not_fit_their_types(client, workflow, token_a):
    body = {**SAMPLE, "order": {"total": "a lot", "vip": "maybe", "store": "Soho"}}
    response = post(client, url(workflow), body, token=token_a)
    detail = problem(response, 422, "WF_03")
    assert detail["errors"] == [
        {
            "field": "total",
            "message": 'Field "total" ($.order.total) should be a Number, but the value is the text "a lot".',
        },
        {
            "field": "vip",
            "message": 'Field "vip" ($.order.vip) should be a Boolean (true or false), but the value is the text "maybe".',
        },
    ]
    assert detail["detail"].startswith('Field "total"')
    assert_nothing_stored()


def test_a_bad_idempotency_key(client, workflow, token_a):
    response = post(client, url(workflow), token=token_a, HTTP_IDEMPOTENCY_KEY="x" * 256)
    problem(response, 400, "REQ_01")
    assert_nothing_stored()


def test_get_is_not_allowed(client, workflow, token_a):
    response = client.get(url(workflow), HTTP_X_API_TOKEN=token_a)
    problem(response, 405, "REQ_03")
    assert response["Allow"] == "POST"


def test_a_disabled_workflow_records_a_skipped_run(client, org_a, token_a):
    workflow = make_workflow(*org_a, enabled=False)
    response = post(client, url(workflow), token=token_a)
    assert response.status_code == 202
    assert response.json()["status"] == "skipped"


def test_capture_mode_stores_the_next_event_without_running_it(client, workflow, token_a):
    actions.start_capture(workflow)
    odd = {"anything": {"goes": [1, 2]}, "even": "fields that do not fit"}
    response = post(client, url(workflow), odd, token=token_a)

    assert response.status_code == 202
    assert response.json()["captured"] is True
    workflow.refresh_from_db()
    assert json.loads(workflow.captured_payload) == odd
    assert workflow.capture_until is None
    assert_nothing_stored()
    # Capture ends with the first event; the next one runs.
    assert post(client, url(workflow), token=token_a).status_code == 202
    assert WorkflowRun.objects.count() == 1


def test_a_rotated_trigger_token_stops_the_old_url(client, workflow, token_a):
    old = url(workflow)
    actions.rotate_trigger_token(workflow)
    problem(post(client, old, token=token_a), 404, "RES_01")
    assert post(client, url(workflow), token=token_a).status_code == 202


# The per-process cache of trigger lookups ----------------------------------------------------


def lookup_queries(queries) -> list[str]:
    tables = ('"accounts_apitoken"', '"workflows_workflow"')
    return [
        q["sql"]
        for q in queries
        if q["sql"].startswith("SELECT") and any(t in q["sql"] for t in tables)
    ]


def test_a_repeated_event_reuses_the_cached_lookup(client, workflow, token_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as first:
        assert post(client, url(workflow), token=token_a).status_code == 202
    with CaptureQueriesContext(connection) as second:
        assert post(client, url(workflow), token=token_a).status_code == 202

    assert len(lookup_queries(first.captured_queries)) == 2
    assert lookup_queries(second.captured_queries) == []
    assert WorkflowRun.objects.count() == 2


def test_a_token_revoked_after_a_cached_lookup_is_refused(client, workflow, token_a, org_a):
    from closeloop.accounts import actions as accounts_actions
    from closeloop.accounts.models import ApiToken

    assert post(client, url(workflow), token=token_a).status_code == 202
    accounts_actions.revoke_api_token(ApiToken.objects.get(organization=org_a[0]))
    problem(post(client, url(workflow), token=token_a), 401, "AUTH_02")


def test_edits_after_a_cached_lookup_apply_to_the_next_event(client, workflow, token_a, org_a):
    assert post(client, url(workflow), token=token_a).status_code == 202
    actions.set_enabled(workflow, org_a[1], False)
    assert post(client, url(workflow), token=token_a).json()["status"] == "skipped"
    old = url(workflow)
    actions.rotate_trigger_token(workflow)
    problem(post(client, old, token=token_a), 404, "RES_01")


def test_cached_entries_expire_and_the_cache_stays_bounded():
    from closeloop.workflows.lookup_cache import TtlCache

    now = [100.0]
    cache = TtlCache(2.0, 3, clock=lambda: now[0])
    cache.put("a", 1)
    now[0] = 101.9
    assert cache.get("a") == 1
    now[0] = 102.0
    assert cache.get("a") is None
    for key in "bcd":
        cache.put(key, key)
    cache.put("e", "e")  # full: starts over rather than growing
    assert [cache.get(key) for key in "bcde"] == [None, None, None, "e"]


def test_on_postgresql_an_accepted_event_is_one_statement(client, workflow, token_a, is_postgres):
    """Run, job and the workers' wake-up in one INSERT, committed before the 202."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if not is_postgres:
        pytest.skip("the one-statement insert is PostgreSQL's")
    assert post(client, url(workflow), token=token_a, HTTP_IDEMPOTENCY_KEY="a").status_code == 202
    with CaptureQueriesContext(connection) as second:
        response = post(client, url(workflow), token=token_a, HTTP_IDEMPOTENCY_KEY="b")
    assert response.status_code == 202
    assert len(second.captured_queries) == 1
    run = WorkflowRun.objects.get(public_id=response.json()["runId"])
    job = Job.objects.get(kind=actions.RUN_JOB, payload__run=run.pk)
    assert (job.payload, job.organization_id) == (
        {"run": run.pk, "generation": 1},
        run.organization_id,
    )
    # The same key again inserts nothing and answers with the first run.
    again = post(client, url(workflow), token=token_a, HTTP_IDEMPOTENCY_KEY="b")
    assert (again.status_code, again.json()["runId"]) == (200, run.public_id)
    assert Job.objects.filter(kind=actions.RUN_JOB).count() == 2
