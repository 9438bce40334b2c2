"""Salesforce task test helpers: accounts holding the fake Salesforce's tokens, workflows whose
JSON event carries a survey response, and the worker run in-process."""

from __future__ import annotations

import json
import secrets

from django.utils import timezone

import closeloop.workflows.jobs  # noqa: F401 - registers the workflow job handlers
from closeloop.distributions.secrets import encrypt
from closeloop.integrations.salesforce.models import ConnectedAccount
from closeloop.jobs.models import Job, JobStatus
from closeloop.jobs.worker import Worker
from closeloop.workflows import actions, mapping
from closeloop.workflows.models import TaskRun, WorkflowRun
from tests.fakes.salesforce import FakeSalesforce

RESPONSE_FIELDS = [
    {"name": "responseId", "path": "$.responseId", "type": "String"},
    {"name": "caseId", "path": "$.caseId", "type": "String"},
    {"name": "nps", "path": "$.nps", "type": "String"},
    {"name": "comment", "path": "$.comment", "type": "String"},
    {"name": "promoter", "path": "$.promoter", "type": "String"},
    {"name": "finishedAt", "path": "$.finishedAt", "type": "String"},
    {"name": "visit", "path": "$.visit", "type": "String"},
]
RESPONSE = {
    "responseId": "R_1a2b3c",
    "caseId": "",
    "nps": "9",
    "comment": "Quick and friendly",
    "promoter": "true",
    "finishedAt": "2026-11-30T14:05:00+01:00",
    "visit": "2026-11-29",
}


def linked(
    fake: FakeSalesforce,
    organization,
    owner,
    *,
    name: str = "Support org",
    environment: str = "production",
    org_id: str = "",
    shared: bool = False,
) -> ConnectedAccount:
    """A linked account holding tokens the fake Salesforce issued (no OAuth round trip)."""
    refresh_token = secrets.token_urlsafe(32)
    with fake.lock:
        fake.refresh_tokens.add(refresh_token)
    issued = fake.issue_access_token(refresh_token)
    return ConnectedAccount.objects.create(
        organization=organization,
        owner=owner,
        name=name,
        environment=environment,
        login_url=fake.base_url,
        instance_url=fake.base_url,
        salesforce_organization_id=org_id or fake.organization_id,
        salesforce_user_id=fake.user_id,
        username=fake.username,
        access_token_encrypted=encrypt(issued["access_token"]),
        refresh_token_encrypted=encrypt(refresh_token),
        shared_with_organization=shared,
    )


def salesforce_task(account, /, name: str = "Write back", **config) -> dict:
    base = {
        "account": account.public_id,
        "operation": "insert",
        "object": "Survey_Response__c",
        "fields": [
            {"field": "NPS__c", "value": "~{ch://event/nps}"},
            {"field": "Comment__c", "value": "~{ch://event/comment}"},
        ],
    }
    base.update(config)
    return {"type": "salesforce", "name": name, "config": base}


def response_workflow(organization, owner, tasks: list, **overrides):
    definition = {
        "name": "Responses to Salesforce",
        "event": {"type": "json", "config": {"fields": RESPONSE_FIELDS}},
        "tasks": tasks,
        **overrides,
    }
    workflow, _warnings = actions.create_workflow(organization, owner, definition)
    return workflow


def start(workflow, payload: dict | None = None) -> WorkflowRun:
    payload = {**RESPONSE, **(payload or {})}
    values, errors = mapping.extract(payload, workflow.event_config["fields"])
    assert not errors
    run, _created = actions.start_run(
        workflow, payload=json.dumps(payload), fields=values, source="test"
    )
    return run


def run_jobs() -> None:
    worker = Worker()
    for _ in range(20):
        if not worker.run_once():
            return


def finished(run: WorkflowRun) -> WorkflowRun:
    run_jobs()
    run.refresh_from_db()
    return run


def due_now() -> None:
    Job.objects.filter(status=JobStatus.QUEUED).update(run_after=timezone.now())


def task_runs(run: WorkflowRun) -> list[TaskRun]:
    return list(TaskRun.objects.filter(run=run, generation=run.generation).order_by("position"))


def requests_to(fake: FakeSalesforce, method: str, part: str) -> int:
    with fake.lock:
        return sum(1 for m, path in fake.requests if m == method and part in path)
