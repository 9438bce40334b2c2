"""The Segment event receiver: POST (or PUT, PATCH) /inbound/segment/<trigger token>.

What arrives: a Segment Spec event as a JSON object, or a JSON array of them (the Webhooks
(Actions) destination in batch mode), or the Qualtrics destination's Start a workflow
`eventPayload`. The URL's token (288 random bits) names the workflow and is its first secret.
On top of it:

- `X-API-TOKEN` (what the Qualtrics destination sends), when present, must be an API token of
  the workflow's organization, or the request is refused with 401;
- with a shared secret set on the workflow, a request must carry `X-Signature`, the hex
  HMAC-SHA1 of the body (of the first event's JSON, for a Webhooks (Actions) batch) with that
  secret, checked in constant time, or a valid API token of the organization; a wrong or
  missing signature is a 401.

Every event of the body is checked and mapped first; then all of them are stored in one
statement (deduplicated on messageId), and only then does the answer say 2xx: 202 with the
run id (one event) or the counts (a batch); 200 when everything was a redelivery. A body that
cannot be accepted as a whole stores nothing and gets RFC 9457 problem details: 400 (not
JSON, not events), 401, 404 (no such URL), 405, 413 (over the size or batch limits), 415
(not JSON), 422 (a mapped field does not fit its type); 503 when it could not be stored, so
that Segment delivers it again. The last refused delivery is noted for the workflow's pages.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from closeloop.accounts import actions as accounts_actions
from closeloop.accounts import queries as accounts_queries
from closeloop.accounts.models import hash_secret
from closeloop.api.base import read_body
from closeloop.api.errors import (
    ApiError,
    InvalidToken,
    MalformedBody,
    MethodNotAllowed,
    NotFound,
)
from closeloop.api.problems import problem_response
from closeloop.integrations.segment import actions, queries, spec
from closeloop.workflows import actions as workflow_actions
from closeloop.workflows import lookup_cache
from closeloop.workflows.inbound import FieldsDoNotFit, UnsupportedMediaType

log = logging.getLogger("closeloop.segment")

METHODS = ("POST", "PUT", "PATCH")  # the Webhooks (Actions) mapping's Method choices


class SignatureMismatch(ApiError):
    status, code = 401, "SEG_01"
    default_message = "The X-Signature header is not the HMAC-SHA1 of the body with the secret."


class BodyTooLarge(ApiError):
    status, code = 413, "SEG_02"
    default_message = f"The body is larger than {spec.MAX_BODY_BYTES // (1024 * 1024)} MB."


class NotSegmentEvents(ApiError):
    status, code = 400, "SEG_03"
    default_message = "The body is not a Segment event or a JSON array of them."


class NotStored(ApiError):
    status, code = 503, "SEG_04"
    default_message = "The events could not be stored; deliver them again."


_REFUSALS = {
    spec.BodyTooLarge: BodyTooLarge,
    spec.TooManyEvents: BodyTooLarge,
    spec.EventTooLarge: BodyTooLarge,
    spec.NotAnEvent: NotSegmentEvents,
}


def segment_problem(request: HttpRequest, error: ApiError) -> HttpResponse:
    response = problem_response(request, error)
    if error.status == 401:
        response["WWW-Authenticate"] = 'HMAC-SHA1 realm="Closeloop", header="X-Signature"'
    if error.status == 503:
        response["Retry-After"] = "30"
    return response


def _receiving(token: str):
    """(workflow, its shared secret or None or queries.UNREADABLE), briefly cached."""
    key = ("segment", token)
    found = lookup_cache.triggers.get(key)
    if found is None:
        workflow = queries.workflow_at_url(token)
        if workflow is None:
            raise NotFound("No Twilio Segment workflow has this URL.")
        found = (workflow, queries.secret_of(workflow))
        lookup_cache.triggers.put(key, found)
    return found


def _api_token_valid(request: HttpRequest, workflow) -> bool:
    """Whether the request carries an API token of the workflow's organization; False when
    it carries none; InvalidToken when it carries another one."""
    secret = request.headers.get("X-API-TOKEN", "").strip()
    if not secret:
        return False
    key = (hash_secret(secret), "segment-token")
    api_token = lookup_cache.triggers.get(key)
    if api_token is None:
        api_token = accounts_queries.active_token(secret)
        if api_token is None:
            raise InvalidToken()
        lookup_cache.triggers.put(key, api_token)
    if api_token.organization_id != workflow.organization_id:
        raise InvalidToken("The API token is not one of this workflow's organization.")
    accounts_actions.touch_token(api_token)
    return True


def _check_signature(request: HttpRequest, secret, body: bytes, text: str, has_token: bool):
    """Before the body is parsed: a request a secret does not admit is refused unread."""
    signature = request.headers.get("X-Signature", "").strip()
    if secret is None:
        return  # no secret set: the URL alone admits the request
    if secret is queries.UNREADABLE:
        raise SignatureMismatch(
            "The workflow's shared secret cannot be read with the configured encryption keys "
            "(CLOSELOOP_ENCRYPTION_KEYS changed): set the secret again."
        )
    if not signature:
        if has_token:
            return  # the Qualtrics destination: an API token of the organization instead
        raise SignatureMismatch(
            "This workflow checks signatures: send X-Signature (set the same Shared Secret "
            "in the Segment destination's settings)."
        )
    if spec.signature_matches(secret, body, signature):
        return
    first = spec.first_event_text(text)
    if not first or not spec.signature_matches(secret, first.encode("utf-8"), signature):
        raise SignatureMismatch(
            "The X-Signature header does not match the body: the Shared Secret in Segment and "
            "the workflow's secret differ, or the body was changed on the way."
        )


def _check_content_type(request: HttpRequest) -> None:
    media_type = request.META.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise UnsupportedMediaType(
            f"The Content-Type is {media_type or 'none'}; Segment sends application/json."
        )


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedBody("The body is not valid UTF-8.") from None


def _events(text: str) -> tuple[list[spec.Event], bool]:
    try:
        return spec.parse_events(text)
    except spec.SegmentError as error:
        raise _REFUSALS.get(type(error), MalformedBody)(str(error)) from None


def _runs(workflow, events: list[spec.Event], is_batch: bool) -> list[tuple[str, dict, str]]:
    """(payload, fields, dedup key) of every event, the first of each messageId only;
    FieldsDoNotFit naming the events whose mapped fields do not fit their types."""
    runs, keys, problems = [], set(), []
    fields = spec.FieldMapping(workflow.event_config.get("fields") or [])
    for position, event in enumerate(events, start=1):
        values, errors = fields.extract(event.data)
        for error in errors:
            where = f"Event {position}: " if is_batch else ""
            problems.append(
                {"event": position, "field": error.name, "message": where + error.message}
            )
        key = spec.dedup_key(event)
        if key not in keys:
            keys.add(key)
            runs.append((event.text, values, key))
    if problems:
        raise FieldsDoNotFit(" ".join(item["message"] for item in problems[:5]), details=problems)
    return runs


def _store(workflow, runs, is_batch: bool) -> JsonResponse:
    try:
        if not is_batch:
            payload, fields, key = runs[0]
            run, created = workflow_actions.start_run(
                workflow, payload=payload, fields=fields, dedup_key=key, source="segment"
            )
            body = {"runId": run.public_id, "status": run.status}
            if not created:
                return JsonResponse({**body, "duplicate": True}, status=200)
            return JsonResponse(body, status=202)
        created = workflow_actions.start_runs(workflow, runs, source="segment")
    except DatabaseError:
        log.exception("segment events for workflow %s not stored", workflow.public_id)
        raise NotStored() from None
    body = {"received": len(runs), "new": created, "duplicates": len(runs) - created}
    return JsonResponse(body, status=202 if created else 200)


def _receive(request: HttpRequest, workflow, secret) -> HttpResponse:
    body = read_body(request, spec.MAX_BODY_BYTES, BodyTooLarge())
    if not body.strip():
        raise MalformedBody("The body is empty: send a Segment event or a JSON array of them.")
    _check_content_type(request)
    has_token = _api_token_valid(request, workflow)
    text = _text(body)
    _check_signature(request, secret, body, text, has_token)
    events, is_batch = _events(text)
    listening = workflow.capture_until is not None and workflow.capture_until > timezone.now()
    if listening and workflow_actions.capture_event(workflow, events[0].text):
        return JsonResponse(
            {"captured": True, "message": "Stored as the workflow's test event; not run."},
            status=202,
        )
    runs = _runs(workflow, events, is_batch)
    response = _store(workflow, runs, is_batch)
    log.info(
        "segment: %d events for %s (%s)", len(events), workflow.public_id, response.status_code
    )
    return response


@csrf_exempt
def segment_event(request: HttpRequest, token: str) -> HttpResponse:
    if request.method not in METHODS:
        response = segment_problem(request, MethodNotAllowed("Segment sends events with POST."))
        response["Allow"] = ", ".join(METHODS)
        return response
    try:
        workflow, secret = _receiving(token)
    except ApiError as error:
        return segment_problem(request, error)
    try:
        return _receive(request, workflow, secret)
    except ApiError as error:
        if error.status < 500:
            try:
                actions.note_refusal(workflow, error.status, error.message)
            except DatabaseError:  # the answer matters more than the note
                log.exception("refusal of a delivery to %s not noted", workflow.public_id)
        return segment_problem(request, error)
