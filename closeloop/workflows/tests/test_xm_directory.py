"""The XM Directory task: directory and list choice, dedup rules, validation, dry run."""

import json

import pytest

from closeloop.directory import actions as directory_actions
from closeloop.directory.models import Contact, Directory, MailingListMembership
from closeloop.workflows import actions, mapping
from closeloop.workflows.builtin.xm_directory import XmDirectoryTask
from closeloop.workflows.models import RunStatus, TaskRun
from closeloop.workflows.registry import TaskContext
from closeloop.workflows.tests.conftest import SAMPLE, directory_task, make_workflow, run_jobs

pytestmark = pytest.mark.django_db


def run_once(workflow, payload=SAMPLE):
    values, _errors = mapping.extract(payload, workflow.event_config["fields"])
    run, _ = actions.start_run(workflow, payload=json.dumps(payload), fields=values)
    run_jobs()
    run.refresh_from_db()
    return run


def test_a_chosen_directory_and_mailing_list(org_a):
    organization, _user = org_a
    directory_actions.default_directory(organization)
    other = directory_actions.create_directory(organization, "Partners")
    partners = directory_actions.create_mailing_list(other, "Partners list")
    task = directory_task(directory=other.public_id, mailingList=partners.public_id)
    run = run_once(make_workflow(*org_a, tasks=[task]))

    assert run.status == RunStatus.SUCCEEDED
    contact = Contact.objects.get()
    assert contact.directory == other
    assert MailingListMembership.objects.filter(mailing_list=partners, contact=contact).exists()
    output = TaskRun.objects.get(run=run).output
    assert (output["directoryId"], output["mailingListId"]) == (
        other.public_id,
        partners.public_id,
    )


def test_the_directory_dedup_rules_decide_the_match(org_a):
    organization, _user = org_a
    directory = directory_actions.default_directory(organization)
    directory_actions.update_directory_settings(directory, dedup_rules=[["firstName", "lastName"]])
    existing, _ = directory_actions.upsert_contact(
        directory, {"firstName": "Ada", "lastName": "Lovelace", "email": "old@example.com"}
    )
    run = run_once(make_workflow(*org_a))
    assert TaskRun.objects.get(run=run).output["contactId"] == existing.public_id
    assert Contact.objects.count() == 1


def test_validation_names_missing_and_unknown_things(org_a):
    task = XmDirectoryTask()
    config = task.clean_config(
        {
            "directory": "POOL_nope",
            "mode": "sometimes",
            "contact": {"firstName": "", "lastName": "L", "email": "e", "nickname": "x"},
            "embeddedData": [{"name": "", "value": "v"}, {"name": "A"}, {"name": "A"}],
        }
    )
    problems = task.validate(config, organization=org_a[0])
    assert problems == [
        "mode must be embeddedData or transaction.",
        "contact has no field 'nickname' (use email, extRef, firstName, language, lastName, "
        "phone).",
        "First name is required (type it or pick a field with {a}).",
        "embedded data field 1 needs a name.",
        "embedded data field 'A' is listed twice.",
        "there is no directory POOL_nope.",
    ]


def test_a_deleted_mailing_list_fails_the_task_permanently(org_a):
    organization, _user = org_a
    directory = directory_actions.default_directory(organization)
    doomed = directory_actions.create_mailing_list(directory, "Doomed")
    workflow = make_workflow(*org_a, tasks=[directory_task(mailingList=doomed.public_id)])
    directory_actions.delete_mailing_list(doomed)
    run = run_once(workflow)
    task_run = TaskRun.objects.get(run=run)
    assert (
        task_run.error == f"The mailing list {doomed.public_id} no longer exists in this directory."
    )
    assert not Contact.objects.exists()


def test_dry_run_says_what_would_happen_and_writes_nothing(org_a):
    organization, user = org_a
    workflow = make_workflow(*org_a)
    task = XmDirectoryTask()
    rendered = {
        **workflow.tasks[0]["config"],
        "contact": {"firstName": "Ada", "lastName": "L", "email": "ada@example.com"},
        "embeddedData": [{"name": "Store", "value": "Soho"}],
    }
    context = TaskContext(organization, workflow, workflow.tasks[0], rendered, owner=user, dry=True)

    result = task.dry_run(context)
    assert result.summary == (
        "Would create a new contact ada@example.com in Main directory, with embedded data Store."
    )
    assert result.output["created"] is True
    assert not Contact.objects.exists()
    assert not Directory.objects.exists()  # nor the default directory
    (would_be,) = result.records.values()
    assert result.output["contactId"] == would_be.public_id
    assert (would_be.pk, would_be.email, would_be.embedded_data) == (
        None,
        "ada@example.com",
        {"Store": "Soho"},
    )

    directory = directory_actions.default_directory(organization)
    existing, _ = directory_actions.upsert_contact(directory, {"email": "ada@example.com"})
    result = task.dry_run(context)
    assert result.summary.startswith(f"Would update contact {existing.public_id}")

    bad = TaskContext(organization, workflow, workflow.tasks[0], {**rendered, "contact": {}})
    assert task.dry_run(bad).summary.startswith("Would fail: The contact has no email")
