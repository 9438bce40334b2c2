"""Recurring jobs. Any number of schedulers may run: idempotency keys per time slot stop doubles."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.utils import timezone

from closeloop.jobs import actions
from closeloop.jobs.registry import job_handler

log = logging.getLogger("closeloop.jobs")


@dataclass(frozen=True)
class Recurring:
    name: str
    every: timedelta

    def slot(self, now: datetime) -> int:
        return int(now.timestamp() // self.every.total_seconds())

    def idempotency_key(self, slot: int) -> str:
        return f"recurring:{self.name}:{slot}"


_recurring: dict[str, Recurring] = {}


def recurring(
    name: str, *, every: timedelta, lease_seconds: int | None = None, atomic: bool = True
):
    """Register `function(payload, job)` as the handler of kind `name`, enqueued every `every`."""
    if every.total_seconds() < 1:
        raise ImproperlyConfigured(f"Recurring job {name!r} must run at most once a second.")

    def register(function):
        job_handler(name, lease_seconds=lease_seconds, atomic=atomic)(function)
        _recurring[name] = Recurring(name, every)
        return function

    return register


def recurring_jobs() -> list[Recurring]:
    return list(_recurring.values())


def tick(now: datetime | None = None) -> list[str]:
    """Enqueue every recurring job whose current slot has no job yet; return their names."""
    now = now or timezone.now()
    started = []
    for entry in _recurring.values():
        slot = entry.slot(now)
        _job, created = actions.enqueue_unique(
            entry.name,
            {"slot": slot},
            idempotency_key=entry.idempotency_key(slot),
            run_after=now,
        )
        if created:
            started.append(entry.name)
    return started


class Scheduler:
    """Calls tick() at most every `interval` seconds; a database hiccup only skips a tick."""

    def __init__(self, interval: float = 5.0):
        self.interval = interval
        self._next_tick = 0.0

    def tick_if_due(self) -> list[str]:
        if time.monotonic() < self._next_tick:
            return []
        self._next_tick = time.monotonic() + self.interval
        try:
            started = tick()
        except DatabaseError as error:
            log.warning("Scheduler tick failed (%s); trying again in %g s", error, self.interval)
            return []
        for name in started:
            log.info("Scheduled recurring job %s", name)
        return started
