"""/api/v1/workflows and the JSON event's trigger URL hold the token's user to the workflow
permissions: the 403 problem (AUTH_04) says whom to ask, a workflow one may not see is the
404 of an unknown id; a trigger URL answers 404 for a workflow its token's user may not
manage, and stores nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from closeloop.accounts.models import MemberGroup
from closeloop.surveys import actions as survey_actions
from closeloop.surveys.models import SurveyShare
from closeloop.workflows import inbound, lookup_cache
from closeloop.workflows.lookup_cache import TtlCache
from closeloop.workflows.models import Workflow, WorkflowRun
from closeloop.workflows.tests.conftest import MAPPING, SAMPLE
from closeloop.workflows.tests.permission_world import (
    ACTORS,
    ALLOWED,
    ECHO,
    FORBIDDEN,
    REASON,
    World,
    build_world,
    state_of,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_lookups():
    lookup_cache.forget_all()
    yield
    lookup_cache.forget_all()


@pytest.fixture
def world(org_a, org_b) -> World:
    return build_world(org_a, org_b)


def definition(world: World, **changes) -> dict:
    return {
        "name": "From version control",
        "survey": world.survey.public_id,
        "event": {"type": "json", "config": {"fields": MAPPING}},
        "tasks": [ECHO],
        **changes,
    }


@dataclass(frozen=True)
class Call:
    name: str
    method: str
    path: Callable[[World], str]
    body: Callable[[World], dict] | None = None
    hidden_status: int = 404


def wf(suffix: str = "") -> Callable[[World], str]:
    return lambda w: f"/api/v1/workflows/{w.workflow.public_id}{suffix}"


def run(suffix: str) -> Callable[[World], str]:
    return lambda w: f"/api/v1/workflows/{w.workflow.public_id}/runs/{w.run.public_id}{suffix}"


CALLS = [
    Call("get", "get", wf()),
    Call("replace", "put", wf(), lambda w: definition(w, name="Replaced")),
    Call("patch", "patch", wf(), lambda w: {"enabled": False}),
    Call("delete", "delete", wf()),
    Call("runs", "get", wf("/runs")),
    Call("one run", "get", run("")),
    Call("retry", "post", run("/retry"), lambda w: {}),
    Call("replay", "post", run("/replay"), lambda w: {"revision": "current"}),
    # a survey one may not see is "no such survey", as an unknown one: 422, not 404
    Call("create on the survey", "post", lambda w: "/api/v1/workflows", definition, 422),
]


def send(client, world: World, call: Call, role: str):
    headers = {"HTTP_X_API_TOKEN": world.tokens[role]}
    method = getattr(client, call.method)
    if call.body is None:
        return method(call.path(world), **headers)
    return method(
        call.path(world), json.dumps(call.body(world)), content_type="application/json", **headers
    )


@pytest.mark.parametrize("role", ACTORS)
@pytest.mark.parametrize("call", CALLS, ids=[call.name for call in CALLS])
def test_api_v1(client, world: World, call: Call, role: str):
    before = state_of(world)
    workflows = Workflow.objects.count()
    response = send(client, world, call, role)
    status = response.status_code
    if role in ALLOWED:
        assert status < 400 or (call.name == "retry" and status == 409), (
            call.name,
            role,
            status,
            response.content[:300],
        )
        return
    assert response["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    if role in FORBIDDEN:
        assert status == 403, (call.name, role, status, problem)
        assert problem["code"] == "AUTH_04" and REASON in problem["detail"]
    else:
        assert status == call.hidden_status, (call.name, role, status, problem)
        assert "Ana" not in problem["detail"] and world.workflow.name not in problem["detail"]
    assert state_of(world) == before and Workflow.objects.count() == workflows


def test_a_hidden_workflow_reads_as_an_unknown_one(client, world: World):
    headers = {"HTTP_X_API_TOKEN": world.tokens["not_shared"]}
    hidden = client.get(f"/api/v1/workflows/{world.workflow.public_id}", **headers).json()
    unknown = client.get("/api/v1/workflows/WF_nothere", **headers).json()
    assert hidden["detail"].replace(world.workflow.public_id, "X") == unknown["detail"].replace(
        "WF_nothere", "X"
    )


LISTED = {
    "survey_owner": {"workflow", "own_workflow"},
    "org_admin": {"workflow", "own_workflow", "admin_workflow"},
    "granted": {"workflow"},
    "other_permissions": set(),
    "not_shared": set(),
    "other_org": set(),
}


@pytest.mark.parametrize("role", ACTORS)
def test_the_list_holds_the_workflows_one_may_manage(client, world: World, role: str):
    response = client.get("/api/v1/workflows", HTTP_X_API_TOKEN=world.tokens[role])
    listed = {item["id"] for item in response.json()["elements"]}
    expected = {getattr(world, attribute).public_id for attribute in LISTED[role]}
    assert listed == expected


@pytest.mark.parametrize(
    ("attribute", "allowed"),
    [("own_workflow", {"survey_owner", "org_admin"}), ("admin_workflow", {"org_admin"})],
)
@pytest.mark.parametrize("role", ACTORS)
def test_an_organization_workflow_is_its_owners_and_the_admins(
    client, world: World, attribute: str, allowed: set, role: str
):
    workflow_id = getattr(world, attribute).public_id
    response = client.get(f"/api/v1/workflows/{workflow_id}", HTTP_X_API_TOKEN=world.tokens[role])
    assert response.status_code == (200 if role in allowed else 404), role


def test_moving_a_workflow_needs_the_new_survey(client, world: World):
    """Bea may manage Support CSAT's workflows but not another survey's, and may not make
    the workflow an organization workflow (it would be Ana's alone)."""
    ana = world.users["survey_owner"]
    other = survey_actions.create_survey(world.organization, ana, "Other survey")
    survey_actions.share_survey(other, ana, user=world.users["granted"], permissions=["edit"])
    headers = {"HTTP_X_API_TOKEN": world.tokens["granted"]}
    path = f"/api/v1/workflows/{world.workflow.public_id}"

    def patch(body):
        return client.patch(path, json.dumps(body), content_type="application/json", **headers)

    refused = patch({"survey": other.public_id})
    assert refused.status_code == 403 and "Manage workflows" in refused.json()["detail"]
    assert patch({"survey": None}).status_code == 403
    hidden = survey_actions.create_survey(world.organization, ana, "Hidden survey")
    assert patch({"survey": hidden.public_id}).status_code == 422
    assert patch({"survey": world.survey.public_id, "name": "Same survey"}).status_code == 200
    world.workflow.refresh_from_db()
    assert (world.workflow.survey, world.workflow.name) == (world.survey, "Same survey")
    # the owner may make it her organization workflow
    owner_headers = {"HTTP_X_API_TOKEN": world.tokens["survey_owner"]}
    moved = client.patch(
        path, json.dumps({"survey": None}), content_type="application/json", **owner_headers
    )
    assert moved.status_code == 200 and moved.json()["survey"] is None


# The JSON event's trigger URL ----------------------------------------------------------------


def trigger(client, workflow, secret: str):
    return client.post(
        f"/inbound/json/{workflow.trigger_token}",
        json.dumps(SAMPLE),
        content_type="application/json",
        HTTP_X_API_TOKEN=secret,
    )


@pytest.mark.parametrize("role", ACTORS)
def test_the_trigger_url(client, world: World, role: str):
    runs = WorkflowRun.objects.count()
    response = trigger(client, world.workflow, world.tokens[role])
    if role in ALLOWED:
        assert response.status_code == 202, response.content
        assert WorkflowRun.objects.count() == runs + 1
        return
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["detail"] == inbound.UNKNOWN_TRIGGER  # as for an unknown URL
    assert WorkflowRun.objects.count() == runs
    unknown = client.post(
        "/inbound/json/nothere",
        json.dumps(SAMPLE),
        content_type="application/json",
        HTTP_X_API_TOKEN=world.tokens[role],
    )
    same = {key: value for key, value in response.json().items() if key != "instance"}
    assert {key: value for key, value in unknown.json().items() if key != "instance"} == same


@pytest.mark.parametrize(
    ("attribute", "allowed"),
    [("own_workflow", {"survey_owner", "org_admin"}), ("admin_workflow", {"org_admin"})],
)
@pytest.mark.parametrize("role", ACTORS)
def test_an_organization_workflows_trigger_url(
    client, world: World, attribute: str, allowed: set, role: str
):
    response = trigger(client, getattr(world, attribute), world.tokens[role])
    assert response.status_code == (202 if role in allowed else 404), role


def test_a_revoked_share_stops_the_trigger_url_at_once_in_this_process(client, world: World):
    bea = world.tokens["granted"]
    assert trigger(client, world.workflow, bea).status_code == 202  # now cached
    survey_actions.share_survey(
        world.survey, world.users["survey_owner"], user=world.users["granted"], permissions=[]
    )
    assert trigger(client, world.workflow, bea).status_code == 404


def test_a_removed_group_member_loses_the_trigger_url(client, world: World):
    dan = world.users["not_shared"]
    group = MemberGroup.objects.create(organization=world.organization, name="Support")
    survey_actions.share_survey(
        world.survey, world.users["survey_owner"], group=group, permissions=["manage_workflows"]
    )
    assert trigger(client, world.workflow, world.tokens["not_shared"]).status_code == 404
    group.members.add(dan)
    assert trigger(client, world.workflow, world.tokens["not_shared"]).status_code == 202
    group.members.remove(dan)
    assert trigger(client, world.workflow, world.tokens["not_shared"]).status_code == 404


def test_another_processs_revocation_is_honoured_within_the_ttl(client, world: World, monkeypatch):
    """A change made elsewhere (another process, or written without model signals) does not
    empty this process's cache: the allowed entry lasts at most TTL_SECONDS."""
    now = [1000.0]
    cache = TtlCache(lookup_cache.TTL_SECONDS, lookup_cache.MAX_ENTRIES, clock=lambda: now[0])
    monkeypatch.setattr(lookup_cache, "triggers", cache)
    bea = world.tokens["granted"]
    assert trigger(client, world.workflow, bea).status_code == 202
    SurveyShare.objects.filter(user=world.users["granted"]).update(can_manage_workflows=False)
    now[0] += lookup_cache.TTL_SECONDS / 2
    assert trigger(client, world.workflow, bea).status_code == 202  # the cached check
    now[0] += lookup_cache.TTL_SECONDS
    assert trigger(client, world.workflow, bea).status_code == 404
    # a refusal is not cached: access given back (without signals) works at once
    SurveyShare.objects.filter(user=world.users["granted"]).update(can_manage_workflows=True)
    assert trigger(client, world.workflow, bea).status_code == 202
