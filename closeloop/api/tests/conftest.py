"""API test helpers: tokens for org_a / org_b and envelope assertions."""

from __future__ import annotations

import uuid

import pytest

from closeloop.accounts import actions


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def token_a(org_a) -> str:
    return actions.create_api_token(*org_a, "tests")[1]


@pytest.fixture
def token_b(org_b) -> str:
    return actions.create_api_token(*org_b, "tests")[1]


def get(client, path: str, token: str | None = None, **headers):
    if token is not None:
        headers["HTTP_X_API_TOKEN"] = token
    return client.get(path, **headers)


def assert_success(response, status: int = 200) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["meta"]["httpStatus"].startswith(f"{status} - ")
    uuid.UUID(body["meta"]["requestId"], version=4)
    return body["result"]


def assert_envelope_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"meta"}
    meta = body["meta"]
    assert meta["httpStatus"].startswith(f"{status} - ")
    uuid.UUID(meta["requestId"], version=4)
    assert meta["error"]["errorMessage"]
    if code is not None:
        assert meta["error"]["errorCode"] == code
    return meta["error"]


def assert_problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code
    return body
