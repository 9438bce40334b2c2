"""Workflow test helpers: workflows made through the actions, the worker run in-process."""

from __future__ import annotations

import os

import pytest

from closeloop.accounts import actions as accounts_actions
from closeloop.jobs.tests.conftest import worker_process  # noqa: F401 - a fixture
from closeloop.jobs.worker import Worker
from closeloop.workflows import actions
from closeloop.workflows import jobs as _jobs  # noqa: F401  (registers the handlers)
from closeloop.workflows.tests import tasks as _tasks  # noqa: F401  (registers the test tasks)

TEST_TASKS_MODULE = "closeloop.workflows.tests.tasks"

SAMPLE = {
    "customer": {"first": "Ada", "last": "Lovelace", "email": "ada@example.com"},
    "order": {"total": 120.5, "vip": True, "store": "Soho"},
    "tags": ["new", "web"],
}
MAPPING = [
    {"name": "first", "path": "$.customer.first", "type": "String"},
    {"name": "last", "path": "$.customer.last", "type": "String"},
    {"name": "email", "path": "$.customer.email", "type": "String"},
    {"name": "total", "path": "$.order.total", "type": "Number"},
    {"name": "vip", "path": "$.order.vip", "type": "Boolean"},
    {"name": "store", "path": "$.order.store", "type": "String"},
]


def directory_task(event_id: str = "event", **config) -> dict:
    base = {
        "mode": "embeddedData",
        "contact": {
            "firstName": f"~{{ch://{event_id}/first}}",
            "lastName": f"~{{ch://{event_id}/last}}",
            "email": f"~{{ch://{event_id}/email}}",
        },
        "embeddedData": [{"name": "Store", "value": f"~{{ch://{event_id}/store}}"}],
    }
    base.update(config)
    return {"type": "xm_directory", "name": "Save contact", "config": base}


def make_workflow(organization, user, *, tasks=None, **overrides):
    definition = {
        "name": "Order follow-up",
        "event": {"type": "json", "config": {"fields": MAPPING}},
        "tasks": [directory_task()] if tasks is None else tasks,
    }
    definition.update(overrides)
    workflow, _warnings = actions.create_workflow(organization, user, definition)
    return workflow


def run_jobs() -> Worker:
    """Run every due job, including the ones the jobs enqueue."""
    worker = Worker()
    worker.run(once=True)
    return worker


@pytest.fixture
def token_a(org_a) -> str:
    return accounts_actions.create_api_token(*org_a, "tests")[1]


@pytest.fixture
def token_b(org_b) -> str:
    return accounts_actions.create_api_token(*org_b, "tests")[1]


@pytest.fixture
def workflows_urls(settings):
    settings.ROOT_URLCONF = "closeloop.workflows.tests.urls"


@pytest.fixture
def client_a(client, org_a, workflows_urls):
    client.force_login(org_a[1])
    return client


@pytest.fixture
def workers_with_test_tasks(monkeypatch):
    """Worker subprocesses started after this import the test task types too (the modules
    listed in CLOSELOOP_EXTRA_MODULES are imported by closeloop.jobs.registry.autodiscover)."""
    listed = [name for name in os.environ.get("CLOSELOOP_EXTRA_MODULES", "").split(",") if name]
    monkeypatch.setenv("CLOSELOOP_EXTRA_MODULES", ",".join([*listed, TEST_TASKS_MODULE]))
