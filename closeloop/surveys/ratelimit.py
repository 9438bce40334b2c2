"""A small fixed-window rate limit on Django's cache, for the public respondent pages.

The client address is used only as part of a hashed cache key for one minute; it is never
stored with a response.
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache

WINDOW_SECONDS = 60


def limit_per_minute() -> int:
    return getattr(settings, "CLOSELOOP_SURVEY_RATE_LIMIT", 600)


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _key(*parts: str) -> str:
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]
    window = int(time.time() // WINDOW_SECONDS)
    return f"surveys:rate:{digest}:{window}"


def hit(request, scope: str) -> bool:
    """Count one request from this client for `scope` (a survey or link); False when over."""
    limit = limit_per_minute()
    if limit <= 0:
        return True
    key = _key(client_address(request), scope)
    if cache.add(key, 1, WINDOW_SECONDS + 1):
        return True
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, WINDOW_SECONDS + 1)
        return True
    return count <= limit
