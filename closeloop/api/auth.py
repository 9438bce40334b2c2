"""Token authentication for every API endpoint.

Send `X-API-TOKEN: <token>` (Qualtrics style) or `Authorization: Bearer <token>`.

Both APIs use `TOKEN_AUTH` by default, so `request.auth` is the ApiToken (with `.user` and
`.organization`) in every handler. Use `require_organization` before returning anything
that belongs to an organization named in the URL.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import APIKeyHeader, HttpBearer

from closeloop.accounts import actions, queries
from closeloop.accounts.models import ApiToken, Organization
from closeloop.api.errors import Forbidden, InvalidToken


class _TokenLookup:
    def authenticate(self, request: HttpRequest, key: str | None) -> ApiToken | None:
        if not key:
            return None  # ninja tries the next scheme, then answers "missing token"
        token = queries.active_token(key.strip())
        if token is None:
            raise InvalidToken()
        actions.touch_token(token)
        return token


class ApiTokenHeader(_TokenLookup, APIKeyHeader):
    """Qualtrics' own header."""

    param_name = "X-API-TOKEN"


class ApiTokenBearer(_TokenLookup, HttpBearer):
    """The same token as a bearer token, for generic HTTP clients."""


TOKEN_AUTH = [ApiTokenHeader(), ApiTokenBearer()]


def token_of(request: HttpRequest) -> ApiToken:
    return request.auth


def require_organization(request: HttpRequest, organization: Organization | None) -> Organization:
    """The organization, if it is the token's own; otherwise 403 (whether or not it exists)."""
    own = token_of(request).organization
    if organization is None or organization.pk != own.pk:
        raise Forbidden("This API token belongs to another organization.")
    return organization
