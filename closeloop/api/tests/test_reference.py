"""`docs/api.md` is generated from the OpenAPI schemas and kept up to date."""

from pathlib import Path

from django.utils.module_loading import import_string

from closeloop.api.reference import render, schema_name

API_PAGE = Path(__file__).resolve().parents[3] / "docs" / "api.md"


def generated() -> str:
    """What `closeloop docs-api` prints (the command's module name has a hyphen)."""
    return import_string("closeloop.api.management.commands.docs-api.api_reference")()


def test_docs_api_md_is_up_to_date():
    assert API_PAGE.read_text() == generated(), (
        "docs/api.md is out of date: run `.venv/bin/closeloop docs-api > docs/api.md`"
    )


def test_render_is_sorted_and_names_schemas():
    schema = {
        "info": {"title": "T", "version": "1"},
        "paths": {
            "/b": {
                "post": {
                    "summary": "make b",
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/BIn"}}
                        }
                    },
                    "responses": {"201": {"description": "Created"}},
                }
            },
            "/a": {
                "get": {
                    "summary": "list a",
                    "parameters": [
                        {"name": "q", "in": "query", "schema": {"type": "string"}, "required": True}
                    ],
                    "responses": {"200": {"description": "OK"}},
                }
            },
        },
    }
    page = render([schema])
    assert page.index("`GET /a`") < page.index("`POST /b`")
    assert "Request body: BIn (application/json)" in page
    assert "| `q` | query | string | yes |" in page
    assert schema_name({"anyOf": [{"type": "integer"}, {"type": "null"}]}) == "integer | null"
