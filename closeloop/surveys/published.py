"""Published survey versions kept in process memory, for the respondent pages.

A version never changes once published, so each web process reads its definition once and
keeps it, with the translated copies of it, instead of decoding the JSON on every page.
Entries are keyed by id *and* publication time, so that a reused id (a database restored
from a backup, test databases) can never serve another version's definition.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from closeloop.surveys import definition as schema
from closeloop.surveys.models import SurveyVersion

MAX_VERSIONS = 500  # a few MB at most; cleared whole when full (publishing is rare)

_versions: dict[tuple[int, datetime], SurveyVersion] = {}
_translated: dict[tuple[int, datetime, str], dict] = {}
_fragments: dict[tuple[int, datetime, str, str], str] = {}
_lock = threading.Lock()


def version(version_id: int, published_at: datetime) -> SurveyVersion:
    """The version with its definition; read from the database once per process."""
    key = (version_id, published_at)
    found = _versions.get(key)
    if found is None:
        found = SurveyVersion.objects.get(pk=version_id)
        remember(found)
    return found


def remember(found: SurveyVersion) -> SurveyVersion:
    with _lock:
        if len(_versions) >= MAX_VERSIONS:
            _versions.clear()
            _translated.clear()
            _fragments.clear()
        _versions[(found.pk, found.published_at)] = found
    return found


def translated(found: SurveyVersion, language: str) -> dict:
    """The version's definition in `language` (see definition.translated). Callers must not
    change the returned dict: it is shared by every request of this process."""
    key = (found.pk, found.published_at, language or "")
    result = _translated.get(key)
    if result is None:
        result = schema.translated(found.definition, language)
        with _lock:
            _translated[key] = result
    return result


def fragment(found: SurveyVersion, language: str, name: str, render: Callable[[], str]) -> str:
    """Markup that depends only on the version and language (a question nobody answered yet,
    without piped text), rendered once per process."""
    key = (found.pk, found.published_at, language or "", name)
    html = _fragments.get(key)
    if html is None:
        html = render()
        with _lock:
            _fragments[key] = html
    return html


def forget_all() -> None:
    with _lock:
        _versions.clear()
        _translated.clear()
        _fragments.clear()
