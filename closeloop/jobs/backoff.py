"""When to retry a job after a transient error. Pure Python without Django, to test it alone."""

from __future__ import annotations

from datetime import datetime, timedelta

BASE_SECONDS = 5.0
CAP_SECONDS = 60.0 * 60.0
# 2**32 * 5 s is far beyond any cap; clamping keeps the arithmetic in floats' comfortable range.
_MAX_EXPONENT = 32


def delay_seconds(
    attempts: int, jitter: float, *, base: float = BASE_SECONDS, cap: float = CAP_SECONDS
) -> float:
    """Exponential delay after `attempts` failed runs, scaled by jitter in [0.5, 1.0].

    Jitter spreads retries of jobs that failed together (an outage) so they do not return
    together.
    """
    exponent = min(max(attempts, 0), _MAX_EXPONENT)
    return min(cap, base * 2**exponent) * jitter


def next_run_after(
    *,
    now: datetime,
    created_at: datetime,
    attempts: int,
    horizon_seconds: float,
    jitter: float,
    requested_delay: float | None = None,
) -> datetime | None:
    """The next run time, or None when it would fall past the retry horizon (the job is dead).

    `requested_delay` is a handler's own RetryLater delay, used instead of the backoff.
    """
    delay = delay_seconds(attempts, jitter) if requested_delay is None else requested_delay
    candidate = now + timedelta(seconds=max(delay, 0.0))
    if candidate > created_at + timedelta(seconds=horizon_seconds):
        return None
    return candidate
