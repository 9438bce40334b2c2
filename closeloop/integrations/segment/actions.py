"""Every write of the Segment integration: sources and their use-case workflows, the shared
secret of a Segment-event workflow, and the note of the last delivery its URL refused."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from closeloop.directory.models import Directory
from closeloop.distributions.secrets import encrypt
from closeloop.integrations.segment import use_cases
from closeloop.integrations.segment.models import Endpoint, Source, SourceWorkflow, UseCase
from closeloop.workflows import actions as workflow_actions
from closeloop.workflows import lookup_cache
from closeloop.workflows.models import Workflow, new_task_id

log = logging.getLogger("closeloop.segment")

MAX_SECRET = 200
MAX_NAME = 100
MAX_EVENT_NAME = 200
# A URL refusing a flood of bad requests writes its note at most this often (per message).
REFUSAL_NOTE_INTERVAL = timedelta(seconds=10)


def _forget_cached_secrets() -> None:
    """The receiver remembers a URL's secret for a moment: forget it now and, in case a
    request cached the old one meanwhile, again once the change is committed."""
    lookup_cache.forget_all()
    transaction.on_commit(lookup_cache.forget_all)


class SourceError(ValueError):
    """A source or use case that cannot be made as asked; the message says why."""


# The shared secret ---------------------------------------------------------------------------


def check_secret(secret: str) -> str:
    secret = secret.strip()
    if not secret:
        raise SourceError("Type the shared secret, as set in Segment.")
    if len(secret) > MAX_SECRET:
        raise SourceError(f"A shared secret is at most {MAX_SECRET} characters.")
    if not secret.isprintable():
        raise SourceError("A shared secret is printable text (no line breaks or tabs).")
    return secret


def set_secret(workflow: Workflow, secret: str) -> Endpoint:
    """From now on the workflow's URL takes only requests signed with this secret (or sent
    with an API token of the organization). Stored encrypted."""
    encrypted = encrypt(check_secret(secret))
    endpoint, _created = Endpoint.objects.update_or_create(
        workflow=workflow,
        defaults={
            "organization_id": workflow.organization_id,
            "secret_encrypted": encrypted,
            "secret_set_at": timezone.now(),
        },
    )
    _forget_cached_secrets()
    log.info("segment secret set for %s", workflow.public_id)
    return endpoint


def clear_secret(workflow: Workflow) -> None:
    Endpoint.objects.filter(workflow=workflow).update(secret_encrypted="", secret_set_at=None)
    _forget_cached_secrets()
    log.info("segment secret removed from %s", workflow.public_id)


def note_refusal(workflow: Workflow, status: int, message: str) -> None:
    """Remember the last delivery the workflow's URL refused (shown on its pages), written at
    most once per REFUSAL_NOTE_INTERVAL for the same message."""
    now = timezone.now()
    message = message[:1000]
    values = {"last_refusal": message, "last_refusal_status": status, "last_refusal_at": now}
    stale = (
        Q(last_refusal_at__isnull=True)
        | Q(last_refusal_at__lt=now - REFUSAL_NOTE_INTERVAL)
        | ~Q(last_refusal=message)
    )
    if Endpoint.objects.filter(workflow_id=workflow.pk).filter(stale).update(**values):
        return
    if not Endpoint.objects.filter(workflow_id=workflow.pk).exists():
        Endpoint.objects.get_or_create(
            workflow_id=workflow.pk,
            defaults={"organization_id": workflow.organization_id, **values},
        )


# Sources -------------------------------------------------------------------------------------


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise SourceError("Name the source, e.g. the website or app Segment collects from.")
    if len(name) > MAX_NAME:
        raise SourceError(f"A source name is at most {MAX_NAME} characters.")
    return name


def _clean_event_name(event_name: str, default: str) -> str:
    event_name = (event_name or "").strip() or default
    if len(event_name) > MAX_EVENT_NAME:
        raise SourceError(f"An event name is at most {MAX_EVENT_NAME} characters.")
    return event_name


def _definition(source: Source, use_case: str, event_name: str, survey) -> dict:
    directory_id = source.directory.public_id if source.directory_id else ""
    task_id = new_task_id()
    if use_case == UseCase.CONTACTS:
        return use_cases.contacts_definition(source.name, directory_id, task_id)
    if use_case == UseCase.TRANSACTIONS:
        name = _clean_event_name(event_name, use_cases.DEFAULT_TRANSACTION_EVENT)
        return use_cases.transactions_definition(source.name, directory_id, task_id, name)
    if use_case == UseCase.WORKFLOW:
        if survey is None:
            raise SourceError("Choose the survey the started workflow sends.")
        name = _clean_event_name(event_name, use_cases.DEFAULT_WORKFLOW_EVENT)
        return use_cases.workflow_definition(
            source.name, directory_id, task_id, name, survey.public_id, new_task_id()
        )
    raise SourceError(f"There is no use case {use_case!r}.")


def add_use_case(
    source: Source, user, use_case: str, *, event_name: str = "", survey=None
) -> Workflow:
    """A new workflow for one use case of the source, with its preset filters and tasks; the
    source's secret (if its workflows have one) is set on it too."""
    definition = _definition(source, use_case, event_name, survey)
    with transaction.atomic():
        try:
            workflow, _warnings = workflow_actions.create_workflow(
                source.organization, user, definition
            )
        except workflow_actions.InvalidWorkflow as error:
            raise SourceError(" ".join(error.errors)) from None
        SourceWorkflow.objects.create(source=source, workflow=workflow, use_case=use_case)
        shared = (
            Endpoint.objects.filter(
                workflow__in=SourceWorkflow.objects.filter(source=source).values("workflow")
            )
            .exclude(secret_encrypted="")
            .exclude(workflow=workflow)
            .first()
        )
        if shared is not None:
            Endpoint.objects.create(
                organization_id=source.organization_id,
                workflow=workflow,
                secret_encrypted=shared.secret_encrypted,
                secret_set_at=timezone.now(),
            )
    return workflow


def create_source(
    organization,
    user,
    *,
    name: str,
    directory: Directory | None = None,
    use_case_list: list[str] = (),
    transaction_event: str = "",
    workflow_event: str = "",
    survey=None,
    secret: str = "",
) -> Source:
    """A Segment source and a workflow for each use case asked for, all or nothing."""
    if directory is not None and directory.organization_id != organization.pk:
        raise SourceError("There is no such directory.")
    if survey is not None and survey.organization_id != organization.pk:
        raise SourceError("There is no such survey.")
    if secret:
        check_secret(secret)
    with transaction.atomic():
        source = Source.objects.create(
            organization=organization, name=_clean_name(name), directory=directory, created_by=user
        )
        for use_case in use_case_list:
            event_name = transaction_event if use_case == UseCase.TRANSACTIONS else workflow_event
            add_use_case(source, user, use_case, event_name=event_name, survey=survey)
        if secret:
            set_source_secret(source, secret)
    log.info("segment source %s created with %s", source.public_id, ", ".join(use_case_list))
    return source


def set_source_secret(source: Source, secret: str) -> int:
    """The same shared secret on every workflow of the source (one Webhooks (Actions)
    destination has one Shared Secret): how many workflows."""
    links = SourceWorkflow.objects.filter(source=source).select_related("workflow")
    with transaction.atomic():
        for link in links:
            set_secret(link.workflow, secret)
    return len(links)


def clear_source_secret(source: Source) -> None:
    Endpoint.objects.filter(
        workflow__in=SourceWorkflow.objects.filter(source=source).values("workflow")
    ).update(secret_encrypted="", secret_set_at=None)
    _forget_cached_secrets()


def delete_source(source: Source, user=None) -> int:
    """Delete the source with its workflows and their runs: how many workflows."""
    with transaction.atomic():
        workflows = list(
            Workflow.objects.filter(
                pk__in=SourceWorkflow.objects.filter(source=source).values("workflow")
            )
        )
        for workflow in workflows:
            workflow_actions.delete_workflow(workflow, user)
        source.delete()
    return len(workflows)
