"""The Segment receiver, replaying the protocol samples the way Segment's destinations send
them: single events, Webhooks (Actions) batches, signatures, the Qualtrics destination's
Start a workflow request, and every way a body is refused with nothing stored."""

from __future__ import annotations

import json
import time

import pytest
from django.db import DatabaseError

from closeloop.accounts import actions as accounts_actions
from closeloop.integrations.segment import actions as segment_actions
from closeloop.integrations.segment import spec
from closeloop.integrations.segment.models import Endpoint
from closeloop.integrations.segment.tests.conftest import (
    COMPACT_SIGNATURE,
    SECRET,
    nothing_stored,
    post,
    problem_of,
    sample,
    sample_json,
    segment_workflow,
    url_of,
)
from closeloop.jobs.models import Job
from closeloop.workflows import actions, lookup_cache
from closeloop.workflows.models import RunStatus, WorkflowRun

pytestmark = pytest.mark.django_db(transaction=True)

IDENTIFY_ID = "ajs-next-1763820000000-5f1c2e8a-9b7d-4c3e-a2f1-0d9e8c7b6a51"


def with_secret(workflow, secret=SECRET):
    segment_actions.set_secret(workflow, secret)
    lookup_cache.forget_all()


def small_event(index: int) -> dict:
    return {"type": "track", "event": "Clicked", "userId": f"u{index}", "messageId": f"m-{index}"}


def test_an_identify_is_stored_then_acknowledged_with_the_preset_fields(client, endpoint):
    workflow, url = endpoint
    body = sample("identify.json")
    response = post(client, url, body)
    assert response.status_code == 202, response.content
    run = WorkflowRun.objects.get()
    assert response.json() == {"runId": run.public_id, "status": "queued"}
    assert run.workflow == workflow and run.source == "segment"
    assert run.status == RunStatus.QUEUED and run.dedup_key == f"segment:{IDENTIFY_ID}"
    assert run.payload == body.decode().strip()
    assert run.fields["type"] == "identify" and run.fields["userId"] == "user_48213"
    assert run.fields["traits.email"] == "jane.doe@example.com"
    assert run.fields["context.traits.email"] is None  # an identify's traits are top level
    assert run.fields["timestamp"] == "2026-11-21T09:15:02.207Z"
    assert Job.objects.filter(kind="workflows.run").count() == 1


def test_the_same_message_id_twice_runs_once(client, endpoint):
    _, url = endpoint
    assert post(client, url, sample("identify.json")).status_code == 202
    again = post(client, url, sample("identify_compact.json"))  # same messageId, other bytes
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert WorkflowRun.objects.count() == 1
    assert Job.objects.filter(kind="workflows.run").count() == 1


def test_the_batch_array_runs_each_event_once(client, endpoint):
    _, url = endpoint
    response = post(client, url, sample("webhooks_actions_batch.json"))
    assert response.status_code == 202, response.content
    assert response.json() == {"received": 2, "new": 2, "duplicates": 0}
    runs = list(WorkflowRun.objects.order_by("id"))
    assert [run.fields["type"] for run in runs] == ["identify", "track"]
    assert [json.loads(run.payload)["messageId"] for run in runs] == [
        IDENTIFY_ID,
        "ajs-next-1763822000000-0c8d7e6f-5a4b-4c3d-9e2f-1a0b9c8d7e6f",
    ]
    assert runs[1].fields["context.traits.email"] == "li.wei@example.com"
    assert Job.objects.filter(kind="workflows.run").count() == 2
    # Segment retries the batch (and a later batch repeats one of its events): nothing new.
    again = post(client, url, sample("webhooks_actions_batch.json"))
    assert again.status_code == 200 and again.json()["new"] == 0
    assert post(client, url, sample("identify.json")).status_code == 200
    assert WorkflowRun.objects.count() == 2


def test_a_message_id_repeated_inside_a_batch_runs_once(client, endpoint):
    _, url = endpoint
    event = sample_json("track_onboarding_completed.json")
    response = post(client, url, json.dumps([event, event, small_event(1)]))
    assert response.status_code == 202
    assert response.json()["received"] == 2
    assert WorkflowRun.objects.count() == 2


def test_without_a_message_id_the_same_payload_runs_once(client, endpoint):
    _, url = endpoint
    payload = sample_json("qualtrics_destination_trigger_payload.json")
    assert post(client, url, json.dumps(payload)).status_code == 202
    reordered = json.dumps(dict(reversed(list(payload.items()))), indent=2)
    assert post(client, url, reordered).status_code == 200
    other = {**payload, "properties": {**payload["properties"], "steps_completed": 8}}
    assert post(client, url, json.dumps(other)).status_code == 202
    assert WorkflowRun.objects.count() == 2
    assert WorkflowRun.objects.first().dedup_key.startswith("segment:sha256:")


def test_the_fixture_signature_is_segments_hmac_sha1():
    assert spec.sign(SECRET, sample("identify_compact.json")) == COMPACT_SIGNATURE


def test_a_signed_event_is_accepted_and_a_wrong_signature_is_401(client, endpoint):
    workflow, url = endpoint
    with_secret(workflow)
    body = sample("identify_compact.json")
    wrong = COMPACT_SIGNATURE[:-1] + "0"
    response = post(client, url, body, HTTP_X_SIGNATURE=wrong)
    assert response.status_code == 401
    problem = problem_of(response)
    assert problem["code"] == "SEG_01" and "does not match" in problem["detail"]
    assert "WWW-Authenticate" in response
    response = post(client, url, body)
    assert response.status_code == 401 and "send X-Signature" in problem_of(response)["detail"]
    response = post(client, url, body.replace(b"Jane", b"Joan"), HTTP_X_SIGNATURE=COMPACT_SIGNATURE)
    assert response.status_code == 401
    assert nothing_stored()
    response = post(client, url, body, HTTP_X_SIGNATURE=COMPACT_SIGNATURE.upper())
    assert response.status_code == 202, response.content
    assert WorkflowRun.objects.count() == 1


def test_a_batch_signed_by_its_first_event_as_segment_does_is_accepted(client, endpoint):
    workflow, url = endpoint
    with_secret(workflow)
    events = sample_json("webhooks_actions_batch.json")
    first = json.dumps(events[0], separators=(",", ":"))
    body = "[" + ",".join(json.dumps(event, separators=(",", ":")) for event in events) + "]"
    assert body.startswith("[" + first + ",")
    response = post(client, url, body, HTTP_X_SIGNATURE=spec.sign(SECRET, first.encode()))
    assert response.status_code == 202, response.content
    assert WorkflowRun.objects.count() == 2
    # Signed over the whole body works too; signed by the second event does not.
    more = json.dumps([small_event(1), small_event(2)])
    assert (
        post(client, url, more, HTTP_X_SIGNATURE=spec.sign(SECRET, more.encode())).status_code
        == 202
    )
    second = json.dumps(small_event(4))
    response = post(
        client,
        url,
        json.dumps([small_event(3), small_event(4)]),
        HTTP_X_SIGNATURE=spec.sign(SECRET, second.encode()),
    )
    assert response.status_code == 401
    assert WorkflowRun.objects.count() == 4


def test_the_secret_is_stored_encrypted(endpoint):
    workflow, _ = endpoint
    with_secret(workflow)
    stored = Endpoint.objects.get(workflow=workflow).secret_encrypted
    assert SECRET not in stored and stored


def test_the_qualtrics_destination_start_a_workflow_request(client, endpoint, org_a, org_b):
    workflow, url = endpoint
    _row, token = accounts_actions.create_api_token(*org_a, "Segment")
    payload = sample("qualtrics_destination_trigger_payload.json")
    response = post(client, url, payload, HTTP_X_API_TOKEN=token)
    assert response.status_code == 202, response.content
    run = WorkflowRun.objects.get()
    assert run.fields["event"] == "Onboarding Tour Completed"
    assert run.fields["context.traits.email"] == "li.wei@example.com"
    # A token that is not one of the workflow's organization is refused, even without a secret.
    _row, token_b = accounts_actions.create_api_token(*org_b, "Segment")
    other = payload.replace(b"7", b"8")
    response = post(client, url, other, HTTP_X_API_TOKEN=token_b)
    assert response.status_code == 401 and problem_of(response)["code"] == "AUTH_02"
    assert post(client, url, other, HTTP_X_API_TOKEN="not-a-token").status_code == 401
    # With a secret set, the organization's token stands in for the signature it cannot send.
    with_secret(workflow)
    assert post(client, url, other, HTTP_X_API_TOKEN=token).status_code == 202
    assert post(client, url, other.replace(b"8", b"9")).status_code == 401
    assert WorkflowRun.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'{"type": "identify", "userId": ', "not valid JSON"),
        (b"", "empty"),
        (b"[]", "empty"),
        (b'[{"type": "track"}, 42]', "Event 2 of the batch is not a JSON object"),
        (b'"identify"', "not a JSON object"),
        (b'{"type": "track"} {"type": "track"}', "extra data"),
        (b'[{"type": "track"}', "not closed"),
        (b'{"type": ["track"]}', "type that is not text"),
        (b'{"total": NaN}', "not valid JSON"),
        (b"\xff\xfe{}", "UTF-8"),
        (b'{"a":' * 100 + b"1" + b"}" * 100, "nested more than"),
    ],
)
def test_malformed_bodies_get_a_400_and_store_nothing(client, endpoint, body, detail):
    _, url = endpoint
    response = post(client, url, body)
    assert response.status_code == 400, response.content
    assert detail in problem_of(response)["detail"]
    assert nothing_stored()


def test_a_101_kb_event_is_refused_alone_or_in_a_batch(client, endpoint):
    _, url = endpoint
    big = {**small_event(1), "properties": {"notes": "x" * (101 * 1024)}}
    response = post(client, url, json.dumps(big))
    assert response.status_code == 413
    assert "larger than 100 KB" in problem_of(response)["detail"]
    response = post(client, url, json.dumps([small_event(0), big, small_event(2)]))
    assert response.status_code == 413
    assert "Event 2 of the batch is larger than 100 KB" in problem_of(response)["detail"]
    assert nothing_stored()
    just_under = {**small_event(3), "properties": {"notes": "x" * (99 * 1024)}}
    assert post(client, url, json.dumps(just_under)).status_code == 202


def test_an_array_of_10000_events_is_refused_quickly_with_nothing_stored(client, endpoint):
    _, url = endpoint
    small = json.dumps([small_event(index) for index in range(10_000)])
    assert len(small) < spec.MAX_BODY_BYTES
    started = time.perf_counter()
    response = post(client, url, small)
    assert time.perf_counter() - started < 2.0
    assert response.status_code == 413
    assert f"at most {spec.MAX_BATCH_EVENTS} events" in problem_of(response)["detail"]
    full = json.dumps(
        [{**sample_json("identify.json"), "messageId": str(i)} for i in range(10_000)]
    )
    response = post(client, url, full)
    assert response.status_code == 413 and "larger than 4 MB" in problem_of(response)["detail"]
    assert nothing_stored()


def test_a_full_batch_of_4000_events_is_accepted(client, endpoint):
    _, url = endpoint
    response = post(client, url, json.dumps([small_event(i) for i in range(spec.MAX_BATCH_EVENTS)]))
    assert response.status_code == 202
    assert WorkflowRun.objects.count() == spec.MAX_BATCH_EVENTS


def test_a_field_that_does_not_fit_fails_the_whole_batch(client, org_a):
    fields = [{"name": "seats", "path": "$.traits.seats", "type": "Number"}]
    workflow = segment_workflow(*org_a, event={"type": "segment", "config": {"fields": fields}})
    events = [sample_json("identify.json"), {"type": "identify", "traits": {"seats": "many"}}]
    response = post(client, url_of(workflow), json.dumps(events))
    assert response.status_code == 422
    problem = problem_of(response)
    assert problem["detail"].startswith('Event 2: Field "seats"')
    assert problem["errors"] == [{"event": 2, "field": "seats", "message": problem["detail"]}]
    assert nothing_stored()


def test_other_methods_media_types_and_urls(client, endpoint):
    workflow, url = endpoint
    response = client.get(url)
    assert response.status_code == 405 and response["Allow"] == "POST, PUT, PATCH"
    response = post(client, url, sample("identify.json"), content_type="text/plain")
    assert response.status_code == 415 and problem_of(response)["code"] == "WF_02"
    response = post(client, "/inbound/segment/not-a-token", sample("identify.json"))
    assert (
        response.status_code == 404
        and "No Twilio Segment workflow" in problem_of(response)["detail"]
    )
    json_workflow, _ = actions.create_workflow(
        workflow.organization, workflow.owner, {"name": "JSON", "event": {"type": "json"}}
    )
    response = post(
        client, f"/inbound/segment/{json_workflow.trigger_token}", sample("identify.json")
    )
    assert response.status_code == 404
    assert nothing_stored()
    assert post(client, url, sample("identify.json"), method="PUT").status_code == 202


def test_a_database_failure_is_a_503_so_segment_retries(client, endpoint, monkeypatch):
    _, url = endpoint

    def failing(*_args, **_kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(actions, "start_runs", failing)
    monkeypatch.setattr(actions, "start_run", failing)
    for body in (sample("identify.json"), sample("webhooks_actions_batch.json")):
        response = post(client, url, body)
        assert response.status_code == 503 and response["Retry-After"]
        assert "deliver them again" in problem_of(response)["detail"]
    assert nothing_stored()


def test_while_listening_the_first_event_is_captured_not_run(client, endpoint):
    workflow, url = endpoint
    actions.start_capture(workflow)
    lookup_cache.forget_all()
    response = post(client, url, sample("webhooks_actions_batch.json"))
    assert response.status_code == 202 and response.json()["captured"] is True
    workflow.refresh_from_db()
    assert json.loads(workflow.captured_payload)["type"] == "identify"
    assert nothing_stored()


def test_a_disabled_workflow_records_the_events_as_skipped(client, endpoint):
    workflow, url = endpoint
    actions.set_enabled(workflow, workflow.owner, False)
    lookup_cache.forget_all()
    assert post(client, url, sample("webhooks_actions_batch.json")).status_code == 202
    assert set(WorkflowRun.objects.values_list("status", flat=True)) == {RunStatus.SKIPPED}


def test_a_refused_delivery_is_noted_for_the_workflow(client, endpoint):
    workflow, url = endpoint
    with_secret(workflow)
    post(client, url, sample("identify_compact.json"), HTTP_X_SIGNATURE="0" * 40)
    endpoint_row = Endpoint.objects.get(workflow=workflow)
    assert endpoint_row.last_refusal_status == 401
    assert "does not match" in endpoint_row.last_refusal
    post(client, url, b"{")
    endpoint_row.refresh_from_db()
    assert endpoint_row.last_refusal_status == 401  # auth is checked before the body is read


def test_each_organization_receives_only_its_own_events(client, org_a, org_b):
    workflow_a = segment_workflow(*org_a)
    workflow_b = segment_workflow(*org_b)
    _row, token_b = accounts_actions.create_api_token(*org_b, "Segment")
    # Org B's token sent to org A's URL is refused; org B's URL stores only for org B.
    response = post(client, url_of(workflow_a), sample("identify.json"), HTTP_X_API_TOKEN=token_b)
    assert response.status_code == 401
    response = post(client, url_of(workflow_b), sample("identify.json"), HTTP_X_API_TOKEN=token_b)
    assert response.status_code == 202
    assert post(client, url_of(workflow_a), sample("identify.json")).status_code == 202
    run_a = WorkflowRun.objects.get(organization=workflow_a.organization)
    run_b = WorkflowRun.objects.get(organization=workflow_b.organization)
    assert (run_a.workflow, run_b.workflow) == (workflow_a, workflow_b)
    # The same messageId in both organizations: one run each, neither a duplicate of the other.
    assert run_a.dedup_key == run_b.dedup_key
