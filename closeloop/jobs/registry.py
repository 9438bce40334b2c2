"""Job handlers by kind. Each app registers its handlers in its own `jobs.py` module."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import autodiscover_modules


class PermanentError(Exception):
    """The job can never succeed (bad payload, deleted record): fail it at once, no retries."""


class RetryLater(Exception):
    """Not an error, not yet possible: run the job again after `delay_seconds`."""

    def __init__(self, delay_seconds: float, message: str = ""):
        self.delay_seconds = float(delay_seconds)
        super().__init__(message or f"retry requested in {self.delay_seconds:g} s")


@dataclass(frozen=True)
class Handler:
    kind: str
    function: Callable
    atomic: bool
    lease_seconds_override: int | None
    savepoint: bool = True
    batch: bool = False

    @property
    def lease_seconds(self) -> int:
        return self.lease_seconds_override or settings.CLOSELOOP_JOB_LEASE_SECONDS

    def __call__(self, payload: dict, job) -> None:
        if self.batch:
            self.function([job])
        else:
            self.function(payload, job)

    def run_many(self, jobs: list) -> None:
        """A batch handler's jobs in one call (each job alone for any other handler)."""
        if self.batch:
            self.function(jobs)
            return
        for job in jobs:
            self.function(job.payload, job)


_handlers: dict[str, Handler] = {}


def job_handler(
    kind: str,
    *,
    lease_seconds: int | None = None,
    atomic: bool = True,
    savepoint: bool = True,
    batch: bool = False,
):
    """Register `function(payload, job)` as the handler of jobs of this kind.

    atomic=True runs the handler in the transaction that marks the job succeeded, so its
    database effects happen exactly once. Use atomic=False for long external I/O that must not
    hold a transaction open; such handlers must be idempotent themselves.

    savepoint=False (atomic handlers that handle their own failures and touch nothing outside
    the database) skips the savepoint around each job, two round trips: if such a handler
    raises, the worker rolls back its whole chunk and runs it again with savepoints.

    batch=True (atomic handlers, implies savepoint=False) registers `function(jobs)` instead:
    the worker hands it the consecutive jobs of this kind in its chunk at once, so that it can
    do with one statement what they have in common. If it raises, the chunk is rolled back and
    run again job by job, each `function([job])` in a savepoint of its own.
    """
    if batch and not atomic:
        raise ImproperlyConfigured(f"Job kind {kind!r}: a batch handler must be atomic.")

    def register(function: Callable) -> Callable:
        existing = _handlers.get(kind)
        if existing is not None and _name(existing.function) != _name(function):
            raise ImproperlyConfigured(
                f"Job kind {kind!r} has two handlers: {_name(existing.function)} "
                f"and {_name(function)}."
            )
        _handlers[kind] = Handler(
            kind, function, atomic, lease_seconds, savepoint and not batch, batch
        )
        return function

    return register


def _name(function: Callable) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def handler_for(kind: str) -> Handler | None:
    return _handlers.get(kind)


def registered_kinds() -> list[str]:
    return sorted(_handlers)


def shortest_lease_seconds() -> int:
    leases = [handler.lease_seconds for handler in _handlers.values()]
    return min(leases, default=settings.CLOSELOOP_JOB_LEASE_SECONDS)


def autodiscover() -> None:
    """Import every installed app's `jobs` module so that its handlers register, then each
    module settings.CLOSELOOP_EXTRA_MODULES names: a plugin hook for a deployment's own
    handlers or workflow tasks (the tests' worker processes load their handlers this way)."""
    autodiscover_modules("jobs")
    for name in settings.CLOSELOOP_EXTRA_MODULES:
        importlib.import_module(name)
