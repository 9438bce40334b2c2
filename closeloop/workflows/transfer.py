"""Ownership transfer of a survey with its workflows, and re-pointing the workflows' linked
accounts to the new owner's (issue: collaboration).

A workflow runs as its owner. Transferring a survey makes the new owner the owner of the
survey and of every workflow on it, in one transaction, each workflow with a revision saying
so. Accounts the previous owner linked (Salesforce) are then stale: the tasks using them fail
with a message pointing here until the new owner re-points each one to an account of theirs
on the same external org (registry.AccountProvider says which).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from closeloop.accounts import audit
from closeloop.surveys import actions as survey_actions
from closeloop.workflows import actions, definition, registry
from closeloop.workflows.models import Workflow, WorkflowRevision


class TransferError(ValueError):
    """A transfer or re-pointing that cannot be made, with the sentence to show."""


@dataclass(frozen=True)
class StaleUse:
    """One stale account of one workflow, with what may replace it."""

    workflow: Workflow
    provider: registry.AccountProvider
    account: registry.StaleAccount
    choices: list[tuple[str, str]]


def workflows_of_survey(survey) -> list[Workflow]:
    return list(Workflow.objects.filter(survey=survey).select_related("owner").order_by("name"))


def stale_uses(workflows) -> list[StaleUse]:
    """The linked accounts the workflows use that their owners may not (to re-point)."""
    found = []
    for workflow in workflows:
        for provider in registry.account_providers():
            for account in provider.stale_accounts(workflow):
                choices = provider.choices(workflow, account.account_id)
                found.append(StaleUse(workflow, provider, account, choices))
    return found


def transfer_survey(survey, new_owner, by) -> list[StaleUse]:
    """Make `new_owner` the owner of the survey and its workflows; the stale accounts left."""
    if new_owner.pk == survey.owner_id:
        raise TransferError(f"{new_owner.email} already owns this survey.")
    with transaction.atomic():
        try:
            survey_actions.set_owner(survey, new_owner, by)
        except survey_actions.SharingError as error:
            raise TransferError(str(error)) from None
        workflows = list(Workflow.objects.select_for_update().filter(survey=survey))
        for workflow in workflows:
            _change_owner(workflow, new_owner, by)
    return stale_uses(workflows_of_survey(survey))


def _change_owner(workflow: Workflow, new_owner, by) -> None:
    previous = workflow.owner
    workflow.owner = new_owner
    workflow.revision += 1
    workflow.modified_at = timezone.now()
    workflow.modified_by = by
    workflow.save(update_fields=["owner", "revision", "modified_at", "modified_by"])
    summary = f"Owner changed from {getattr(previous, 'email', 'nobody')} to {new_owner.email}"
    WorkflowRevision.objects.create(
        workflow=workflow,
        number=workflow.revision,
        author=by,
        summary=summary,
        definition=definition.snapshot(workflow),
    )
    audit.record(
        workflow.organization,
        by,
        "workflow.changed",
        target=workflow,
        summary=f"{workflow.name}: {summary} (revision {workflow.revision})",
    )


def repoint_workflow(workflow: Workflow, by, replacements: Mapping[str, str]) -> Workflow:
    """Use each new account for the stale one it replaces. Only the workflow's owner chooses
    its accounts (closeloop.integrations.salesforce.binding checks it again on save)."""
    if by is None or by.pk != workflow.owner_id:
        owner = workflow.owner
        name = (owner.get_full_name() or owner.email) if owner is not None else "its owner"
        raise TransferError(f"Only {name}, the workflow's owner, can choose its accounts.")
    by_account = {use.account.account_id: use for use in stale_uses([workflow])}
    for old, new in replacements.items():
        use = by_account.get(old)
        if use is None:
            raise TransferError(f"The account {old} does not need re-pointing in this workflow.")
        if new not in {choice for choice, _label in use.choices}:
            raise TransferError(
                f"{new or 'No account'} is not one of your {use.provider.name} accounts on the "
                f"same org as {use.account.label}."
            )
        changes = use.provider.repointed(workflow, old, new)
        try:
            workflow, _warnings = actions.update_workflow(workflow, by, changes)
        except actions.InvalidWorkflow as error:
            raise TransferError(" ".join(error.errors)) from None
    return workflow
