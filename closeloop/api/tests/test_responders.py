"""One responder per protocol: plain views answer errors through it like the NinjaAPIs do."""

import json

import pytest
from django.http import Http404, HttpResponse
from django.test import RequestFactory

from closeloop.api.base import answering_errors
from closeloop.api.errors import Forbidden
from closeloop.api.problems import problem_response
from closeloop.api.qualtrics import envelope_response


def text_fault(request, error) -> HttpResponse:
    """A stand-in for another protocol (a SOAP Fault): any (request, error) → response."""
    return HttpResponse(f"{error.code}: {error.message}", status=error.status)


def test_a_plain_view_answers_known_errors_with_its_responder():
    @answering_errors(text_fault)
    def view(request, kind):
        raise Forbidden("not yours") if kind == "forbidden" else Http404()

    request = RequestFactory().post("/receiver")
    assert view(request, "forbidden").content == b"AUTH_03: not yours"
    missing = view(request, "missing")
    assert (missing.status_code, missing.content) == (404, b"RES_01: Not found.")


def test_an_unexpected_error_goes_on_to_django():
    @answering_errors(text_fault)
    def view(request):
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):
        view(RequestFactory().get("/receiver"))


def test_problem_and_envelope_responders():
    request = RequestFactory().get("/somewhere")
    problem = problem_response(request, Forbidden())
    assert problem["Content-Type"] == "application/problem+json"
    assert json.loads(problem.content)["code"] == "AUTH_03"
    envelope = envelope_response(request, Forbidden())
    assert envelope.status_code == 403
    assert json.loads(envelope.content)["meta"]["error"]["errorCode"] == "AUTH_03"
