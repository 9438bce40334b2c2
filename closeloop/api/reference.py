"""The API reference page (`docs/api.md`), rendered from the OpenAPI schemas of both APIs.

Pure: takes the dicts that django-ninja's `api.get_openapi_schema()` returns and gives
Markdown, sorted by path and method so that the same endpoints always give the same page.
`closeloop docs-api > docs/api.md` writes it; `api/tests/test_reference.py` fails when the page
is out of date.
"""

from __future__ import annotations

from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")
HEADER = (
    "# API reference\n\n"
    "Generated from the OpenAPI schemas of both APIs by `closeloop docs-api > docs/api.md`;\n"
    "do not edit by hand (`closeloop/api/tests/test_reference.py` fails when it is out of date).\n"
    "Each API also serves its schema at `<base>/openapi.json` and an interactive page at\n"
    "`<base>/docs`.\n"
)


def schema_name(schema: dict[str, Any] | None) -> str:
    """`#/components/schemas/Me` → `Me`; an inline schema by its type."""
    if not schema:
        return ""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"array of {schema_name(schema.get('items')) or 'any'}"
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            return " | ".join(schema_name(part) for part in schema[combinator])
    if schema.get("type"):
        return schema["type"] + (f" ({schema['format']})" if schema.get("format") else "")
    return schema.get("title") or "object"


def body_schema(entry: dict[str, Any] | None) -> str:
    content = (entry or {}).get("content") or {}
    names = [f"{schema_name(content[kind].get('schema'))} ({kind})" for kind in sorted(content)]
    return ", ".join(names)


def cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def render_operation(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    lines = [f"### `{method.upper()} {path}`", ""]
    if operation.get("summary"):
        lines += [cell(operation["summary"]), ""]
    if operation.get("description"):
        lines += [operation["description"].strip(), ""]
    parameters = operation.get("parameters") or []
    if parameters:
        lines += ["| parameter | in | type | required | description |", "|---|---|---|---|---|"]
        for parameter in sorted(parameters, key=lambda p: (p.get("in", ""), p.get("name", ""))):
            lines.append(
                f"| `{parameter.get('name')}` | {parameter.get('in', '')} "
                f"| {cell(schema_name(parameter.get('schema')))} "
                f"| {'yes' if parameter.get('required') else 'no'} "
                f"| {cell(parameter.get('description', ''))} |"
            )
        lines.append("")
    if operation.get("requestBody"):
        lines += [f"Request body: {body_schema(operation['requestBody'])}", ""]
    responses = operation.get("responses") or {}
    if responses:
        lines += ["| status | description | body |", "|---|---|---|"]
        for status in sorted(responses):
            response = responses[status]
            lines.append(
                f"| {status} | {cell(response.get('description', ''))} "
                f"| {cell(body_schema(response))} |"
            )
        lines.append("")
    return lines


def render_api(schema: dict[str, Any]) -> list[str]:
    info = schema.get("info", {})
    lines = [f"## {info.get('title', 'API')} (version {info.get('version', '?')})", ""]
    if info.get("description"):
        lines += [info["description"].strip(), ""]
    paths = schema.get("paths", {})
    for path in sorted(paths):
        for method in METHODS:
            if method in paths[path]:
                lines += render_operation(path, method, paths[path][method])
    names = sorted(schema.get("components", {}).get("schemas", {}))
    if names:
        lines += ["Schemas: " + ", ".join(f"`{name}`" for name in names) + ".", ""]
    return lines


def render(schemas: list[dict[str, Any]]) -> str:
    """The whole page: a header, then one section per API in the order given."""
    lines = [HEADER]
    for schema in schemas:
        lines += render_api(schema)
    return "\n".join(lines).rstrip("\n") + "\n"
