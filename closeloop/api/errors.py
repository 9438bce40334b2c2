"""API errors with stable codes, shared by /API/v3 (Qualtrics envelope) and /api/v1 (problem JSON).

Raise one of these from any endpoint or dependency; each protocol renders it in its own
format, in one module: problems.py (problem details), qualtrics.py (the v3 envelope), and so on
(see closeloop.api.base). The codes are part of the public contract: add new ones, never change
existing ones.
"""

from __future__ import annotations

from http import HTTPStatus


class ApiError(Exception):
    status: int = 400
    code: str = "REQ_01"
    default_message: str = "The request is not valid."

    def __init__(self, message: str | None = None, *, details: list[dict] | None = None) -> None:
        self.message = message or self.default_message
        self.details = details or []
        super().__init__(self.message)

    @property
    def http_status(self) -> str:
        """Qualtrics style: '401 - Unauthorized'."""
        return f"{self.status} - {HTTPStatus(self.status).phrase}"

    @property
    def title(self) -> str:
        return HTTPStatus(self.status).phrase


class InvalidRequest(ApiError):
    status, code = 400, "REQ_01"
    default_message = "The request is not valid."


class MalformedBody(ApiError):
    status, code = 400, "REQ_02"
    default_message = "The request body is not valid JSON."


class PayloadTooLarge(ApiError):
    status, code = 413, "REQ_05"
    default_message = "The request body is too large."


class MissingToken(ApiError):
    status, code = 401, "AUTH_01"
    default_message = (
        "No API token: send it in the X-API-TOKEN header (or Authorization: Bearer <token>)."
    )


class InvalidToken(ApiError):
    status, code = 401, "AUTH_02"
    default_message = "The API token is not valid or was revoked."


class Forbidden(ApiError):
    status, code = 403, "AUTH_03"
    default_message = "This API token cannot access that resource."


class NotPermitted(Forbidden):
    """The caller sees the resource but may not do this with it; the message says who can
    grant it (closeloop.surveys.permissions)."""

    status, code = 403, "AUTH_04"
    default_message = "You don't have the permission to do this."


class NotFound(ApiError):
    status, code = 404, "RES_01"
    default_message = "Not found."


class MethodNotAllowed(ApiError):
    status, code = 405, "REQ_03"
    default_message = "This method is not allowed here."


class Conflict(ApiError):
    status, code = 409, "REQ_06"
    default_message = "The request conflicts with an earlier one."


class TooManyRequests(ApiError):
    status, code = 429, "REQ_04"
    default_message = "Too many requests; slow down and retry later."


class ServerError(ApiError):
    status, code = 500, "SRV_01"
    default_message = "Something went wrong on our side; the error was logged."


_BY_STATUS: dict[int, type[ApiError]] = {
    cls.status: cls
    for cls in (
        InvalidRequest,
        InvalidToken,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        TooManyRequests,
        ServerError,
    )
}


def error_for_status(status: int, message: str | None = None) -> ApiError:
    """The closest ApiError for an HTTP status raised by ninja or a library."""
    error_class = _BY_STATUS.get(status)
    if error_class is None:
        error_class = ServerError if status >= 500 else InvalidRequest
    error = error_class(message)
    error.status = status
    return error
