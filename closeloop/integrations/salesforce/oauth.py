"""Salesforce OAuth 2.0: the web server flow with PKCE, token refresh, revocation, identity.

No Django here: the caller passes the login host and the connected app's credentials. The
token endpoints answer {"error", "error_description"} on failure; OAuthError carries them.
Token refresh is ours (simple-salesforce does not refresh), so that a refreshed token is
stored once and every later call uses it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import requests

TIMEOUT_SECONDS = 20
SCOPES = "api refresh_token"


class OAuthError(Exception):
    """Salesforce refused: `error` is its code (invalid_grant: the refresh token was revoked
    or expired, the user must reconnect)."""

    def __init__(self, error: str, description: str = ""):
        self.error, self.description = error, description
        super().__init__(f"{error}: {description}" if description else error)

    @property
    def needs_reconnecting(self) -> bool:
        return self.error in ("invalid_grant", "inactive_user", "inactive_org")

    @property
    def is_transient(self) -> bool:
        """Salesforce could not be reached or failed on its side (5xx): later may work."""
        return self.error == "unreachable" or self.error.startswith("http_5")


@dataclass(frozen=True)
class ConnectedApp:
    client_id: str
    client_secret: str
    callback_url: str


@dataclass(frozen=True)
class PendingAuthorization:
    """What the browser session keeps between the redirect to Salesforce and the callback."""

    state: str
    code_verifier: str
    login_url: str


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    instance_url: str
    identity_url: str


@dataclass(frozen=True)
class Identity:
    organization_id: str
    user_id: str
    username: str
    display_name: str


def new_pending_authorization(login_url: str) -> PendingAuthorization:
    return PendingAuthorization(
        state=secrets.token_urlsafe(24),
        code_verifier=secrets.token_urlsafe(64),
        login_url=login_url.rstrip("/"),
    )


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(app: ConnectedApp, pending: PendingAuthorization) -> str:
    query = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": app.callback_url,
        "scope": SCOPES,
        "state": pending.state,
        "code_challenge": code_challenge(pending.code_verifier),
        "code_challenge_method": "S256",
        "prompt": "login consent",
    }
    return f"{pending.login_url}/services/oauth2/authorize?{urlencode(query)}"


def exchange_code(app: ConnectedApp, pending: PendingAuthorization, code: str) -> Tokens:
    reply = token_request(
        pending.login_url,
        {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "redirect_uri": app.callback_url,
            "code_verifier": pending.code_verifier,
        },
    )
    if not reply.get("refresh_token"):
        raise OAuthError(
            "no_refresh_token",
            "Salesforce issued no refresh token: add the refresh_token scope to the connected app.",
        )
    return Tokens(
        access_token=reply["access_token"],
        refresh_token=reply["refresh_token"],
        instance_url=reply["instance_url"],
        identity_url=reply["id"],
    )


def refresh_access_token(app: ConnectedApp, login_url: str, refresh_token: str) -> tuple[str, str]:
    """A new (access token, instance URL) for a stored refresh token."""
    reply = token_request(
        login_url,
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
        },
    )
    return reply["access_token"], reply.get("instance_url", "")


def token_request(login_url: str, form: dict) -> dict:
    try:
        response = requests.post(
            f"{login_url.rstrip('/')}/services/oauth2/token", data=form, timeout=TIMEOUT_SECONDS
        )
    except requests.RequestException as error:
        raise OAuthError("unreachable", f"Salesforce could not be reached: {error}") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or "access_token" not in body:
        raise OAuthError(
            str(body.get("error") or f"http_{response.status_code}"),
            str(body.get("error_description") or ""),
        )
    return body


def revoke(login_url: str, token: str) -> None:
    """Revoke a refresh token (and the access tokens issued from it) at Salesforce."""
    try:
        requests.post(
            f"{login_url.rstrip('/')}/services/oauth2/revoke",
            data={"token": token},
            timeout=TIMEOUT_SECONDS,
        )
    except requests.RequestException as error:
        raise OAuthError("unreachable", f"Salesforce could not be reached: {error}") from None


def identity(tokens: Tokens) -> Identity:
    """The organization and user of the tokens, from the identity URL Salesforce returned."""
    if urlsplit(tokens.identity_url).scheme != "https":
        raise OAuthError(
            "invalid_identity", "Salesforce returned an identity URL that is not HTTPS."
        )
    try:
        response = requests.get(
            tokens.identity_url,
            headers={"Authorization": f"Bearer {tokens.access_token}"},
            timeout=TIMEOUT_SECONDS,
        )
        body = response.json()
    except (requests.RequestException, ValueError) as error:
        raise OAuthError("invalid_identity", f"The identity URL did not answer: {error}") from None
    if response.status_code != 200 or not body.get("organization_id"):
        raise OAuthError("invalid_identity", f"The identity URL answered {response.status_code}.")
    return Identity(
        organization_id=body["organization_id"],
        user_id=body.get("user_id", ""),
        username=body.get("username", ""),
        display_name=body.get("display_name", ""),
    )
