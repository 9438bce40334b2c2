"""Per-process caches of hot lookups, each entry kept for TTL_SECONDS.

- triggers: (API token hash, trigger URL token) → (token, workflow), for the trigger URL:
  authenticating a token, finding the URL's workflow and checking that the token's user may
  manage it are most of an accepted event's time. Only an allowed pair is stored, after the
  check.
- workflows: (workflow id, revision) → the workflow with its organization and owner, for the
  worker's tasks.
- default_directories: organization id → its default directory, for the XM Directory task.

A change in this process (a revoked token, a member removed or given another role, a survey
share given or revoked, a member group's members changed or the group deleted, a survey saved
(a new owner), a workflow edited, disabled or given a new URL, a directory's settings) empties
every cache at once through model signals; other processes see it within TTL_SECONDS: a
revoked share stops a trigger URL at most TTL_SECONDS later. A change written without model
signals (a queryset `.update()`) is likewise seen within TTL_SECONDS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

from django.contrib.auth import get_user_model
from django.db.models.signals import m2m_changed, post_delete, post_save

from closeloop.accounts.models import ApiToken, MemberGroup, Membership, Organization
from closeloop.directory.models import Directory
from closeloop.surveys.models import Survey, SurveyShare
from closeloop.workflows.models import Workflow

TTL_SECONDS = 2.0
MAX_ENTRIES = 1000


class TtlCache:
    """A small dict whose entries expire; thread-safe for gunicorn's threads."""

    def __init__(
        self,
        ttl_seconds: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[Hashable, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> object | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if self._clock() >= expires_at:
            with self._lock:
                self._entries.pop(key, None)
            return None
        return value

    def put(self, key: Hashable, value: object) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # rare (many URLs or tokens at once): start over
            self._entries[key] = (self._clock() + self.ttl_seconds, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


triggers = TtlCache(TTL_SECONDS, MAX_ENTRIES)
workflows = TtlCache(TTL_SECONDS, MAX_ENTRIES)
default_directories = TtlCache(TTL_SECONDS, MAX_ENTRIES)


def forget_all(**_signal_arguments) -> None:
    triggers.clear()
    workflows.clear()
    default_directories.clear()


def connect_invalidation() -> None:
    """Empty the cache when anything a cached lookup depends on changes in this process."""
    models = (
        ApiToken,
        Membership,
        Organization,
        get_user_model(),
        Workflow,
        Directory,
        Survey,
        SurveyShare,
        MemberGroup,
    )
    for model in models:
        post_save.connect(forget_all, sender=model, dispatch_uid=f"lookup_cache.{model}")
        post_delete.connect(forget_all, sender=model, dispatch_uid=f"lookup_cache.d.{model}")
    members = MemberGroup.members.through
    m2m_changed.connect(forget_all, sender=members, dispatch_uid="lookup_cache.m2m.group")
