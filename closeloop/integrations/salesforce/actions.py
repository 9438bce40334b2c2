"""Writes of the Salesforce integration: linking, re-authorising, renaming, sharing and
removing linked accounts, and keeping their tokens fresh."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from closeloop.accounts import audit
from closeloop.distributions.secrets import decrypt, encrypt
from closeloop.integrations.salesforce import oauth
from closeloop.integrations.salesforce.models import (
    MAX_ACCOUNTS_PER_USER,
    AccountStatus,
    ConnectedAccount,
    Environment,
)
from closeloop.integrations.salesforce.outbound import id18

log = logging.getLogger("closeloop.salesforce")
SALESFORCE_HOST_SUFFIXES = (".salesforce.com", ".force.com", ".salesforce.mil")


class LinkError(Exception):
    """Linking cannot go on; the message says why, in the user's words. On a token refresh,
    `reconnect` says the grant is gone (the owner must reconnect the account) and `transient`
    that Salesforce could not be reached or failed on its side (trying later may work)."""

    def __init__(self, message: str = "", *, reconnect: bool = False, transient: bool = False):
        super().__init__(message)
        self.reconnect, self.transient = reconnect, transient


def connected_app() -> oauth.ConnectedApp:
    if not (
        settings.CLOSELOOP_SALESFORCE_CLIENT_ID and settings.CLOSELOOP_SALESFORCE_CLIENT_SECRET
    ):
        raise LinkError(
            "Salesforce is not configured on this server: set CLOSELOOP_SALESFORCE_CLIENT_ID "
            "and CLOSELOOP_SALESFORCE_CLIENT_SECRET to the connected app's consumer key and "
            "secret (docs/salesforce.md)."
        )
    callback = settings.CLOSELOOP_BASE_URL.rstrip("/") + reverse("salesforce:callback")
    return oauth.ConnectedApp(
        settings.CLOSELOOP_SALESFORCE_CLIENT_ID,
        settings.CLOSELOOP_SALESFORCE_CLIENT_SECRET,
        callback,
    )


def login_url_for(environment: str, my_domain_url: str = "") -> str:
    if environment == Environment.PRODUCTION:
        return settings.CLOSELOOP_SALESFORCE_PRODUCTION_URL
    if environment == Environment.SANDBOX:
        return settings.CLOSELOOP_SALESFORCE_SANDBOX_URL
    parts = urlsplit(my_domain_url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host.endswith(SALESFORCE_HOST_SUFFIXES):
        raise LinkError(
            "A My Domain URL looks like https://yourcompany.my.salesforce.com "
            "(Setup → My Domain shows it)."
        )
    return f"https://{host}"


def check_can_add(owner, name: str, *, replacing: ConnectedAccount | None = None) -> None:
    others = ConnectedAccount.objects.filter(owner=owner)
    if replacing is not None:
        others = others.exclude(pk=replacing.pk)
    elif others.count() >= MAX_ACCOUNTS_PER_USER:
        raise LinkError(
            f"You have {MAX_ACCOUNTS_PER_USER} linked Salesforce accounts, the most a user may "
            "have: remove one first."
        )
    if others.filter(name=name).exists():
        raise LinkError(f"You already have a linked account named {name!r}.")


def start_linking(
    owner,
    environment: str,
    name: str,
    my_domain_url: str = "",
    account: ConnectedAccount | None = None,
) -> tuple[str, dict]:
    """The Salesforce authorize URL to send the browser to, and what the session must keep
    until the callback (the state, the PKCE verifier, what is being linked)."""
    app = connected_app()
    if account is not None:  # re-authorise: same environment and login host
        environment, name, login_url = account.environment, account.name, account.login_url
    else:
        login_url = login_url_for(environment, my_domain_url)
    check_can_add(owner, name, replacing=account)
    pending = oauth.new_pending_authorization(login_url)
    kept = {
        "state": pending.state,
        "code_verifier": pending.code_verifier,
        "login_url": pending.login_url,
        "environment": environment,
        "name": name,
        "account": account.public_id if account else "",
    }
    return oauth.authorize_url(app, pending), kept


def finish_linking(owner, organization, kept: dict, *, state: str, code: str) -> ConnectedAccount:
    """Exchange the code, read the identity, and store the account with its tokens encrypted."""
    if not kept or not state or state != kept.get("state"):
        raise LinkError(
            "This sign-in to Salesforce was not started here, or has expired: start again."
        )
    app = connected_app()
    pending = oauth.PendingAuthorization(kept["state"], kept["code_verifier"], kept["login_url"])
    try:
        tokens = oauth.exchange_code(app, pending, code)
        who = oauth.identity(tokens)
    except oauth.OAuthError as error:
        raise LinkError(f"Salesforce did not link the account ({error}).") from None
    with transaction.atomic():
        account = _account_to_fill(owner, organization, kept, who)
        account.instance_url = tokens.instance_url
        account.salesforce_organization_id = id18(who.organization_id)
        account.salesforce_user_id = who.user_id
        account.username = who.username
        account.access_token_encrypted = encrypt(tokens.access_token)
        account.refresh_token_encrypted = encrypt(tokens.refresh_token)
        account.status, account.status_message = AccountStatus.CONNECTED, ""
        account.authorized_at = timezone.now()
        account.save()
        audit.record(
            organization,
            owner,
            "salesforce.linked",
            target=account,
            summary=f"{account.name} ({account.username})",
        )
    log.info("salesforce account %s linked to org %s", account.public_id, who.organization_id)
    return account


def _account_to_fill(owner, organization, kept: dict, who: oauth.Identity) -> ConnectedAccount:
    if not kept.get("account"):
        check_can_add(owner, kept["name"])
        return ConnectedAccount(
            organization=organization,
            owner=owner,
            name=kept["name"],
            environment=kept["environment"],
            login_url=kept["login_url"],
        )
    account = ConnectedAccount.objects.select_for_update().get(
        public_id=kept["account"], owner=owner, organization=organization
    )
    if id18(who.organization_id) != account.salesforce_organization_id:
        raise LinkError(
            f"You signed in to another Salesforce org ({who.organization_id}) than the one "
            f"{account.name!r} is linked to ({account.salesforce_organization_id}): sign in "
            "to that org, or add a new account."
        )
    return account


def rename(account: ConnectedAccount, name: str) -> None:
    check_can_add(account.owner, name, replacing=account)
    account.name = name
    account.save(update_fields=["name"])


def set_shared(account: ConnectedAccount, shared: bool) -> None:
    account.shared_with_organization = shared
    account.save(update_fields=["shared_with_organization"])


def remove(account: ConnectedAccount, removed_by=None) -> str:
    """Revoke the grant at Salesforce, then forget the account. Returns a warning when
    Salesforce could not be told (the token then stays valid there until it expires)."""
    warning = ""
    try:
        if account.environment != Environment.DEMO:  # a demo account has no grant to revoke
            oauth.revoke(account.login_url, decrypt(account.refresh_token_encrypted))
    except oauth.OAuthError as error:
        warning = f"Salesforce could not be told to revoke the token ({error})."
    with transaction.atomic():
        audit.record(
            account.organization,
            removed_by,
            "salesforce.removed",
            target=account,
            summary=f"{account.name} ({account.username})",
        )
        account.delete()
    return warning


def access_token(account: ConnectedAccount) -> str:
    return decrypt(account.access_token_encrypted)


def refresh_tokens(account: ConnectedAccount) -> str:
    """A new access token from the refresh token, stored; a revoked or expired grant marks the
    account as needing attention and raises LinkError telling the owner to reconnect."""
    try:
        token, instance_url = oauth.refresh_access_token(
            connected_app(), account.login_url, decrypt(account.refresh_token_encrypted)
        )
    except oauth.OAuthError as error:
        if error.needs_reconnecting:
            mark_needs_attention(
                account,
                f"Salesforce refused the stored grant ({error.error}): {account.owner} must "
                "reconnect the account (Extensions → Salesforce → Reconnect).",
            )
        raise LinkError(
            str(error), reconnect=error.needs_reconnecting, transient=error.is_transient
        ) from None
    account.access_token_encrypted = encrypt(token)
    account.instance_url = instance_url or account.instance_url
    account.save(update_fields=["access_token_encrypted", "instance_url"])
    return token


def mark_needs_attention(account: ConnectedAccount, message: str) -> None:
    account.status, account.status_message = AccountStatus.NEEDS_ATTENTION, message
    account.save(update_fields=["status", "status_message"])
