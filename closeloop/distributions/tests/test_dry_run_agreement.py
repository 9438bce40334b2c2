"""The dry run agrees with the real run: for every ordered pair of built-in task types (XM
Directory, Distribute survey) and inputs that succeed and that fail, the dry run says a task
"would fail" exactly when the real run of the same payload fails it, warns that an invitation
would not be sent exactly when the real run records it but does not send it, and writes and
sends nothing itself."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from django.core import mail

import closeloop.workflows.jobs  # noqa: F401 - registers the workflow run handlers
from closeloop.directory import actions as directory_actions
from closeloop.directory.models import (
    Contact,
    ContactMessageLog,
    Directory,
    MailingListMembership,
    Transaction,
)
from closeloop.distributions.models import (
    Delivery,
    DeliveryStatus,
    Distribution,
    SuppressedAddress,
)
from closeloop.distributions.tests.helpers import run_jobs
from closeloop.jobs.models import Job
from closeloop.outbox.models import OutboxMessage
from closeloop.surveys import actions as survey_actions
from closeloop.workflows import actions as workflow_actions
from closeloop.workflows import dryrun, mapping
from closeloop.workflows.models import TaskRun, TaskStatus, WorkflowRun

pytestmark = pytest.mark.django_db

FIELDS = [
    {"name": name, "path": f"$.{name}", "type": "String"}
    for name in ("first", "last", "email", "phone", "sender")
]
ADA = {
    "first": "Ada",
    "last": "Lovelace",
    "email": "ada@example.com",
    "phone": "",
    "sender": "",
}
SMS = {"channel": "sms", "body": "${m://FirstName}, rate us: ${l://SurveyURL}"}


def xm_directory(task_id: str, _previous: str | None) -> dict:
    contact = {
        "firstName": "~{ch://event/first}",
        "lastName": "~{ch://event/last}",
        "email": "~{ch://event/email}",
        "phone": "~{ch://event/phone}",
    }
    config = {
        "mode": "embeddedData",
        "contact": contact,
        "embeddedData": [{"name": "Store", "value": "Soho"}],
    }
    return {"type": "xm_directory", "id": task_id, "name": "Save contact", "config": config}


def distribute(task_id: str, previous: str | None, survey, **overrides) -> dict:
    config = {
        "survey": survey.public_id,
        "subject": "How was it, ${m://FirstName}?",
        "body": "Tell us: ${l://SurveyURL}",
        "fromEmail": "~{ch://event/sender}",
    }
    if previous is None:  # the contact from the event's fields
        config.update(
            email="~{ch://event/email}",
            phone="~{ch://event/phone}",
            firstName="~{ch://event/first}",
        )
    else:  # the contact of the task before (a contact it would create, in a dry run)
        config["contactId"] = f"~{{ch://{previous}/contactId}}"
    config.update(overrides)
    return {"type": "distribute_survey", "id": task_id, "name": "Invite", "config": config}


XM, DS = "xm_directory", "distribute_survey"


@dataclass
class Case:
    payload: dict
    setup: object = None  # (organization, survey) -> None, after the workflow is saved
    distribute: dict = field(default_factory=dict)  # Distribute survey config overrides
    fails: frozenset = frozenset()  # the task types the real run fails with this input
    unsent: bool = False  # the invitation is recorded, but skipped or blocked


def existing(organization, **fields):
    directory = directory_actions.default_directory(organization)
    contact, _ = directory_actions.upsert_contact(
        directory, {"firstName": "Ada", "email": "ada@example.com", **fields}
    )
    return contact


def invited_before_with_a_rule(organization, _survey):
    contact = existing(organization)
    directory_actions.log_message(contact, "email")
    directory_actions.create_frequency_rule(contact.directory, max_messages=1, period_days=30)


CASES = {
    "new contact": Case({**ADA, "email": "new@example.com"}),
    "existing contact": Case(ADA, lambda org, _s: existing(org)),
    "missing email": Case(
        {key: value for key, value in ADA.items() if key != "email"}, fails=frozenset({XM, DS})
    ),
    "invalid email": Case({**ADA, "email": "not-an-email"}, fails=frozenset({XM, DS})),
    "unsubscribed existing contact": Case(
        ADA, lambda org, _s: existing(org, unsubscribed=True), unsent=True
    ),
    "suppressed address": Case(
        ADA,
        lambda org, _s: SuppressedAddress.objects.create(
            organization=org, email="ada@example.com", reason="Hard bounce"
        ),
        unsent=True,
    ),
    "frequency rule": Case(ADA, invited_before_with_a_rule, unsent=True),
    "closed survey": Case(
        ADA, lambda _org, survey: survey_actions.close_survey(survey), fails=frozenset({DS})
    ),
    "unverified sender": Case({**ADA, "sender": "cx@unverified.example"}, fails=frozenset({DS})),
    "sms to a mobile number": Case({**ADA, "phone": "+14155552671"}, distribute=SMS),
    "sms to a malformed number": Case(
        {**ADA, "phone": "12-ab"}, distribute=SMS, fails=frozenset({DS})
    ),
    "sms without a number": Case(ADA, distribute=SMS, fails=frozenset({DS})),
}
PAIRS = [(XM, XM), (XM, DS), (DS, XM), (DS, DS)]


def make_tasks(pair, survey, case: Case) -> list[dict]:
    tasks, previous = [], None
    for number, kind in enumerate(pair, start=1):
        task_id = f"TA_{number}"
        if kind == "xm_directory":
            tasks.append(xm_directory(task_id, previous))
        else:
            tasks.append(distribute(task_id, previous, survey, **case.distribute))
        previous = task_id
    return tasks


def written() -> dict:
    """Row counts of everything a task or a distribution writes, and the messages sent."""
    models = (
        Contact,
        Directory,
        MailingListMembership,
        Transaction,
        ContactMessageLog,
        Distribution,
        Delivery,
        Job,
        WorkflowRun,
        OutboxMessage,
    )
    counts = {model.__name__: model.objects.count() for model in models}
    counts["mail"] = len(mail.outbox)
    return counts


def real_run(workflow, payload: dict) -> WorkflowRun:
    values, errors = mapping.extract(payload, workflow.event_config["fields"])
    assert not errors
    run, _ = workflow_actions.start_run(workflow, payload=json.dumps(payload), fields=values)
    run_jobs()
    run.refresh_from_db()
    return run


def sent(task_run: TaskRun) -> bool:
    distribution = Distribution.objects.get(public_id=task_run.output["distributionId"])
    statuses = set(
        Delivery.objects.filter(distribution=distribution).values_list("status", flat=True)
    )
    return statuses == {DeliveryStatus.SUCCESS}


@pytest.mark.parametrize("case_name", list(CASES))
@pytest.mark.parametrize("pair", PAIRS, ids="→".join)
def test_the_dry_run_fails_exactly_when_the_real_run_fails(
    pair, case_name, org_a, survey_a, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    case = CASES[case_name]
    organization, user = org_a
    definition = {
        "name": "Follow-up",
        "survey": survey_a.public_id,
        "event": {"type": "json", "config": {"fields": FIELDS}},
        "tasks": make_tasks(pair, survey_a, case),
    }
    workflow, _warnings = workflow_actions.create_workflow(organization, user, definition)
    if case.setup is not None:
        case.setup(organization, survey_a)

    before = written()
    report = dryrun.dry_run(workflow, json.dumps(case.payload))
    assert written() == before, "the dry run wrote or sent something"
    assert not report.problems and report.passed

    run = real_run(workflow, case.payload)
    for task, preview in zip(workflow.tasks, report.tasks, strict=True):
        task_run = TaskRun.objects.get(run=run, task_id=task["id"])
        assert task_run.status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED), task_run.status
        failed = task_run.status == TaskStatus.FAILED
        row = (task["type"], preview.summary, task_run.error)
        assert preview.would_fail == failed, row
        assert preview.would_fail == preview.summary.startswith("Would fail: "), row
        # The input has the outcome it is meant to have: the table is not vacuous.
        assert failed == (task["type"] in case.fails), row
        if task["type"] == DS and not failed:
            assert sent(task_run) == (not case.unsent), row
            assert bool(preview.warnings) == case.unsent, (row, preview.warnings)


def test_xm_directory_then_distribute_survey_for_a_new_contact(org_a, survey_a, settings):
    """Issue #17: the contact the first task would create is the one the second checks."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    organization, user = org_a
    definition = {
        "name": "Follow-up",
        "survey": survey_a.public_id,
        "event": {"type": "json", "config": {"fields": FIELDS}},
        "tasks": make_tasks((XM, DS), survey_a, Case(ADA)),
    }
    workflow, _warnings = workflow_actions.create_workflow(organization, user, definition)
    save, invite = dryrun.dry_run(workflow, json.dumps({**ADA, "email": "grace@example.com"})).tasks
    assert (save.status, invite.status) == ("succeed", "succeed"), (save.summary, invite.summary)
    would_be = json.loads(save.output)["contactId"]
    assert json.loads(invite.input)["contactId"] == would_be
    assert json.loads(invite.output)["contactId"] == would_be
    assert invite.summary == (
        "Would email an invitation to Customer feedback to grace@example.com (a new contact)."
    )
    assert json.loads(save.records)[would_be] == {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "grace@example.com",
        "embeddedData": {"Store": "Soho"},
        "unsubscribed": False,
        "exists": False,
    }
    assert not Contact.objects.exists() and not Distribution.objects.exists()


def test_an_unsubscribed_contact_is_a_warning_not_a_failure(org_a, survey_a):
    organization, user = org_a
    existing(organization, unsubscribed=True)
    definition = {
        "name": "Follow-up",
        "survey": survey_a.public_id,
        "event": {"type": "json", "config": {"fields": FIELDS}},
        "tasks": make_tasks((XM, DS), survey_a, Case(ADA)),
    }
    workflow, _warnings = workflow_actions.create_workflow(organization, user, definition)
    _save, invite = dryrun.dry_run(workflow, json.dumps(ADA)).tasks
    assert invite.status == "succeed" and not invite.problems
    assert invite.warnings == [
        "The invitation would not be sent: Opted out: the contact is unsubscribed from the "
        "directory."
    ]


def test_with_continue_on_failure_off_the_tasks_after_a_failure_would_not_run(org_a, survey_a):
    organization, user = org_a
    definition = {
        "name": "Follow-up",
        "survey": survey_a.public_id,
        "continueOnFailure": False,
        "event": {"type": "json", "config": {"fields": FIELDS}},
        "tasks": make_tasks((XM, DS), survey_a, Case(ADA)),
    }
    workflow, _warnings = workflow_actions.create_workflow(organization, user, definition)
    save, invite = dryrun.dry_run(workflow, json.dumps({**ADA, "email": "nope"})).tasks
    assert save.would_fail and invite.status == "skip"
    assert invite.summary == "Would not run: Task 1: Save contact would fail first."
