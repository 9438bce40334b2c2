"""The linked-account hooks of the Salesforce event and task (registry.LinkedAccounts): which
account a config uses, whether the workflow's owner may use it, and, after an ownership
transfer, which of the new owner's accounts may replace the previous owner's.

A workflow runs as its owner, so after a transfer the accounts of the previous owner are
stale. They may be replaced only by an account the new owner may use on the same Salesforce
org (`salesforce_organization_id`): the outbound messages keep coming from that org, and the
records written live there.
"""

from __future__ import annotations

from collections.abc import Mapping

from closeloop.integrations.salesforce import queries
from closeloop.workflows.registry import LinkedAccount, LinkedAccounts


def account_label(account) -> str:
    return (
        f"{account.name} ({account.username or account.owner}, {account.get_environment_display()})"
    )


def holder_name(account) -> str:
    owner = account.owner
    return (owner.get_full_name() or owner.email) if owner is not None else "a removed user"


class SalesforceAccountHooks(LinkedAccounts):
    """For a config naming its account under "account" (the Outbound Message event and the
    Salesforce task)."""

    account_system = "Salesforce"
    link_accounts_url_name = "salesforce:accounts"

    def linked_accounts(self, config: Mapping) -> set[str]:
        account = (config or {}).get("account")
        return {account} if isinstance(account, str) and account else set()

    def account_usable(self, organization, owner, account_id: str) -> bool:
        if owner is None or not account_id:
            return False
        return queries.usable_accounts(organization, owner).filter(public_id=account_id).exists()

    def describe_account(self, organization, account_id: str) -> LinkedAccount:
        account = queries.account_in(organization, account_id)
        if account is None:
            return LinkedAccount(account_id, f"{account_id} (removed)", "")
        return LinkedAccount(account_id, account_label(account), holder_name(account))

    def repoint_choices(self, organization, user, account_id: str) -> list[tuple[str, str]]:
        stale = queries.account_in(organization, account_id)
        if stale is None or user is None:
            return []
        usable = queries.usable_accounts(organization, user).filter(
            salesforce_organization_id=stale.salesforce_organization_id
        )
        return [(account.public_id, account_label(account)) for account in usable.order_by("name")]

    def repoint(self, config: Mapping, old_id: str, new_id: str) -> dict:
        config = dict(config or {})
        if config.get("account") == old_id:
            config["account"] = new_id
        return config
