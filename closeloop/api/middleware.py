"""Path normalisation for the APIs, before URL resolution.

Qualtrics serves /API/v3/whoami and /API/v3/whoami/ alike, and a path with doubled slashes
as the single-slash one: the Python client QualtricsAPI (Jaseibert/QualtricsAPI, its
Credentials.header_setup) builds `…/API/v3/directories/POOL_…/` and then appends
`/contacts`, so every directory call it makes reads `/directories/POOL_…//contacts`.
"""

from __future__ import annotations

import re

_API_PREFIXES = ("/API/v3/", "/api/v1/")
_SLASHES = re.compile(r"//+")


def normalized_api_path(path: str) -> str:
    """`path` with runs of slashes collapsed and no trailing slash, under /API/v3/ (and
    /api/v1/ for the trailing slash); any other path unchanged."""
    if path.startswith("/API/v3/"):
        path = _SLASHES.sub("/", path)
    if path.startswith(_API_PREFIXES) and len(path) > 8 and path.endswith("/"):
        path = path.rstrip("/")
    return path


class ApiTrailingSlashMiddleware:
    """Route `/API/v3/a//b/` as `/API/v3/a/b` (and `/api/v1/x/` as `/api/v1/x`)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = normalized_api_path(request.path_info)
        if path != request.path_info:
            request.path_info = path
            # request.path too, so that nextPage links and logs name the canonical path.
            request.path = request.META.get("SCRIPT_NAME", "").rstrip("/") + path
        return self.get_response(request)
