"""The JSON event's trigger endpoint: POST /inbound/json/<trigger token>.

Authentication: an API token of the workflow's organization, sent as `X-API-TOKEN`, as
`Authorization: Bearer <token>`, or as the password of HTTP Basic auth (the user name is not
checked; use the token owner's email for your own records). The token's user must be allowed
to manage the workflow (closeloop.workflows.permissions); a workflow they may not manage,
say of a survey they can't see, is not reachable: the same 404 as an unknown trigger URL. The body is JSON
(`application/json` or any `+json` type), at most 100 KB. An optional `Idempotency-Key`
header (at most 255 printable characters) makes redeliveries start no second run.

Answers: 202 `{"runId": "WR_…", "status": "queued"}` once the run is committed; 200 with the
original run for a repeated Idempotency-Key; 202 `{"captured": true}` while the workflow
listens for a test event. Errors are RFC 9457 problem details (application/problem+json)
with a stable `code`, and change nothing.
"""

from __future__ import annotations

import base64
import binascii
import re

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from closeloop.accounts import actions as accounts_actions
from closeloop.accounts import queries as accounts_queries
from closeloop.accounts.models import hash_secret
from closeloop.api.base import answering_errors, read_body
from closeloop.api.errors import (
    ApiError,
    InvalidRequest,
    InvalidToken,
    MalformedBody,
    MethodNotAllowed,
    MissingToken,
    NotFound,
)
from closeloop.api.problems import problem_response
from closeloop.workflows import actions, lookup_cache, mapping, permissions, queries
from closeloop.workflows.builtin.json_event import extract_fields

MAX_BODY_BYTES = mapping.MAX_BODY_BYTES
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?\Z")


class PayloadTooLarge(ApiError):
    status, code = 413, "WF_01"
    default_message = f"The body is larger than {MAX_BODY_BYTES // 1024} KB."


class UnsupportedMediaType(ApiError):
    status, code = 415, "WF_02"
    default_message = "Send JSON with Content-Type: application/json."


class FieldsDoNotFit(ApiError):
    status, code = 422, "WF_03"
    default_message = "Some mapped fields do not fit their types."


class MissingCredentials(MissingToken):
    default_message = (
        "No API token: send it in the X-API-TOKEN header, as a bearer token, or as the "
        "password of Basic auth."
    )


def trigger_problem(request: HttpRequest, error: ApiError) -> HttpResponse:
    """Problem details, with the Basic auth challenge on a 401 (the URL takes Basic auth)."""
    response = problem_response(request, error)
    if error.status == 401:
        response["WWW-Authenticate"] = 'Basic realm="Closeloop", charset="UTF-8"'
    return response


def _secret(request: HttpRequest) -> str:
    secret = request.headers.get("X-API-TOKEN", "").strip()
    if secret:
        return secret
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidToken("The Basic auth credentials are not valid base64.") from None
        _user, _, password = decoded.partition(":")
        return password.strip()
    return ""


UNKNOWN_TRIGGER = "No JSON-event workflow of your organization has this trigger URL."


def _trigger(request: HttpRequest, token: str):
    """The request's API token and the JSON-event workflow of its organization that the
    trigger URL names, if the token's user may manage it (from the process's short-lived
    cache when just seen).

    Only an allowed pair is cached, after the check. A share revoked, a member removed or
    moved to another role, a group changed or a survey given to another owner empties this
    process's cache at once (lookup_cache.connect_invalidation); another process honours it
    within lookup_cache.TTL_SECONDS, when its entry expires and the check runs again."""
    secret = _secret(request)
    if not secret:
        raise MissingCredentials()
    key = (hash_secret(secret), token)
    found = lookup_cache.triggers.get(key)
    if found is None:
        api_token = accounts_queries.active_token(secret)
        if api_token is None:
            raise InvalidToken()
        workflow = queries.workflow_for_trigger(api_token.organization, token, "json")
        if workflow is None or not permissions.may_manage(workflow, api_token.user):
            raise NotFound(UNKNOWN_TRIGGER)
        found = (api_token, workflow)
        lookup_cache.triggers.put(key, found)
    api_token, workflow = found
    accounts_actions.touch_token(api_token)
    return api_token, workflow


def _check_content_type(request: HttpRequest) -> None:
    content_type = request.META.get("CONTENT_TYPE", "")
    media_type, _, parameters = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        shown = media_type or "none"
        raise UnsupportedMediaType(
            f"The Content-Type is {shown}; send JSON with Content-Type: application/json."
        )
    charset = re.search(r"charset\s*=\s*\"?([\w-]+)", parameters, re.IGNORECASE)
    if charset and charset.group(1).lower() not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("Send JSON encoded as UTF-8.")


def _read_body(request: HttpRequest) -> str:
    body = read_body(request, MAX_BODY_BYTES, PayloadTooLarge())
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedBody("The body is not valid UTF-8.") from None


def _idempotency_key(request: HttpRequest) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise InvalidRequest(
            "The Idempotency-Key header must be 1 to 255 printable ASCII characters."
        )
    return key


@csrf_exempt
@answering_errors(trigger_problem)
def json_event(request: HttpRequest, token: str) -> HttpResponse:
    if request.method != "POST":
        response = trigger_problem(request, MethodNotAllowed("Send events with POST."))
        response["Allow"] = "POST"
        return response
    _api_token, workflow = _trigger(request, token)
    _check_content_type(request)
    text = _read_body(request)
    key = _idempotency_key(request)
    try:
        payload = mapping.parse_payload(text)
    except mapping.PayloadError as error:
        raise MalformedBody(str(error)) from None
    listening = workflow.capture_until is not None and workflow.capture_until > timezone.now()
    if listening and actions.capture_event(workflow, text):
        return JsonResponse(
            {"captured": True, "message": "Stored as the workflow's test event; not run."},
            status=202,
        )
    values, errors = extract_fields(payload, workflow.event_config)
    if errors:
        raise FieldsDoNotFit(
            " ".join(error.message for error in errors[:5]),
            details=[{"field": error.name, "message": error.message} for error in errors],
        )
    run, created = actions.start_run(
        workflow, payload=text, fields=values, dedup_key=key, source="http"
    )
    body = {"runId": run.public_id, "status": run.status}
    if not created:
        body["duplicate"] = True
        return JsonResponse(body, status=200)
    return JsonResponse(body, status=202)
