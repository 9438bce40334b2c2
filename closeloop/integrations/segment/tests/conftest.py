"""Segment test helpers: the protocol samples, Segment-event workflows, requests as Segment
sends them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from closeloop.distributions.tests.conftest import make_survey
from closeloop.jobs.models import Job
from closeloop.workflows import actions, lookup_cache
from closeloop.workflows import jobs as _jobs  # noqa: F401  (registers the run handlers)
from closeloop.workflows.models import WorkflowRun

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "closeloop-example-secret"
COMPACT_SIGNATURE = "2c90d865a399cd7e3d6ab09714a8c87afa0f8877"  # of identify_compact.json


def sample(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def sample_json(name: str):
    return json.loads(sample(name))


def segment_workflow(organization, user, *, name="Segment events", **definition):
    workflow, _warnings = actions.create_workflow(
        organization, user, {"name": name, "event": {"type": "segment"}, **definition}
    )
    lookup_cache.forget_all()
    return workflow


def url_of(workflow) -> str:
    return f"/inbound/segment/{workflow.trigger_token}"


def post(client, url: str, body: bytes | str, method: str = "POST", **headers):
    if isinstance(body, str):
        body = body.encode()
    headers.setdefault("content_type", "application/json")
    return client.generic(method, url, body, **headers)


def nothing_stored() -> bool:
    return (
        not WorkflowRun.objects.exists() and not Job.objects.filter(kind="workflows.run").exists()
    )


def problem_of(response) -> dict:
    assert response["Content-Type"] == "application/problem+json", response.content
    return json.loads(response.content)


@pytest.fixture
def endpoint(org_a):
    workflow = segment_workflow(*org_a)
    return workflow, url_of(workflow)


@pytest.fixture
def survey_a(org_a):
    return make_survey(*org_a)


@pytest.fixture
def survey_b(org_b):
    return make_survey(*org_b, name="Globex feedback")
