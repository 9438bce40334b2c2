"""Makes bulk replays slow in a worker subprocess that lists this module in
CLOSELOOP_EXTRA_MODULES: batches of 10 originals, each taking at least 50 ms, so that a test
can kill the worker while a bulk replay is half done."""

from __future__ import annotations

import time

from closeloop.workflows import replays

BATCH = 10
PAUSE_SECONDS = 0.05

replays.BULK_BATCH = BATCH
_filters_of = replays.filters_of


def slow_filters_of(bulk):
    time.sleep(PAUSE_SECONDS)
    return _filters_of(bulk)


replays.filters_of = slow_filters_of
