"""Every error on /API/v3 uses the Qualtrics envelope: routes, methods, validation, bodies, crashes."""

import pytest
from ninja import Router, Schema

from closeloop.api.qualtrics import QualtricsAPI, decode_skip_token, encode_skip_token, ok
from closeloop.api.tests.conftest import assert_envelope_error, assert_success, get

pytestmark = pytest.mark.django_db


def test_unknown_route_is_404_envelope(client, token_a):
    for path in ("/API/v3/nope", "/API/v3/nope/deeper/", "/API/v3/"):
        assert_envelope_error(get(client, path, token_a), 404, "RES_01")


def test_unknown_route_without_token_is_still_envelope(client, org_a):
    assert_envelope_error(
        client.post("/API/v3/surveys/SV_x/nope", data="{", content_type="application/json"),
        404,
        "RES_01",
    )


def test_wrong_method_is_405_envelope(client, token_a):
    response = client.delete("/API/v3/whoami", HTTP_X_API_TOKEN=token_a)
    assert_envelope_error(response, 405, "REQ_03")
    assert "GET" in response["Allow"]


def test_validation_error_is_400_envelope(client, token_a):
    error = assert_envelope_error(get(client, "/API/v3/users?pageSize=abc", token_a), 400, "REQ_01")
    assert "pageSize" in error["errorMessage"]
    assert_envelope_error(get(client, "/API/v3/users?pageSize=1000", token_a), 400, "REQ_01")


def test_ok_helper():
    body = ok({"a": 1})
    assert body["result"] == {"a": 1}
    assert body["meta"]["httpStatus"] == "200 - OK"
    assert ok(None, status=201)["meta"]["httpStatus"] == "201 - Created"


def test_skip_token_round_trip():
    assert decode_skip_token(encode_skip_token(12345)) == 12345
    assert decode_skip_token(None) == 0


# A throwaway API mounted by a test URLconf, to reach error paths no real endpoint has yet.

test_api = QualtricsAPI(title="test", version="test", urls_namespace="api-v3-test")
router = Router()


class Thing(Schema):
    name: str
    count: int


@router.post("/things")
def create_thing(request, thing: Thing):
    return ok(thing.dict(), status=200, request=request)


@router.get("/boom")
def boom(request):
    raise RuntimeError("kaboom: secret internals")


test_api.add_router("", router)


@pytest.fixture
def error_urls(settings):
    from django.urls import clear_url_caches, path

    module = type("urlconf", (), {"urlpatterns": [path("API/v3/", test_api.urls)]})
    settings.ROOT_URLCONF = module
    clear_url_caches()
    yield
    clear_url_caches()


def test_malformed_json_is_400_envelope(client, error_urls):
    response = client.post("/API/v3/things", data="{not json", content_type="application/json")
    assert_envelope_error(response, 400, "REQ_02")


def test_body_validation_is_400_envelope(client, error_urls):
    response = client.post(
        "/API/v3/things", data={"name": "x", "count": "many"}, content_type="application/json"
    )
    error = assert_envelope_error(response, 400, "REQ_01")
    assert "count" in error["errorMessage"]


def test_valid_body_succeeds(client, error_urls):
    response = client.post(
        "/API/v3/things", data={"name": "x", "count": 2}, content_type="application/json"
    )
    assert assert_success(response) == {"name": "x", "count": 2}


def test_server_error_is_500_envelope_without_internals(client, error_urls, caplog):
    response = client.get("/API/v3/boom")
    error = assert_envelope_error(response, 500, "SRV_01")
    assert "kaboom" not in response.content.decode()
    assert "kaboom" in caplog.text
    assert error["errorCode"] == "SRV_01"


def test_a_body_over_the_upload_limit_is_a_413_envelope(client, token_a, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = client.post(
        "/API/v3/directories/POOL_none/contacts",
        data='{"firstName": "' + "x" * 4096 + '"}',
        content_type="application/json",
        HTTP_X_API_TOKEN=token_a,
    )
    assert_envelope_error(response, 413, "REQ_05")
