"""Both APIs publish OpenAPI with the token security schemes."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url, path",
    [("/API/v3/openapi.json", "/API/v3/whoami"), ("/api/v1/openapi.json", "/api/v1/me")],
)
def test_openapi(client, url, path):
    response = client.get(url)
    assert response.status_code == 200
    schema = response.json()
    assert path in schema["paths"]
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiTokenHeader"]["name"] == "X-API-TOKEN"
    assert schemes["ApiTokenBearer"]["scheme"] == "bearer"


def test_v3_documents_envelopes(client):
    schema = client.get("/API/v3/openapi.json").json()
    responses = schema["paths"]["/API/v3/whoami"]["get"]["responses"]
    assert {"200", "400", "401"} <= set(responses)


def test_v1_docs_page(client):
    assert client.get("/api/v1/docs").status_code == 200
