"""A NinjaAPI whose every error goes through one formatter: raised errors, validation errors,
ninja's own HttpErrors, unknown routes, wrong methods and unexpected exceptions."""

from __future__ import annotations

import logging
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


def describe_validation_errors(errors: list[dict]) -> str:
    """'Invalid parameter pageSize (query): Input should be a valid integer' for the first few."""
    parts = []
    for error in errors[:3]:
        location = [str(part) for part in error.get("loc", ())]
        where = location[0] if location else "request"
        name = ".".join(location[1:]) or where
        parts.append(f"{name} ({where}): {error.get('msg', 'invalid')}")
    return "Invalid parameter " + "; ".join(parts) if parts else InvalidRequest.default_message


class ErrorFormattingAPI(NinjaAPI):
    validation_status = 400

    def error_response(self, request: HttpRequest, error: ApiError) -> HttpResponse:
        raise NotImplementedError

    # Exceptions ------------------------------------------------------------------------

    def set_default_exception_handlers(self) -> None:
        self.add_exception_handler(ApiError, self.error_response)
        self.add_exception_handler(AuthenticationError, self._on_authentication_error)
        self.add_exception_handler(HttpError, self._on_http_error)
        self.add_exception_handler(ValidationError, self._on_validation_error)
        self.add_exception_handler(Http404, self._on_not_found)
        self.add_exception_handler(RequestDataTooBig, self._on_too_large)
        self.add_exception_handler(Exception, self._on_unexpected)

    def _on_authentication_error(self, request, exc: AuthenticationError) -> HttpResponse:
        return self.error_response(request, MissingToken())

    def _on_http_error(self, request, exc: HttpError) -> HttpResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
            return self.error_response(request, MalformedBody())
        return self.error_response(request, error_for_status(exc.status_code, exc.message))

    def _on_validation_error(self, request, exc: ValidationError) -> HttpResponse:
        details = [
            {
                "location": [str(part) for part in error.get("loc", ())],
                "message": error.get("msg", ""),
            }
            for error in exc.errors
        ]
        error = InvalidRequest(describe_validation_errors(exc.errors), details=details)
        error.status = self.validation_status
        return self.error_response(request, error)

    def _on_not_found(self, request, exc: Http404) -> HttpResponse:
        return self.error_response(request, NotFound())

    def _on_too_large(self, request, exc: RequestDataTooBig) -> HttpResponse:
        return self.error_response(request, PayloadTooLarge())

    def _on_unexpected(self, request, exc: Exception) -> HttpResponse:
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return self.error_response(request, ServerError())

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
