"""Ownership transfer of a survey with its workflows, and re-pointing the workflows' linked
accounts to the new owner's (issue: collaboration).

A workflow runs as its owner. Transferring a survey (its owner or an admin) makes the new
owner the owner of the survey and of every workflow on it, in one transaction, each workflow
with a revision and an audit event saying so. An account of an external system the workflow
uses (a Salesforce account the previous owner linked) that the new owner may not use is then
*stale*: the tasks using it fail with a message pointing to the transfer page until the new
owner, or an admin, re-points it to one of the new owner's accounts on the same external org.

Workflows know no integration: each event and task type says which accounts its config uses
and what may replace them (registry.LinkedAccounts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from closeloop.accounts import audit
from closeloop.api.errors import NotPermitted
from closeloop.surveys import actions as survey_actions
from closeloop.surveys import permissions as survey_permissions
from closeloop.workflows import definition, registry
from closeloop.workflows.models import Workflow, WorkflowRevision

AS_SAVED = object()  # stale_uses: for the workflow's own owner


class TransferError(ValueError):
    """A transfer or re-pointing that cannot be made, with the sentence to show."""


@dataclass(frozen=True)
class StaleUse:
    """One account a workflow uses that the owner it runs as may not use, with the steps that
    use it and the owner's accounts that may replace it."""

    workflow: Workflow
    kind: registry.LinkedAccounts  # the event or task type linking it
    account: registry.LinkedAccount
    steps: tuple[str, ...]  # "the event", "task “Write back”"
    choices: list[tuple[str, str]]

    @property
    def system(self) -> str:
        return self.kind.account_system or "linked"

    @property
    def link_url_name(self) -> str:
        return self.kind.link_accounts_url_name


def user_name(user) -> str:
    return (user.get_full_name() or user.email) if user is not None else "a deleted user"


def workflows_of_survey(survey) -> list[Workflow]:
    return list(
        Workflow.objects.filter(survey=survey).select_related("owner", "survey").order_by("name")
    )


def _steps(workflow: Workflow):
    """(type, step name, config) of the workflow's event and tasks."""
    event = registry.event_type(workflow.event_type)
    if event is not None:
        yield event, "the event", workflow.event_config or {}
    for task in workflow.tasks or []:
        if not isinstance(task, Mapping):
            continue
        kind = registry.task_type(str(task.get("type") or ""))
        if kind is not None and isinstance(task.get("config"), Mapping):
            yield kind, f"task “{task.get('name') or kind.label}”", task["config"]


def linked_accounts(workflow: Workflow) -> dict[str, tuple[registry.LinkedAccounts, list[str]]]:
    """Every account the workflow uses: its id → (the first type linking it, the steps)."""
    found: dict[str, tuple[registry.LinkedAccounts, list[str]]] = {}
    for kind, step, config in _steps(workflow):
        for account_id in sorted(kind.linked_accounts(config)):
            found.setdefault(account_id, (kind, []))[1].append(step)
    return found


def stale_uses(workflows: Iterable[Workflow], *, owner=AS_SAVED) -> list[StaleUse]:
    """The accounts the workflows use that they could not run as: for their own owners, or
    for `owner` (who would become their owner; None: every account in use)."""
    found = []
    usable: dict[tuple, bool] = {}
    for workflow in workflows:
        runs_as = workflow.owner if owner is AS_SAVED else owner
        organization = workflow.organization
        for account_id, (kind, steps) in linked_accounts(workflow).items():
            key = (id(kind), getattr(runs_as, "pk", None), account_id)
            if key not in usable:
                usable[key] = runs_as is not None and kind.account_usable(
                    organization, runs_as, account_id
                )
            if usable[key]:
                continue
            choices = kind.repoint_choices(organization, runs_as, account_id) if runs_as else []
            account = kind.describe_account(organization, account_id)
            found.append(StaleUse(workflow, kind, account, tuple(steps), choices))
    return found


def workflows_needing_repoint(organization, user) -> list[StaleUse]:
    """The stale accounts of the workflows `user` may re-point: their own, every one of the
    organization for an admin."""
    workflows = Workflow.objects.filter(organization=organization).select_related(
        "owner", "survey", "organization"
    )
    if not survey_permissions.is_admin(organization.pk, user):
        workflows = workflows.filter(owner=user)
    return stale_uses(workflows.order_by("name"))


def may_repoint(workflow: Workflow, user) -> bool:
    """The workflow's owner chooses its accounts; an admin may do it for them."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if workflow.owner_id is not None and user.pk == workflow.owner_id:
        return True
    return survey_permissions.is_admin(workflow.organization_id, user)


def _save_revision(workflow: Workflow, by, summary: str, fields: list[str]) -> None:
    workflow.revision += 1
    workflow.modified_at = timezone.now()
    workflow.modified_by = by
    workflow.save(update_fields=[*fields, "revision", "modified_at", "modified_by"])
    WorkflowRevision.objects.create(
        workflow=workflow,
        number=workflow.revision,
        author=by,
        summary=summary[:200],
        definition=definition.snapshot(workflow),
    )
    audit.record(
        workflow.organization,
        by,
        "workflow.changed",
        target=workflow,
        summary=f"{workflow.name}: {summary} (revision {workflow.revision})",
        revision=workflow.revision,
    )


def transfer_survey(survey, new_owner, by) -> list[StaleUse]:
    """Make `new_owner` (a member) the owner of the survey and of its workflows, if `by` may
    share the survey (its owner or an admin; NotFound / NotPermitted otherwise). Returns the
    accounts the workflows use that the new owner may not: to re-point."""
    survey_permissions.require_sharing(survey, by)
    if new_owner is None:
        raise TransferError("Choose the member who becomes the owner.")
    if new_owner.pk == survey.owner_id:
        raise TransferError(f"{new_owner.email} already owns this survey.")
    with transaction.atomic():
        try:
            survey_actions.set_owner(survey, new_owner, by)
        except survey_actions.SharingError as error:
            raise TransferError(str(error)) from None
        workflows = (
            Workflow.objects.select_for_update(of=("self",))
            .filter(survey=survey)
            .select_related("organization", "owner")
            .order_by("pk")
        )
        for workflow in workflows:
            previous = workflow.owner
            workflow.owner = new_owner
            summary = (
                f"Owner changed from {getattr(previous, 'email', 'nobody')} to {new_owner.email}"
            )
            _save_revision(workflow, by, summary + " (survey transferred)", ["owner"])
    return stale_uses(workflows_of_survey(survey))


def repoint_workflow(workflow: Workflow, by, replacements: Mapping[str, str]) -> Workflow:
    """Use each new account for the stale one it replaces ({old id: new id}), in the event and
    every task, as one revision. Only the workflow's owner or an admin (NotPermitted), and
    only to an account the owner may use on the same external org (TransferError)."""
    if not may_repoint(workflow, by):
        raise NotPermitted(
            f"Only {user_name(workflow.owner)}, the workflow's owner, or an administrator can "
            "choose the accounts it runs with."
        )
    if not replacements:
        raise TransferError("Choose the account that replaces the old one.")
    with transaction.atomic():
        locked = (
            Workflow.objects.select_for_update(of=("self",))
            .select_related("organization", "owner", "survey")
            .get(pk=workflow.pk)
        )
        stale = {use.account.account_id: use for use in stale_uses([locked])}
        changed = []
        for old, new in replacements.items():
            use = stale.get(old)
            if use is None:
                raise TransferError(
                    f"The account {old} does not need re-pointing in “{locked.name}”."
                )
            if not isinstance(new, str) or new not in {choice for choice, _ in use.choices}:
                raise TransferError(
                    f"{new or 'No account'} is not one of {user_name(locked.owner)}'s "
                    f"{use.system} accounts on the same org as {use.account.label}."
                )
            _replace(locked, old, new)
            label = dict(use.choices)[new]
            changed.append(f"{use.system} account {use.account.label} → {label}")
        check = definition.check(
            definition.snapshot(locked), organization=locked.organization, survey=locked.survey
        )
        if check.errors:
            raise TransferError(" ".join(check.errors))
        _save_revision(locked, by, "Re-pointed " + "; ".join(changed), ["event_config", "tasks"])
    return locked


def _replace(workflow: Workflow, old: str, new: str) -> None:
    """Every step linking `old` uses `new` instead (its type's repoint hook)."""
    event = registry.event_type(workflow.event_type)
    if event is not None and old in event.linked_accounts(workflow.event_config or {}):
        workflow.event_config = event.repoint(workflow.event_config or {}, old, new)
    tasks = []
    for task in workflow.tasks or []:
        kind = (
            registry.task_type(str(task.get("type") or "")) if isinstance(task, Mapping) else None
        )
        config = task.get("config") if kind is not None else None
        if isinstance(config, Mapping) and old in kind.linked_accounts(config):
            task = {**task, "config": kind.repoint(config, old, new)}
        tasks.append(task)
    workflow.tasks = tasks
