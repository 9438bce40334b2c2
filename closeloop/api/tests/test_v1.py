"""/api/v1: same token auth, plain JSON results and RFC 9457 problem details for errors."""

import pytest

from closeloop.api.tests.conftest import assert_problem

pytestmark = pytest.mark.django_db


def test_me(client, org_a, token_a):
    response = client.get("/api/v1/me", HTTP_X_API_TOKEN=token_a)
    assert response.status_code == 200
    assert response.json() == {
        "userId": org_a[1].public_id,
        "email": "owner@acme.test",
        "firstName": "Acme",
        "lastName": "Owner",
        "role": "owner",
        "organizationId": "acme-corp",
        "organizationName": "Acme Corp",
    }


def test_me_with_bearer_and_trailing_slash(client, token_a):
    response = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {token_a}")
    assert response.json()["email"] == "owner@acme.test"


def test_missing_and_wrong_token_are_problems(client, org_a):
    body = assert_problem(client.get("/api/v1/me"), 401, "AUTH_01")
    assert body["title"] == "Unauthorized"
    assert body["instance"] == "/api/v1/me"
    assert_problem(client.get("/api/v1/me", HTTP_X_API_TOKEN="nope"), 401, "AUTH_02")


def test_unknown_route_and_method_are_problems(client, token_a):
    assert_problem(client.get("/api/v1/nothing-here", HTTP_X_API_TOKEN=token_a), 404, "RES_01")
    assert_problem(client.post("/api/v1/me", HTTP_X_API_TOKEN=token_a), 405, "REQ_03")


def test_validation_error_is_422_problem(client, settings):
    from django.urls import clear_url_caches, path
    from ninja import Query, Router, Schema

    from closeloop.api.problems import ProblemAPI

    class Params(Schema):
        count: int

    api = ProblemAPI(title="t", version="t1", urls_namespace="api-v1-test")
    router = Router()

    @router.get("/count")
    def count(request, params: Query[Params]):
        return {"count": params.count}

    api.add_router("", router)
    settings.ROOT_URLCONF = type("urlconf", (), {"urlpatterns": [path("api/v1/", api.urls)]})
    clear_url_caches()
    try:
        body = assert_problem(client.get("/api/v1/count?count=lots"), 422, "REQ_01")
        assert body["errors"][0]["location"] == ["query", "count"]
        assert client.get("/api/v1/count?count=3").json() == {"count": 3}
    finally:
        clear_url_caches()
