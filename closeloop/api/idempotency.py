"""The Idempotency-Key request header (as in the IETF httpapi draft and Stripe's API): the key a
client sends so that retrying a request after a timeout does not do it twice, and the
fingerprint of the request that the key must come with again.

    key = idempotency_key(request)          # None without the header; InvalidRequest if bad
    fingerprint = request_fingerprint(request, "distributions")
"""

from __future__ import annotations

import hashlib
import json
import re

from django.http import HttpRequest

from closeloop.api.errors import InvalidRequest, MalformedBody

HEADER = "Idempotency-Key"
MAX_LENGTH = 255
# 1 to 255 printable ASCII characters; no space at either end (HTTP would strip it).
_KEY = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?\Z")


def idempotency_key(request: HttpRequest) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _KEY.match(key):
        raise InvalidRequest(
            f"The {HEADER} header must be 1 to {MAX_LENGTH} printable ASCII characters."
        )
    return key


def request_fingerprint(request: HttpRequest, operation: str) -> str:
    """SHA-256 of the operation and the JSON body in canonical form (keys sorted, no
    whitespace): the same request sent again, however it is formatted, has the same one."""
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise MalformedBody() from None
    canonical = json.dumps(
        [operation, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
