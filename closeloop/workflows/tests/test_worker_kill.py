"""A real worker killed in the middle of a task: the run completes once, the contact exists once."""

import json
import signal

import pytest
from django.utils import timezone

from closeloop.directory.models import Contact
from closeloop.jobs.models import Job, JobStatus
from closeloop.jobs.tests.conftest import wait_for
from closeloop.workflows import actions, mapping
from closeloop.workflows.models import RunStatus, TaskRun, TaskStatus, WorkflowRun
from closeloop.workflows.tests.conftest import SAMPLE, directory_task, make_workflow

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.usefixtures("workers_with_test_tasks"),
]


def test_a_worker_killed_mid_task_leaves_one_contact_and_one_finished_run(
    org_a, worker_process, tmp_path
):
    task = directory_task()
    task["type"] = "test.directory_then_sleep"
    task["config"]["marker_dir"] = str(tmp_path)
    workflow = make_workflow(*org_a, tasks=[task])
    values, _errors = mapping.extract(SAMPLE, workflow.event_config["fields"])
    run, _ = actions.start_run(workflow, payload=json.dumps(SAMPLE), fields=values, source="test")

    first = worker_process("--batch", "1")
    wait_for((tmp_path / "started-1").exists, what="the task's first attempt")
    first.send(signal.SIGKILL)
    first.wait()

    # The first task runs inside the run's job: the killed transaction rolled back whole.
    assert Contact.objects.count() == 0
    assert not TaskRun.objects.exists()
    assert WorkflowRun.objects.get(pk=run.pk).status == RunStatus.QUEUED
    job = Job.objects.get(kind=actions.RUN_JOB)
    assert (job.status, job.attempts) == (JobStatus.RUNNING, 1)

    # Time passes: the dead worker's lease runs out.
    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now())
    second = worker_process("--once")
    assert second.wait() == 0, second.output()

    run = WorkflowRun.objects.get(pk=run.pk)
    task_run = TaskRun.objects.get(run=run)
    assert run.status == RunStatus.SUCCEEDED
    assert task_run.status == TaskStatus.SUCCEEDED
    assert task_run.attempts == 2  # the lost attempt is counted
    assert (tmp_path / "started-2").exists()
    contact = Contact.objects.get()
    assert contact.email == "ada@example.com"
    assert task_run.output["contactId"] == contact.public_id
    assert Job.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED
