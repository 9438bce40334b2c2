"""Whose credentials: a workflow's Salesforce event and tasks use its owner's linked account.

The owner (the workflow's creator) chooses the account; a collaborator edits everything else,
and the revision records the edit, but never switches the account. An existing workflow stays
on one Salesforce org: production ↔ sandbox is refused (copy the workflow instead).
"""

from __future__ import annotations

from collections.abc import Mapping

from closeloop.integrations.salesforce import queries


def accounts_in_use(workflow) -> set[str]:
    """The account ids the workflow's saved event and tasks use."""
    found = {(workflow.event_config or {}).get("account")}
    for task in workflow.tasks or []:
        if isinstance(task, Mapping) and isinstance(task.get("config"), Mapping):
            found.add(task["config"].get("account"))
    return {account for account in found if isinstance(account, str) and account}


def _owner_name(workflow) -> str:
    owner = workflow.owner
    return (owner.get_full_name() or owner.email) if owner is not None else "a deleted user"


def _is_owner(workflow, editor) -> bool:
    return workflow.owner_id is not None and getattr(editor, "pk", None) == workflow.owner_id


def account_edit_problems(before: str | None, after: object, *, workflow, editor) -> list[str]:
    """Why `editor` may not set the account from `before` to `after` (empty when allowed)."""
    if not after or after == before or not isinstance(after, str):
        return []
    in_use = accounts_in_use(workflow) if workflow.pk else set()
    if not _is_owner(workflow, editor) and after not in in_use:
        return [
            f"This workflow runs as {_owner_name(workflow)}'s Salesforce account; only "
            "they can choose or change it."
        ]
    account = None
    if workflow.owner_id is not None:
        usable = queries.usable_accounts(workflow.organization, workflow.owner)
        account = usable.filter(public_id=after).first()
    if account is None:
        return [
            f"The Salesforce account {after} is not one of {_owner_name(workflow)}'s linked "
            "accounts (their own, or shared with the organization)."
        ]
    for other in queries.accounts_named(workflow.organization, in_use - {after}):
        if other.salesforce_organization_id != account.salesforce_organization_id:
            return [
                f"This workflow works with the Salesforce org of {other.name} "
                f"({other.get_environment_display()}); {account.name} is another org "
                f"({account.get_environment_display()}). Switching an existing workflow "
                "between orgs (production ↔ sandbox) is not possible: copy the workflow instead."
            ]
    return []


def editor_context(account_id: str, organization, workflow) -> dict:
    """What an event or task editor shows: whose account it runs as, and the choices."""
    owner = workflow.owner if workflow is not None else None
    accounts = list(queries.usable_accounts(organization, owner)) if owner is not None else []
    chosen = next((account for account in accounts if account.public_id == account_id), None)
    if chosen is None and account_id:
        chosen = queries.account_in(organization, account_id)
    return {
        "salesforce_accounts": accounts,
        "salesforce_account": chosen,
        "salesforce_owner": owner,
        "salesforce_owner_name": _owner_name(workflow) if workflow is not None else "",
    }
