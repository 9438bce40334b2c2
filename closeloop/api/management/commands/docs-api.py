"""`closeloop docs-api > docs/api.md`: the API reference page, from both APIs' OpenAPI schemas.

The APIs are named by dotted path (as Django names `ROOT_URLCONF`): this command belongs to the
API plumbing, below the modules that assemble the APIs from every app's routers.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils.module_loading import import_string

from closeloop.api.reference import render

APIS = ("closeloop.api.v1.api", "closeloop.api.v3.api")


def api_reference(apis: tuple[str, ...] = APIS) -> str:
    return render([import_string(path).get_openapi_schema() for path in apis])


class Command(BaseCommand):
    help = "Print the API reference (Markdown) generated from the OpenAPI schemas."

    def handle(self, *args, **options) -> None:
        self.stdout.write(api_reference(), ending="")
