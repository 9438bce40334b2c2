"""Every API entry point answers its errors through its protocol's one responder.

A protocol has one module that renders an ApiError (closeloop.api.errors) as its reply, an
`ErrorResponder` (request, error) → HttpResponse: problems.problem_response (RFC 9457, /api/v1
and the trigger URLs), qualtrics.envelope_response (the /API/v3 envelope); a SOAP receiver's
would be a Fault responder. Entry points use it in one of two ways:

- a NinjaAPI subclasses ErrorFormattingAPI and answers with it from error_response: raised
  errors, validation errors, ninja's own HttpErrors, unknown routes, wrong methods and
  unexpected exceptions all go through it;
- a plain Django view is decorated with answering_errors(responder).

api_error_for is the one mapping of the exceptions both meet to ApiErrors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import re_path
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from closeloop.api.errors import (
    ApiError,
    InvalidRequest,
    MalformedBody,
    MethodNotAllowed,
    MissingToken,
    NotFound,
    PayloadTooLarge,
    ServerError,
    error_for_status,
)

logger = logging.getLogger("closeloop.api")

ErrorResponder = Callable[[HttpRequest, ApiError], HttpResponse]


def read_body(request: HttpRequest, limit: int, too_large: ApiError) -> bytes:
    """The body of a request that receives events, at most `limit` bytes: a larger declared
    Content-Length is refused before anything is read, and no more than limit + 1 bytes are
    ever read. InvalidRequest for a Content-Length that is no number; `too_large` when over."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise InvalidRequest("The Content-Length header is not a number.") from None
    if declared > limit:
        raise too_large
    body = request.read(limit + 1)
    if len(body) > limit:
        raise too_large
    return body


def describe_validation_errors(errors: list[dict]) -> str:
    """'Invalid parameter pageSize (query): Input should be a valid integer' for the first few."""
    parts = []
    for error in errors[:3]:
        location = [str(part) for part in error.get("loc", ())]
        where = location[0] if location else "request"
        name = ".".join(location[1:]) or where
        parts.append(f"{name} ({where}): {error.get('msg', 'invalid')}")
    return "Invalid parameter " + "; ".join(parts) if parts else InvalidRequest.default_message


def validation_error(exc: ValidationError, status: int) -> ApiError:
    details = [
        {"location": [str(part) for part in error.get("loc", ())], "message": error.get("msg", "")}
        for error in exc.errors
    ]
    error = InvalidRequest(describe_validation_errors(exc.errors), details=details)
    error.status = status
    return error


def api_error_for(exc: Exception, *, validation_status: int = 400) -> ApiError | None:
    """The ApiError an exception raised while answering a request stands for; None when it
    is unexpected (a bug: the caller logs it or lets it through)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, AuthenticationError):
        return MissingToken()
    if isinstance(exc, HttpError):
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
            return MalformedBody()
        return error_for_status(exc.status_code, exc.message)
    if isinstance(exc, ValidationError):
        return validation_error(exc, validation_status)
    if isinstance(exc, Http404):
        return NotFound()
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    return None


def answering_errors(responder: ErrorResponder):
    """A plain Django view's errors answered by its protocol's responder: those api_error_for
    knows; any other exception goes on to Django's own handling."""

    def decorate(view):
        @wraps(view)
        def view_answering_errors(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            try:
                return view(request, *args, **kwargs)
            except Exception as exc:
                error = api_error_for(exc)
                if error is None:
                    raise
                return responder(request, error)

        return view_answering_errors

    return decorate


class ErrorFormattingAPI(NinjaAPI):
    validation_status = 400

    def error_response(self, request: HttpRequest, error: ApiError) -> HttpResponse:
        """The API's protocol responder (see the module's docstring)."""
        raise NotImplementedError

    def set_default_exception_handlers(self) -> None:
        self.add_exception_handler(Exception, self.on_any_exception)

    def on_any_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse:
        error = api_error_for(exc, validation_status=self.validation_status)
        if error is None:
            logger.exception("Unhandled error on %s %s", request.method, request.path)
            error = ServerError()
        return self.error_response(request, error)

    # URLs: every route, plus a catch-all, answers errors in this API's format -------------

    def _get_urls(self):
        patterns = super()._get_urls()
        for pattern in patterns:
            pattern.callback = self._formatting_errors(pattern.callback)
        patterns.append(
            re_path(r"^.*$", self._formatting_errors(self._unknown_route), name="unknown-route")
        )
        return patterns

    def _unknown_route(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return self.error_response(request, NotFound(f"There is no endpoint at {request.path}."))

    def _formatting_errors(self, view):
        @wraps(view)
        def view_with_formatted_errors(request, *args, **kwargs):
            try:
                response = view(request, *args, **kwargs)
            except Http404:
                return self.error_response(request, NotFound())
            if isinstance(response, HttpResponseNotAllowed):
                allowed = response.get("Allow", "")
                error = MethodNotAllowed(f"{request.method} is not allowed here; use {allowed}.")
                formatted = self.error_response(request, error)
                formatted["Allow"] = allowed
                return formatted
            return response

        view_with_formatted_errors.csrf_exempt = True
        return view_with_formatted_errors
