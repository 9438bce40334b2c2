"""RFC 9457 problem details (application/problem+json): the one error reply of /api/v1 and of
the trigger URLs (closeloop.workflows.inbound)."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from ninja import Schema
from ninja.responses import NinjaJSONEncoder

from closeloop.api.base import ErrorFormattingAPI
from closeloop.api.errors import ApiError

PROBLEM_CONTENT_TYPE = "application/problem+json"


def problem_body(error: ApiError, request: HttpRequest) -> dict:
    """`type` is about:blank (the status says it all) and `code` is the stable machine code."""
    body = {
        "type": "about:blank",
        "title": error.title,
        "status": error.status,
        "detail": error.message,
        "instance": request.path,
        "code": error.code,
    }
    if error.details:
        body["errors"] = error.details
    return body


def problem_response(request: HttpRequest, error: ApiError) -> HttpResponse:
    """The error as problem details: this protocol's ErrorResponder (closeloop.api.base)."""
    return HttpResponse(
        json.dumps(problem_body(error, request), cls=NinjaJSONEncoder),
        status=error.status,
        content_type=PROBLEM_CONTENT_TYPE,
    )


class Problem(Schema):
    type: str
    title: str
    status: int
    detail: str
    instance: str
    code: str


def responses(success_schema, *error_statuses: int) -> dict:
    documented = {200: success_schema}
    for status in (401, *error_statuses):
        documented[status] = Problem
    return documented


class ProblemAPI(ErrorFormattingAPI):
    validation_status = 422

    def error_response(self, request: HttpRequest, error: ApiError) -> HttpResponse:
        return problem_response(request, error)
