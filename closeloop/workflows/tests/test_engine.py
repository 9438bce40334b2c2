"""The engine: conditions, tasks in order, piped outputs, failures, retries, retry of a run."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from closeloop.directory.models import Contact, Transaction
from closeloop.jobs.models import Job
from closeloop.workflows import actions, mapping
from closeloop.workflows.models import RunStatus, TaskRun, TaskStatus, WorkflowRun
from closeloop.workflows.tests.conftest import (
    MAPPING,
    SAMPLE,
    directory_task,
    make_workflow,
    run_jobs,
)

pytestmark = pytest.mark.django_db


def start(workflow, payload=SAMPLE, dedup_key=None):
    values, errors = mapping.extract(payload, workflow.event_config["fields"])
    assert not errors
    run, _created = actions.start_run(
        workflow, payload=json.dumps(payload), fields=values, dedup_key=dedup_key, source="test"
    )
    return run


def finished(run) -> WorkflowRun:
    run_jobs()
    run.refresh_from_db()
    return run


def task_runs(run):
    return list(TaskRun.objects.filter(run=run, generation=run.generation).order_by("position"))


def test_a_run_saves_the_contact_with_embedded_data(org_a):
    workflow = make_workflow(*org_a)
    run = finished(start(workflow))

    assert run.status == RunStatus.SUCCEEDED
    contact = Contact.objects.get(organization=org_a[0])
    assert (contact.first_name, contact.last_name, contact.email) == (
        "Ada",
        "Lovelace",
        "ada@example.com",
    )
    assert contact.embedded_data == {"Store": "Soho"}
    (task_run,) = task_runs(run)
    assert task_run.status == TaskStatus.SUCCEEDED
    assert task_run.attempts == 1
    assert task_run.input["contact"]["email"] == "ada@example.com"
    assert task_run.output == {
        "contactId": contact.public_id,
        "created": True,
        "transactionId": "",
        "directoryId": contact.directory.public_id,
        "mailingListId": "",
    }
    assert run.started_at and run.finished_at


def test_a_second_event_updates_the_same_contact(org_a):
    workflow = make_workflow(*org_a)
    finished(start(workflow))
    run = finished(start(workflow, {**SAMPLE, "order": {**SAMPLE["order"], "store": "Brooklyn"}}))

    assert Contact.objects.filter(organization=org_a[0]).count() == 1
    assert Contact.objects.get().embedded_data == {"Store": "Brooklyn"}
    assert task_runs(run)[0].output["created"] is False


def test_transaction_mode_adds_a_transaction_per_event(org_a):
    task = directory_task(mode="transaction", transactionDate="2024-06-01 10:00:00")
    workflow = make_workflow(*org_a, tasks=[task])
    first = finished(start(workflow))
    second = finished(start(workflow))

    contact = Contact.objects.get()
    assert contact.embedded_data == {}
    transactions = Transaction.objects.filter(contact=contact)
    assert transactions.count() == 2
    assert {t.data["Store"] for t in transactions} == {"Soho"}
    outputs = [task_runs(run)[0].output["transactionId"] for run in (first, second)]
    assert sorted(outputs) == sorted(t.public_id for t in transactions)


def test_failing_conditions_skip_the_run_with_the_reason(org_a):
    conditions = {
        "match": "all",
        "groups": [
            {
                "match": "all",
                "rules": [
                    {"field": "total", "operator": "greaterThan", "value": "500"},
                ],
            }
        ],
    }
    workflow = make_workflow(*org_a, conditions=conditions)
    run = finished(start(workflow))

    assert run.status == RunStatus.SKIPPED
    assert run.skip_reason == (
        'Conditions not met: "total" is greater than "500" (the value was "120.5").'
    )
    assert not TaskRun.objects.filter(run=run).exists()
    assert not Contact.objects.exists()


def test_passing_conditions_run_the_tasks(org_a):
    conditions = {
        "match": "any",
        "groups": [
            {"match": "all", "rules": [{"field": "vip", "operator": "equals", "value": "true"}]},
            {"match": "all", "rules": [{"field": "store", "operator": "isEmpty"}]},
        ],
    }
    workflow = make_workflow(*org_a, conditions=conditions)
    assert finished(start(workflow)).status == RunStatus.SUCCEEDED


def test_a_disabled_workflow_records_a_skipped_run_and_queues_nothing(org_a):
    workflow = make_workflow(*org_a, enabled=False)
    run = start(workflow)

    assert run.status == RunStatus.SKIPPED
    assert "disabled" in run.skip_reason
    assert not Job.objects.filter(kind=actions.RUN_JOB).exists()


def test_the_same_dedup_key_starts_one_run(org_a):
    workflow = make_workflow(*org_a)
    first = start(workflow, dedup_key="order-1")
    again = start(workflow, dedup_key="order-1")
    other = start(workflow, dedup_key="order-2")

    assert again.pk == first.pk
    assert other.pk != first.pk
    assert WorkflowRun.objects.count() == 2


def test_later_tasks_pipe_earlier_outputs_and_event_json_paths(org_a):
    echo = {
        "type": "test.echo",
        "config": {
            "contact": "~{ch://TA_save/contactId}",
            "created": "~{ch://TA_save/created}",
            "tag": "~{ch://event/$.tags[1]}",
            "unknown": "[~{ch://TA_nothing/x}]",
        },
    }
    save = {**directory_task(), "id": "TA_save"}
    workflow = make_workflow(*org_a, tasks=[save, {**echo, "id": "TA_echo"}])
    run = finished(start(workflow))

    save_run, echo_run = task_runs(run)
    assert echo_run.output == {
        "contact": save_run.output["contactId"],
        "created": "true",
        "tag": "web",
        "unknown": "[]",
    }


def test_the_engine_renders_only_the_runs_own_fields(org_a):
    """Recipient fields (m, e, l, q) are the task's to render: they reach it as written."""
    echo = {
        "id": "TA_echo",
        "type": "test.echo",
        "config": {
            "subject": "Hi ${m://FirstName}, order at ~{ch://event/store}",
            "body": "${l://SurveyLink?d=Take the survey} ${e://Field/Store} ${q://QID1/ChoiceGroup/SelectedChoices}",
            "year": "${date://CurrentDate/Y}",
            "braces": "{not piped} ~{e://Field/x}",
        },
    }
    run = finished(start(make_workflow(*org_a, tasks=[echo])))

    (echo_run,) = task_runs(run)
    expected = {
        "subject": "Hi ${m://FirstName}, order at Soho",
        "body": "${l://SurveyLink?d=Take the survey} ${e://Field/Store} "
        "${q://QID1/ChoiceGroup/SelectedChoices}",
        "year": str(timezone.now().year),
        "braces": "{not piped} ~{e://Field/x}",
    }
    assert echo_run.input == expected
    assert echo_run.output == expected


def test_recipient_fields_in_a_task_are_warned_as_kept_as_written(org_a):
    task = directory_task()
    task["config"]["embeddedData"].append({"name": "Name", "value": "${m://FirstName}"})
    _workflow, warnings = actions.create_workflow(
        *org_a,
        {"name": "W", "event": {"type": "json", "config": {"fields": MAPPING}}, "tasks": [task]},
    )
    assert warnings == [
        "Task 1: Save contact, embedded data Name: ${m://FirstName} is not a workflow field "
        "(a workflow fills in ~{ch://…} and ${date://…}); the task receives it as written."
    ]


def test_atomic_tasks_run_in_the_runs_job_and_remote_ones_get_their_own(org_a):
    echo = {"type": "test.echo", "config": {"contact": "~{ch://TA_save/contactId}"}}
    remote = {"type": "test.remote", "config": {}}
    tasks = [{**directory_task(), "id": "TA_save"}, echo, remote, echo]
    run = finished(start(make_workflow(*org_a, tasks=tasks)))

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert [task_run.status for task_run in task_runs(run)] == [TaskStatus.SUCCEEDED] * 4
    assert task_runs(run)[1].output == {"contact": Contact.objects.get().public_id}
    kinds = list(Job.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == [actions.RUN_JOB, actions.TASK_IO_JOB]


def test_a_permanent_failure_lets_the_next_tasks_run_by_default(org_a):
    tasks = [
        {"type": "test.flaky", "config": {"permanent": True, "message": "record deleted"}},
        directory_task(),
    ]
    workflow = make_workflow(*org_a, tasks=tasks)
    run = finished(start(workflow))

    flaky, save = task_runs(run)
    assert (flaky.status, flaky.error, flaky.attempts) == (TaskStatus.FAILED, "record deleted", 1)
    assert save.status == TaskStatus.SUCCEEDED
    assert run.status == RunStatus.FAILED
    assert run.error == "Task 1: Flaky (test) failed: record deleted"


def test_stop_on_failure_leaves_the_next_tasks_not_run(org_a):
    tasks = [{"type": "test.flaky", "config": {"permanent": True}}, directory_task()]
    workflow = make_workflow(*org_a, tasks=tasks, continueOnFailure=False)
    run = finished(start(workflow))

    flaky, save = task_runs(run)
    assert flaky.status == TaskStatus.FAILED
    assert save.status == TaskStatus.SKIPPED
    assert run.status == RunStatus.FAILED
    assert not Contact.objects.exists()


def test_a_task_whose_contact_is_invalid_fails_permanently_and_writes_nothing(org_a):
    task = directory_task()
    task["config"]["contact"]["email"] = "not an email"
    workflow = make_workflow(*org_a, tasks=[task])
    run = finished(start(workflow))

    (task_run,) = task_runs(run)
    assert task_run.status == TaskStatus.FAILED
    assert "email" in task_run.error
    assert task_run.attempts == 1
    assert not Contact.objects.exists()


def due_now():
    from closeloop.jobs.models import JobStatus

    Job.objects.filter(status=JobStatus.QUEUED).update(run_after=timezone.now())


def test_a_transient_failure_retries_with_backoff_then_succeeds(org_a):
    workflow = make_workflow(*org_a, tasks=[{"type": "test.flaky", "config": {"failures": "2"}}])
    run = finished(start(workflow))

    (task_run,) = task_runs(run)
    assert run.status == RunStatus.RETRYING
    assert task_run.status == TaskStatus.RETRYING
    assert task_run.error == "ConnectionError: attempt 1 failed"
    assert task_run.next_retry_at > timezone.now() + timedelta(seconds=4)

    due_now()
    run = finished(run)
    assert task_runs(run)[0].attempts == 2
    due_now()
    run = finished(run)
    (task_run,) = task_runs(run)
    assert (run.status, task_run.status, task_run.attempts) == (
        RunStatus.SUCCEEDED,
        TaskStatus.SUCCEEDED,
        3,
    )
    assert task_run.output == {"attempt": 3}
    assert task_run.error == ""


def test_a_task_failing_past_the_retry_horizon_fails(org_a, settings):
    settings.CLOSELOOP_JOB_RETRY_HORIZON_SECONDS = 1
    workflow = make_workflow(*org_a, tasks=[{"type": "test.flaky", "config": {"failures": "9"}}])
    run = finished(start(workflow))

    (task_run,) = task_runs(run)
    assert task_run.status == TaskStatus.FAILED
    assert task_run.error.startswith("Gave up after 1 attempts")
    assert run.status == RunStatus.FAILED


def test_a_remote_task_runs_outside_the_transaction_and_retries(org_a):
    workflow = make_workflow(*org_a, tasks=[{"type": "test.remote", "config": {"failures": "1"}}])
    run = finished(start(workflow))
    assert task_runs(run)[0].status == TaskStatus.RETRYING
    due_now()
    run = finished(run)
    (task_run,) = task_runs(run)
    assert (run.status, task_run.attempts, task_run.output) == (
        RunStatus.SUCCEEDED,
        2,
        {"attempt": 2},
    )
    assert Job.objects.filter(kind=actions.TASK_IO_JOB).count() == 2


def test_retry_from_the_start_uses_the_fixed_definition(org_a):
    user = org_a[1]
    task = directory_task()
    task["config"]["contact"]["email"] = "~{ch://event/mail}"  # not a mapped field
    workflow = make_workflow(*org_a, tasks=[task])
    run = finished(start(workflow))
    assert run.status == RunStatus.FAILED
    assert "no email" in task_runs(run)[0].error

    fixed = dict(workflow.tasks[0], config={**workflow.tasks[0]["config"]})
    fixed["config"]["contact"] = {**fixed["config"]["contact"], "email": "~{ch://event/email}"}
    workflow, _ = actions.update_workflow(workflow, user, {"tasks": [fixed]})
    run = actions.retry_run(run, user)
    run = finished(run)

    assert run.status == RunStatus.SUCCEEDED
    assert run.generation == 2
    assert run.retried_by == user
    assert Contact.objects.get().email == "ada@example.com"
    assert TaskRun.objects.filter(run=run).count() == 2  # both attempts are kept


def test_retry_from_the_failed_task_keeps_earlier_outputs(org_a):
    user = org_a[1]
    save = {**directory_task(), "id": "TA_save"}
    flaky = {"id": "TA_flaky", "type": "test.flaky", "config": {"permanent": True}}
    workflow = make_workflow(*org_a, tasks=[save, flaky])
    run = finished(start(workflow))
    assert run.status == RunStatus.FAILED
    first_contact = task_runs(run)[0].output["contactId"]

    workflow, _ = actions.update_workflow(
        workflow, user, {"tasks": [save, {**flaky, "config": {"permanent": False}}]}
    )
    run = finished(actions.retry_run(run, user, from_failed_task=True))

    save_run, flaky_run = task_runs(run)
    assert run.status == RunStatus.SUCCEEDED
    assert save_run.reused and save_run.output["contactId"] == first_contact
    assert flaky_run.status == TaskStatus.SUCCEEDED and not flaky_run.reused
    assert Contact.objects.count() == 1


def test_only_failed_runs_can_be_retried(org_a):
    workflow = make_workflow(*org_a)
    run = finished(start(workflow))
    with pytest.raises(actions.CannotRetry):
        actions.retry_run(run, org_a[1])


def test_retry_from_the_start_maps_the_fields_again(org_a):
    user = org_a[1]
    workflow = make_workflow(*org_a)
    bad_mapping = [dict(row) for row in MAPPING]
    bad_mapping[2]["path"] = "$.customer.mail"
    workflow, _ = actions.update_workflow(
        workflow, user, {"event": {"type": "json", "config": {"fields": bad_mapping}}}
    )
    run = finished(start(workflow))
    assert run.status == RunStatus.FAILED

    actions.update_workflow(
        workflow, user, {"event": {"type": "json", "config": {"fields": MAPPING}}}
    )
    run = finished(actions.retry_run(run, user))
    assert run.status == RunStatus.SUCCEEDED
    assert run.fields["email"] == "ada@example.com"


def test_a_retry_parses_the_stored_payload_once(org_a, monkeypatch):
    """Mapping the fields again and every task's piped JSON path share one parse."""
    user = org_a[1]
    echo = {"type": "test.echo", "config": {"tag": "~{ch://event/$.tags[1]}"}}
    flaky = {"id": "TA_flaky", "type": "test.flaky", "config": {"permanent": True}}
    tasks = [{**echo, "id": "TA_one"}, {**echo, "id": "TA_two"}, flaky]
    workflow = make_workflow(*org_a, tasks=tasks)
    run = finished(start(workflow))
    assert run.status == RunStatus.FAILED
    tasks[2] = {**flaky, "config": {"permanent": False}}
    actions.update_workflow(workflow, user, {"tasks": tasks})
    parsed = []
    parse_json = mapping.parse_json
    monkeypatch.setattr(mapping, "parse_json", lambda text: parsed.append(text) or parse_json(text))

    run = finished(actions.retry_run(run, user))

    assert run.status == RunStatus.SUCCEEDED
    assert [task_run.output for task_run in task_runs(run)][:2] == [{"tag": "web"}] * 2
    assert len(parsed) == 1


def test_old_finished_runs_are_deleted_by_retention(org_a):
    workflow = make_workflow(*org_a)
    old = finished(start(workflow))
    recent = finished(start(workflow))
    stuck = start(workflow)
    WorkflowRun.objects.filter(pk__in=[old.pk, stuck.pk]).update(
        created_at=timezone.now() - timedelta(days=91)
    )
    from closeloop.workflows.jobs import delete_old_runs

    delete_old_runs({}, None)

    remaining = set(WorkflowRun.objects.values_list("pk", flat=True))
    assert remaining == {recent.pk, stuck.pk}
    assert not TaskRun.objects.filter(run_id=old.pk).exists()
