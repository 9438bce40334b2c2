"""The Salesforce task against the fake Salesforce, run by the real workflow engine."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from closeloop.accounts.models import Membership, Role, User
from closeloop.integrations.salesforce import metadata
from closeloop.integrations.salesforce.models import AccountStatus
from closeloop.integrations.salesforce.tests.helpers import (
    due_now,
    finished,
    linked,
    requests_to,
    response_workflow,
    salesforce_task,
    start,
    task_runs,
)
from closeloop.workflows import lookup_cache, registry
from closeloop.workflows.models import RunStatus, TaskStatus
from closeloop.workflows.registry import TaskContext, TaskFailed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_lookups():
    lookup_cache.forget_all()
    yield
    lookup_cache.forget_all()


@pytest.fixture
def account(fake_salesforce, org_a):
    return linked(fake_salesforce, *org_a)


@pytest.fixture
def case_id(fake_salesforce) -> str:
    return fake_salesforce.store("Case", None, {"Subject": "Router broken", "Status": "Closed"})


def with_date_field(fake) -> None:
    fake.objects["Survey_Response__c"] = [
        *fake.objects["Survey_Response__c"],
        {"name": "Visit_Date__c", "type": "date"},
        {"name": "Visits__c", "type": "int"},
    ]


def one_run(org, task: dict, payload: dict | None = None, **workflow):
    return finished(start(response_workflow(*org, [task], **workflow), payload))


# Each operation writes what it should -----------------------------------------------------------


def test_insert_types_every_value_and_links_the_case(fake_salesforce, org_a, account, case_id):
    with_date_field(fake_salesforce)
    task = salesforce_task(
        account,
        fields=[
            {"field": "Case__c", "value": "~{ch://event/caseId}"},
            {"field": "NPS__c", "value": "~{ch://event/nps}"},
            {"field": "Promoter__c", "value": "~{ch://event/promoter}"},
            {"field": "Completed_At__c", "value": "~{ch://event/finishedAt}"},
            {"field": "Visit_Date__c", "value": "~{ch://event/visit}"},
            {"field": "Visits__c", "value": "3"},
            {"field": "Comment__c", "value": "~{ch://event/comment}"},
            {"field": "Response_Id__c", "value": ""},
        ],
    )
    run = one_run(org_a, task, {"caseId": case_id[:15]})

    assert run.status == RunStatus.SUCCEEDED, task_runs(run)[0].error
    (record,) = fake_salesforce.records_of("Survey_Response__c")
    assert record == {
        "Id": record["Id"],
        "Case__c": case_id[:15] + record["Case__c"][15:],
        "NPS__c": 9,
        "Promoter__c": True,
        "Completed_At__c": "2026-11-30T14:05:00.000+01:00",
        "Visit_Date__c": "2026-11-29",
        "Visits__c": 3,
        "Comment__c": "Quick and friendly",
    }
    assert len(record["Case__c"]) == 18  # a 15-character id is sent in its 18-character form
    (task_run,) = task_runs(run)
    assert task_run.output == {
        "id": record["Id"],
        "object": "Survey_Response__c",
        "operation": "insert",
        "created": True,
    }
    assert task_run.input["fields"][1] == {"field": "NPS__c", "value": "9"}


def test_a_later_task_pipes_the_new_record_id(fake_salesforce, org_a, account, case_id):
    insert = salesforce_task(account, name="Insert")
    insert["id"] = "TA_insert"
    chatter = salesforce_task(
        account,
        name="Chatter",
        operation="chatter",
        chatterSubject="~{ch://event/caseId}",
        chatterText="Survey ~{ch://TA_insert/id}: NPS ~{ch://event/nps}",
        fields=[],
    )
    run = finished(start(response_workflow(*org_a, [insert, chatter]), {"caseId": case_id}))

    assert run.status == RunStatus.SUCCEEDED, [t.error for t in task_runs(run)]
    (response,) = fake_salesforce.records_of("Survey_Response__c")
    (post,) = fake_salesforce.records_of("FeedItem")
    assert post == {
        "Id": post["Id"],
        "ParentId": case_id,
        "Body": f"Survey {response['Id']}: NPS 9",
    }
    assert task_runs(run)[1].output == {
        "id": post["Id"],
        "object": "FeedItem",
        "operation": "chatter",
        "created": True,
    }


def test_update_sets_and_clears_fields_of_the_record(fake_salesforce, org_a, account, case_id):
    record_id = fake_salesforce.store(
        "Survey_Response__c", None, {"NPS__c": 3, "Comment__c": "old", "Promoter__c": True}
    )
    task = salesforce_task(
        account,
        operation="update",
        recordId=record_id,
        fields=[
            {"field": "NPS__c", "value": "~{ch://event/nps}"},
            {"field": "Comment__c", "value": "~{ch://event/comment}"},
            {"field": "Case__c", "value": case_id},
        ],
    )
    run = one_run(org_a, task, {"comment": ""})

    assert run.status == RunStatus.SUCCEEDED, task_runs(run)[0].error
    (record,) = fake_salesforce.records_of("Survey_Response__c")
    assert record["NPS__c"] == 9 and record["Comment__c"] is None and record["Case__c"] == case_id
    assert task_runs(run)[0].output == {
        "id": record_id,
        "object": "Survey_Response__c",
        "operation": "update",
        "created": False,
    }


def test_upsert_creates_once_then_updates_by_the_external_id(fake_salesforce, org_a, account):
    task = salesforce_task(
        account,
        operation="upsert",
        externalIdField="Response_Id__c",
        externalId="~{ch://event/responseId}",
    )
    workflow = response_workflow(*org_a, [task])
    first = finished(start(workflow))
    second = finished(start(workflow, {"nps": "10"}))

    (record,) = fake_salesforce.records_of("Survey_Response__c")
    assert record["Response_Id__c"] == "R_1a2b3c" and record["NPS__c"] == 10
    assert task_runs(first)[0].output["created"] is True
    assert task_runs(second)[0].output == {
        "id": record["Id"],
        "object": "Survey_Response__c",
        "operation": "upsert",
        "created": False,
    }


def test_delete_removes_the_record(fake_salesforce, org_a, account):
    record_id = fake_salesforce.store("Survey_Response__c", None, {"NPS__c": 1})
    task = salesforce_task(account, operation="delete", recordId=record_id, fields=[])
    run = one_run(org_a, task)

    assert run.status == RunStatus.SUCCEEDED, task_runs(run)[0].error
    assert fake_salesforce.records_of("Survey_Response__c") == []
    assert task_runs(run)[0].output["id"] == record_id


# Values that do not fit, and Salesforce's own refusals -----------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("NPS__c", "nine", "Survey_Response__c.NPS__c is a number, and 'nine' is not."),
        ("Promoter__c", "maybe", "Survey_Response__c.Promoter__c is a checkbox"),
        ("Completed_At__c", "yesterday", "Completed_At__c is a date and time (ISO 8601"),
        ("Case__c", "not-an-id", "Case__c is a record id (15 or 18 characters), and"),
        ("Nope__c", "1", "Survey_Response__c has no field Nope__c that the linked account"),
    ],
)
def test_a_value_that_does_not_fit_fails_naming_the_field(
    fake_salesforce, org_a, account, field, value, message
):
    run = one_run(org_a, salesforce_task(account, fields=[{"field": field, "value": value}]))

    (task_run,) = task_runs(run)
    assert task_run.status == TaskStatus.FAILED and task_run.attempts == 1
    assert message in task_run.error
    assert run.status == RunStatus.FAILED and message in run.error
    assert fake_salesforce.records_of("Survey_Response__c") == []


def test_salesforce_validation_errors_show_in_workflow_reporting(
    client, fake_salesforce, org_a, account
):
    task = salesforce_task(
        account, object="Contact", fields=[{"field": "Email", "value": "ada@example.com"}]
    )
    run = one_run(org_a, task)

    (task_run,) = task_runs(run)
    expected = "REQUIRED_FIELD_MISSING: Required fields are missing: [LastName] (fields: LastName)"
    assert (task_run.status, task_run.error, task_run.attempts) == (TaskStatus.FAILED, expected, 1)
    client.force_login(org_a[1])
    page = client.get(f"/workflows/runs/{run.public_id}/").content.decode()
    assert "REQUIRED_FIELD_MISSING: Required fields are missing: [LastName]" in page


def test_an_unknown_object_fails_with_salesforce_s_words(fake_salesforce, org_a, account):
    run = one_run(org_a, salesforce_task(account, object="Nothing__c"))
    assert "NOT_FOUND: The requested resource does not exist" in task_runs(run)[0].error


# Tokens ------------------------------------------------------------------------------------------


def test_an_expired_access_token_is_refreshed_once_and_the_record_written_once(
    fake_salesforce, org_a, account
):
    metadata.object_fields(account, "Survey_Response__c")  # described before it expires
    fake_salesforce.expire_access_tokens()
    run = one_run(org_a, salesforce_task(account))

    assert run.status == RunStatus.SUCCEEDED, task_runs(run)[0].error
    assert len(fake_salesforce.records_of("Survey_Response__c")) == 1
    assert requests_to(fake_salesforce, "POST", "/services/oauth2/token") == 1
    assert requests_to(fake_salesforce, "POST", "/sobjects/Survey_Response__c") == 2  # 401, 201
    account.refresh_from_db()
    assert account.status == AccountStatus.CONNECTED


def test_a_revoked_grant_fails_and_asks_the_owner_to_reconnect(fake_salesforce, org_a, account):
    fake_salesforce.expire_access_tokens()
    fake_salesforce.revoke_refresh_tokens()
    run = one_run(org_a, salesforce_task(account))

    (task_run,) = task_runs(run)
    assert task_run.status == TaskStatus.FAILED and task_run.attempts == 1
    assert "refused the stored grant of the account Support org" in task_run.error
    assert "must reconnect it on the Extensions → Salesforce page" in task_run.error
    account.refresh_from_db()
    assert account.status == AccountStatus.NEEDS_ATTENTION
    assert fake_salesforce.records_of("Survey_Response__c") == []


# Limits and outages: retried with a delay, then written once -------------------------------------


@pytest.mark.parametrize(
    ("control", "said", "at_least"),
    [
        ("limit_exceeded_times", "API request limit is used up", 240),
        ("server_error_times", "Salesforce answered 503", 24),
    ],
)
def test_limits_and_outages_retry_later_then_write_once(
    fake_salesforce, org_a, account, control, said, at_least
):
    metadata.object_fields(account, "Survey_Response__c")
    setattr(fake_salesforce, control, 1)
    run = one_run(org_a, salesforce_task(account))

    (task_run,) = task_runs(run)
    assert (run.status, task_run.status) == (RunStatus.RETRYING, TaskStatus.RETRYING)
    assert said in task_run.error
    assert task_run.next_retry_at >= timezone.now() + timedelta(seconds=at_least)
    assert fake_salesforce.records_of("Survey_Response__c") == []

    due_now()
    run = finished(run)
    (task_run,) = task_runs(run)
    assert (run.status, task_run.status, task_run.attempts) == (
        RunStatus.SUCCEEDED,
        TaskStatus.SUCCEEDED,
        2,
    )
    assert len(fake_salesforce.records_of("Survey_Response__c")) == 1


# Describe is cached ------------------------------------------------------------------------------


def test_two_runs_describe_the_object_once(fake_salesforce, org_a, account):
    workflow = response_workflow(*org_a, [salesforce_task(account)])
    finished(start(workflow))
    finished(start(workflow, {"nps": "7"}))

    assert len(fake_salesforce.records_of("Survey_Response__c")) == 2
    assert requests_to(fake_salesforce, "GET", "/describe") == 1
    metadata.object_fields(account, "Survey_Response__c", refresh=True)
    assert requests_to(fake_salesforce, "GET", "/describe") == 2
    assert "/services/data/v66.0/sobjects/Survey_Response__c/describe/" in {
        path for _method, path in fake_salesforce.requests
    }


def test_a_field_added_in_salesforce_is_found_without_waiting_an_hour(
    fake_salesforce, org_a, account
):
    metadata.object_fields(account, "Survey_Response__c")
    with_date_field(fake_salesforce)  # added after the fields were cached
    task = salesforce_task(account, fields=[{"field": "Visit_Date__c", "value": "2026-12-01"}])
    run = one_run(org_a, task)

    assert run.status == RunStatus.SUCCEEDED, task_runs(run)[0].error
    assert fake_salesforce.records_of("Survey_Response__c")[0]["Visit_Date__c"] == "2026-12-01"
    assert requests_to(fake_salesforce, "GET", "/describe") == 2


# Whose account, at run time ----------------------------------------------------------------------


def test_a_removed_account_fails_the_task_saying_so(fake_salesforce, org_a, account):
    workflow = response_workflow(*org_a, [salesforce_task(account)])
    account.delete()
    run = finished(start(workflow))

    error = task_runs(run)[0].error
    assert f"The linked Salesforce account {account.public_id} no longer exists" in error
    assert "Acme Owner, the workflow's owner, must choose another account" in error


def test_an_account_no_longer_shared_fails_the_task(fake_salesforce, org_a):
    organization, owner = org_a
    admin = colleague(organization, "admin@acme.test")
    shared = linked(fake_salesforce, organization, admin, name="Team org", shared=True)
    workflow = response_workflow(organization, owner, [salesforce_task(shared)])
    shared.shared_with_organization = False
    shared.save()
    run = finished(start(workflow))

    assert "is no longer one that Acme Owner, the workflow's owner, may use" in (
        task_runs(run)[0].error
    )
    assert fake_salesforce.records_of("Survey_Response__c") == []


def colleague(organization, email: str = "colleague@acme.test"):
    user = User.objects.create_user(email, "pw-pw-pw-pw", first_name="Cole", last_name="Lee")
    Membership.objects.create(organization=organization, user=user, role=Role.MEMBER)
    return user


# One write per task run --------------------------------------------------------------------------


def attempts_of(workflow, *attempts: int) -> list[dict]:
    """The workflow's first task run directly, attempt after attempt of one task run (as after
    a worker died between Salesforce's answer and the outcome being recorded)."""
    task = registry.task_type("salesforce")
    (definition,) = workflow.tasks
    return [
        task.run(
            TaskContext(
                organization=workflow.organization,
                workflow=workflow,
                task=definition,
                config=definition["config"],
                owner=workflow.owner,
                idempotency_key="WR_1:1:TA_1",
                attempt=attempt,
            )
        )
        for attempt in attempts
    ]


@pytest.mark.parametrize("key_field", ["Name", "Response_Id__c"])
def test_an_insert_keeping_the_run_s_key_is_written_once_across_attempts(
    fake_salesforce, org_a, account, key_field
):
    task = salesforce_task(
        account, idempotencyField=key_field, fields=[{"field": "NPS__c", "value": "9"}]
    )
    first, second = attempts_of(response_workflow(*org_a, [task]), 1, 2)

    (record,) = fake_salesforce.records_of("Survey_Response__c")
    assert record[key_field] == "WR_1:1:TA_1" and record["NPS__c"] == 9
    assert (
        first
        == second
        == {
            "id": record["Id"],
            "object": "Survey_Response__c",
            "operation": "insert",
            "created": True,
        }
    )


def test_an_insert_without_a_key_field_can_write_twice_when_retried(
    fake_salesforce, org_a, account
):
    """The documented limit: nothing in the record tells a retry that it was written."""
    task = salesforce_task(account, fields=[{"field": "NPS__c", "value": "9"}])
    attempts_of(response_workflow(*org_a, [task]), 1, 2)
    assert len(fake_salesforce.records_of("Survey_Response__c")) == 2


def test_a_delete_retried_after_it_happened_succeeds(fake_salesforce, org_a, account):
    record_id = fake_salesforce.store("Survey_Response__c", None, {"NPS__c": 1})
    task = salesforce_task(account, operation="delete", recordId=record_id, fields=[])
    workflow = response_workflow(*org_a, [task])
    assert attempts_of(workflow, 1, 2)[1]["id"] == record_id
    with pytest.raises(TaskFailed, match="ENTITY_IS_DELETED"):
        attempts_of(workflow, 1)  # a first attempt on a deleted record does fail
