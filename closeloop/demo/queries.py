"""Reads of the demo workspace, and how far each Try it step has got through the loop.

A step's progress is followed from what it sent to what came of it, each link read by the
keys the rows already carry: the run (its dedup key: the notification id or the messageId) →
the Distribute survey task's output (distributionId) → the delivery → the email in the outbox
(its Message-ID) → the response (its delivery id) → the survey response workflow's run (its
dedup key: the response id) → the Salesforce task's output (the record id) → the write the
demo account recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from closeloop.demo.models import DemoItem, DemoWorkspace, ItemKind, TryStep
from closeloop.directory.models import Contact
from closeloop.distributions.models import Delivery
from closeloop.integrations.salesforce import demo_backend
from closeloop.integrations.salesforce.demo_models import DemoWrite
from closeloop.integrations.salesforce.models import ConnectedAccount
from closeloop.outbox.models import OutboxMessage
from closeloop.surveys.models import Response, Survey
from closeloop.workflows.models import TaskRun, Workflow, WorkflowRun

SURVEY_LINK = re.compile(r"https?://[^\s\"'<>]+/jfe/l/[^\s\"'<>]+")
# A page left open stops asking after this long: the loop is done or stuck by then.
POLL_FOR = timedelta(minutes=30)
RECENT_STEPS = 10


def workspace_of(organization) -> DemoWorkspace | None:
    if organization is None:
        return None
    return DemoWorkspace.objects.filter(organization=organization).first()


def has_demo(organization) -> bool:
    return (
        organization is not None
        and DemoWorkspace.objects.filter(organization=organization).exists()
    )


def offer_demo(organization) -> bool:
    """Whether the home page offers to create the demo: the organization has no demo and
    nothing of its own yet (no survey, no workflow)."""
    if organization is None or has_demo(organization):
        return False
    return not (
        Survey.objects.filter(organization=organization).exists()
        or Workflow.objects.filter(organization=organization).exists()
    )


def items_of(workspace: DemoWorkspace) -> list[DemoItem]:
    return list(workspace.items.all())


def _row(workspace: DemoWorkspace, role: str, model):
    item = workspace.items.filter(role=role).first()
    if item is None:
        return None
    return model.objects.filter(
        organization_id=workspace.organization_id, pk=item.object_id
    ).first()


@dataclass
class Demo:
    """The demo's parts, as the Try it page shows them (None: deleted since)."""

    workspace: DemoWorkspace
    survey: Survey | None
    account: ConnectedAccount | None
    case_workflow: Workflow | None
    segment_workflow: Workflow | None
    response_workflow: Workflow | None
    contacts: list[Contact]
    items: list[DemoItem]


def demo_of(workspace: DemoWorkspace) -> Demo:
    items = items_of(workspace)
    contact_ids = [item.object_id for item in items if item.kind == ItemKind.CONTACT]
    contacts = list(
        Contact.objects.filter(organization_id=workspace.organization_id, pk__in=contact_ids)
    )
    return Demo(
        workspace=workspace,
        survey=_row(workspace, "survey", Survey),
        account=_row(workspace, "account", ConnectedAccount),
        case_workflow=_row(workspace, "case_workflow", Workflow),
        segment_workflow=_row(workspace, "segment_workflow", Workflow),
        response_workflow=_row(workspace, "response_workflow", Workflow),
        contacts=sorted(contacts, key=lambda contact: contact.pk),
        items=items,
    )


def steps_of(organization, limit: int = RECENT_STEPS) -> list[TryStep]:
    return list(TryStep.objects.filter(organization=organization).order_by("-id")[:limit])


def step_of(organization, public_id: str) -> TryStep | None:
    return TryStep.objects.filter(organization=organization, public_id=public_id).first()


@dataclass
class Progress:
    """How far a step got. `waiting_for` says what comes next, in words; `done` stops polling."""

    step: TryStep
    run: WorkflowRun | None = None
    task_runs: list[TaskRun] = field(default_factory=list)
    delivery: Delivery | None = None
    email: OutboxMessage | None = None
    survey_url: str = ""
    response: Response | None = None
    response_run: WorkflowRun | None = None
    response_task_runs: list[TaskRun] = field(default_factory=list)
    salesforce_write: DemoWrite | None = None
    waiting_for: str = ""
    done: bool = False


def _task_runs(run: WorkflowRun) -> list[TaskRun]:
    return list(run.task_runs.filter(generation=run.generation).order_by("position"))


def _output(task_runs: list[TaskRun], task_type: str, name: str) -> str:
    for task_run in task_runs:
        if task_run.task_type == task_type and isinstance(task_run.output, dict):
            value = task_run.output.get(name)
            if value:
                return str(value)
    return ""


def _email(delivery: Delivery) -> OutboxMessage | None:
    if not delivery.message_id:
        return None
    return OutboxMessage.objects.filter(
        organization_id=delivery.organization_id, message_id=delivery.message_id
    ).first()


def survey_link_in(message: OutboxMessage) -> str:
    found = SURVEY_LINK.search(message.text_body or "") or SURVEY_LINK.search(
        message.html_body or ""
    )
    return found.group(0).rstrip(".,;)") if found else ""


def progress_of(step: TryStep, demo: Demo) -> Progress:
    progress = Progress(step)
    stale = timezone.now() - step.created_at > POLL_FOR
    if not step.accepted:
        progress.done = True
        return progress
    workflow = demo.case_workflow if step.kind == "salesforce" else demo.segment_workflow
    if workflow is not None:
        progress.run = WorkflowRun.objects.filter(
            organization_id=step.organization_id, workflow=workflow, dedup_key=step.dedup_key
        ).first()
    run = progress.run
    if run is None:
        return _waiting(progress, "the run to be recorded", stale)
    progress.task_runs = _task_runs(run)
    if not run.is_finished:
        return _waiting(progress, "a worker to run the workflow", stale)
    distribution_id = _output(progress.task_runs, "distribute_survey", "distributionId")
    if run.status != "succeeded" or not distribution_id:
        progress.done = True
        return progress
    progress.delivery = (
        Delivery.objects.filter(
            organization_id=step.organization_id, distribution__public_id=distribution_id
        )
        .order_by("id")
        .first()
    )
    if progress.delivery is not None:
        progress.email = _email(progress.delivery)
    if progress.email is None:
        return _waiting(progress, "the invitation email to be sent", stale)
    progress.survey_url = survey_link_in(progress.email)
    progress.response = (
        Response.objects.filter(
            organization_id=step.organization_id,
            delivery_id=progress.delivery.public_id,
            finished=True,
        )
        .order_by("-id")
        .first()
    )
    if progress.response is None:
        return _waiting(progress, "an answer: open the survey link in the email", stale)
    if demo.response_workflow is not None:
        progress.response_run = WorkflowRun.objects.filter(
            organization_id=step.organization_id,
            workflow=demo.response_workflow,
            dedup_key=f"response:{progress.response.public_id}",
        ).first()
    if progress.response_run is None or not progress.response_run.is_finished:
        if progress.response_run is not None:
            progress.response_task_runs = _task_runs(progress.response_run)
        return _waiting(progress, "the survey response workflow to run", stale)
    progress.response_task_runs = _task_runs(progress.response_run)
    record_id = _output(progress.response_task_runs, "salesforce", "id")
    sobject = _output(progress.response_task_runs, "salesforce", "object")
    if record_id and demo.account is not None:
        progress.salesforce_write = demo_backend.write_for(demo.account, sobject, record_id)
    progress.done = True
    return progress


def _waiting(progress: Progress, what: str, stale: bool) -> Progress:
    progress.waiting_for = what
    progress.done = stale
    return progress
