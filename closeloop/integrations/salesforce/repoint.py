"""Re-pointing a workflow to its new owner's Salesforce account after an ownership transfer
(closeloop.workflows.transfer asks through registry.AccountProvider).

A workflow runs as its owner, so after a transfer the accounts of the previous owner are
stale. They may be replaced only by an account the new owner may use on the same Salesforce
org: the outbound messages keep coming from that org, and the records written live there.
"""

from __future__ import annotations

from collections.abc import Mapping

from closeloop.integrations.salesforce import binding, queries
from closeloop.workflows.definition import snapshot
from closeloop.workflows.registry import AccountProvider, StaleAccount


def account_label(account) -> str:
    return (
        f"{account.name} ({account.username or account.owner}, {account.get_environment_display()})"
    )


def _holder(account) -> str:
    owner = account.owner
    return (owner.get_full_name() or owner.email) if owner is not None else "a removed user"


class SalesforceAccounts(AccountProvider):
    name = "Salesforce"
    link_url_name = "salesforce:accounts"

    def stale_accounts(self, workflow) -> list[StaleAccount]:
        in_use = binding.accounts_in_use(workflow)
        if not in_use:
            return []
        usable = set()
        if workflow.owner_id is not None:
            usable = set(
                queries.usable_accounts(workflow.organization, workflow.owner)
                .filter(public_id__in=in_use)
                .values_list("public_id", flat=True)
            )
        stale = []
        for account in queries.accounts_named(workflow.organization, in_use - usable):
            stale.append(StaleAccount(account.public_id, account_label(account), _holder(account)))
        return sorted(stale, key=lambda item: item.account_id)

    def choices(self, workflow, account_id: str) -> list[tuple[str, str]]:
        stale = queries.account_in(workflow.organization, account_id)
        if stale is None or workflow.owner_id is None:
            return []
        usable = queries.usable_accounts(workflow.organization, workflow.owner).filter(
            salesforce_organization_id=stale.salesforce_organization_id
        )
        return [(account.public_id, account_label(account)) for account in usable.order_by("name")]

    def repointed(self, workflow, old: str, new: str) -> dict:
        definition = snapshot(workflow)
        event = dict(definition["event"])
        config = dict(event.get("config") or {})
        if config.get("account") == old:
            config["account"] = new
        event["config"] = config
        tasks = [_task_with(task, old, new) for task in definition["tasks"] or []]
        return {"event": event, "tasks": tasks}


def _task_with(task, old: str, new: str):
    if not isinstance(task, Mapping) or not isinstance(task.get("config"), Mapping):
        return task
    if task["config"].get("account") != old:
        return task
    return {**task, "config": {**task["config"], "account": new}}
