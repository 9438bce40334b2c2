"""Run jobs claimed together: their XM Directory first tasks share one bulk upsert, and each
run ends exactly as it would have on its own."""

import copy
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from closeloop.directory.models import Contact
from closeloop.workflows import actions, engine, mapping
from closeloop.workflows.models import RunStatus, TaskRun, TaskStatus
from closeloop.workflows.tests.conftest import SAMPLE, directory_task, make_workflow, run_jobs

pytestmark = pytest.mark.django_db

ABOVE_100 = {
    "match": "all",
    "groups": [
        {"match": "all", "rules": [{"field": "total", "operator": "greaterThan", "value": "100"}]}
    ],
}


def event(email: str, total: float = 120.5) -> dict:
    payload = copy.deepcopy(SAMPLE)
    payload["customer"]["email"] = email
    payload["order"]["total"] = total
    return payload


def start(workflow, payload: dict):
    values, _errors = mapping.extract(payload, workflow.event_config["fields"])
    run, _ = actions.start_run(workflow, payload=json.dumps(payload), fields=values)
    return run


def first_task(run) -> TaskRun:
    return TaskRun.objects.get(run=run, position=0)


def test_runs_of_one_batch_end_as_they_would_one_by_one(org_a):
    echo = {"type": "test.echo", "name": "Echo", "config": {"contact": "~{ch://TA_save/contactId}"}}
    save = {**directory_task(), "id": "TA_save"}
    workflow = make_workflow(*org_a, tasks=[save, echo], conditions=ABOVE_100)
    runs = [
        start(workflow, event("ada@example.com")),
        start(workflow, event("grace@example.com")),
        start(workflow, event("ADA@example.com")),  # the same contact as the first
        start(workflow, event("cheap@example.com", total=5)),  # skipped by the conditions
    ]
    worker = run_jobs()
    for run in runs:
        run.refresh_from_db()

    assert worker.succeeded == len(runs)
    assert [run.status for run in runs] == [RunStatus.SUCCEEDED] * 3 + [RunStatus.SKIPPED]
    outputs = [first_task(run).output for run in runs[:3]]
    assert [output["created"] for output in outputs] == [True, True, False]
    assert outputs[0]["contactId"] == outputs[2]["contactId"] != outputs[1]["contactId"]
    assert Contact.objects.count() == 2
    assert [first_task(run).attempts for run in runs[:3]] == [1, 1, 1]
    assert [first_task(run).input["contact"]["email"] for run in runs[:3]] == [
        "ada@example.com",
        "grace@example.com",
        "ADA@example.com",
    ]
    # The next task pipes the batch's output like any other.
    echoed = [TaskRun.objects.get(run=run, position=1).output["contact"] for run in runs[:3]]
    assert echoed == [output["contactId"] for output in outputs]
    assert "total" in runs[3].skip_reason


def test_a_row_the_bulk_upsert_rejects_fails_with_the_message_of_a_run_alone(org_a):
    workflow = make_workflow(*org_a)
    alone = start(workflow, event("not an email"))
    engine.process_run(alone.pk, alone.generation)
    expected = first_task(alone).error
    assert expected

    batch = [start(workflow, event("ok@example.com")), start(workflow, event("not an email"))]
    run_jobs()
    for run in batch:
        run.refresh_from_db()

    assert [run.status for run in batch] == [RunStatus.SUCCEEDED, RunStatus.FAILED]
    assert first_task(batch[1]).status == TaskStatus.FAILED
    assert first_task(batch[1]).error == expected
    assert list(Contact.objects.values_list("email", flat=True)) == ["ok@example.com"]


def test_transaction_mode_runs_alone_in_a_batch(org_a):
    workflow = make_workflow(*org_a, tasks=[directory_task(mode="transaction")])
    runs = [start(workflow, event(f"buyer{n}@example.com")) for n in range(2)]
    run_jobs()

    for run in runs:
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED
        assert first_task(run).output["transactionId"]


def test_a_batch_keeps_each_organization_in_its_own_directory(org_a, org_b):
    runs = [
        start(make_workflow(*org_a), event("same@example.com")),
        start(make_workflow(*org_b), event("same@example.com")),
    ]
    run_jobs()

    contacts = [first_task(run).output["contactId"] for run in runs]
    assert len(set(contacts)) == 2
    by_id = {c.public_id: c for c in Contact.objects.all()}
    assert [by_id[contact].organization_id for contact in contacts] == [
        org_a[0].pk,
        org_b[0].pk,
    ]
    assert all(first_task(run).output["created"] for run in runs)


def statements_for(workflow, count: int, offset: int) -> int:
    for number in range(count):
        start(workflow, event(f"buyer{offset + number}@example.com"))
    with CaptureQueriesContext(connection) as queries:
        run_jobs()
    return len(queries)


def test_a_batch_costs_fewer_statements_per_run_than_runs_one_by_one(org_a):
    workflow = make_workflow(*org_a)
    statements_for(workflow, 1, 0)  # the default directory and the workflow, remembered
    one = statements_for(workflow, 1, 100)
    ten = statements_for(workflow, 10, 200)

    assert Contact.objects.count() == 12
    assert ten < 10 * one / 2
