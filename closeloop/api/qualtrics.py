"""The Qualtrics v3 wire format: the success and error envelopes, and nextPage/skipToken paging.
The error envelope is the one error reply of /API/v3 (envelope_response).

{"result": ..., "meta": {"httpStatus": "200 - OK", "requestId": "<uuid4>"}}
{"meta": {"httpStatus": "401 - Unauthorized", "requestId": "...",
          "error": {"errorMessage": "...", "errorCode": "AUTH_02"}}}
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from http import HTTPStatus
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import Schema
from ninja.responses import NinjaJSONEncoder

from closeloop.api.base import ErrorFormattingAPI
from closeloop.api.errors import ApiError, InvalidRequest

ResultT = TypeVar("ResultT")


def request_id(request: HttpRequest | None = None) -> str:
    """One id per request, reused by every envelope built while answering it."""
    if request is None:
        return str(uuid.uuid4())
    if not hasattr(request, "closeloop_request_id"):
        request.closeloop_request_id = str(uuid.uuid4())
    return request.closeloop_request_id


def http_status(status: int) -> str:
    return f"{status} - {HTTPStatus(status).phrase}"


def ok(result: Any, status: int = 200, request: HttpRequest | None = None) -> dict:
    return {
        "result": result,
        "meta": {"httpStatus": http_status(status), "requestId": request_id(request)},
    }


def error_body(error: ApiError, request: HttpRequest | None = None) -> dict:
    return {
        "meta": {
            "httpStatus": error.http_status,
            "requestId": request_id(request),
            "error": {"errorMessage": error.message, "errorCode": error.code},
        }
    }


def envelope_response(request: HttpRequest, error: ApiError) -> HttpResponse:
    """The error in the Qualtrics envelope: this protocol's ErrorResponder (closeloop.api.base)."""
    return HttpResponse(
        json.dumps(error_body(error, request), cls=NinjaJSONEncoder),
        status=error.status,
        content_type="application/json; charset=utf-8",
    )


# Schemas for OpenAPI ---------------------------------------------------------------------


class Meta(Schema):
    httpStatus: str
    requestId: str


class Envelope(Schema, Generic[ResultT]):
    result: ResultT
    meta: Meta


class ErrorDetail(Schema):
    errorMessage: str
    errorCode: str


class ErrorMeta(Meta):
    error: ErrorDetail


class ErrorEnvelope(Schema):
    meta: ErrorMeta


def responses(result_schema: Any, *error_statuses: int) -> dict:
    """A ninja `response=` mapping: the success envelope plus the documented error envelopes."""
    documented = {200: Envelope[result_schema]}
    for status in (400, 401, *error_statuses):
        documented[status] = ErrorEnvelope
    return documented


# Paging ------------------------------------------------------------------------------------


def encode_skip_token(position: int) -> str:
    return base64.urlsafe_b64encode(f"p{position}".encode()).decode().rstrip("=")


def decode_skip_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if not raw.startswith("p"):
            raise ValueError(raw)
        return int(raw[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest(
            "Invalid parameter skipToken: use the nextPage URL as given."
        ) from None


def next_page_url(request: HttpRequest, position: int, **params: Any) -> str:
    query = {key: value for key, value in params.items() if value is not None}
    query["skipToken"] = encode_skip_token(position)
    return f"{settings.CLOSELOOP_BASE_URL}{request.path}?{urlencode(query)}"


class QualtricsAPI(ErrorFormattingAPI):
    """Errors on /API/v3 always come back in the Qualtrics envelope; validation errors are 400."""

    validation_status = 400

    def error_response(self, request: HttpRequest, error: ApiError) -> HttpResponse:
        return envelope_response(request, error)
