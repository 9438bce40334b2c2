from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from closeloop.jobs.backoff import BASE_SECONDS, CAP_SECONDS, delay_seconds, next_run_after

DAY = 24 * 60 * 60
START = datetime(2025, 1, 1, tzinfo=UTC)

attempts = st.integers(min_value=0, max_value=10_000)
jitters = st.floats(min_value=0.5, max_value=1.0)


def test_delay_doubles_from_the_base_without_jitter():
    assert [delay_seconds(n, 1.0) for n in range(1, 5)] == [10.0, 20.0, 40.0, 80.0]


def test_delay_stops_at_the_cap():
    assert delay_seconds(30, 1.0) == CAP_SECONDS
    assert delay_seconds(10**9, 1.0) == CAP_SECONDS


@given(attempts, jitters)
def test_delay_grows_with_attempts(attempt, jitter):
    assert delay_seconds(attempt + 1, jitter) >= delay_seconds(attempt, jitter)


@given(attempts, jitters)
def test_delay_is_bounded_by_half_base_and_cap(attempt, jitter):
    assert BASE_SECONDS * 0.5 <= delay_seconds(attempt, jitter) <= CAP_SECONDS


@given(st.lists(jitters, min_size=1, max_size=400))
def test_retries_stop_at_the_horizon(jitter_sequence):
    """Failing over and over, a job is retried only inside the horizon, then never again."""
    now = START
    for attempt, jitter in enumerate(jitter_sequence, start=1):
        retry_at = next_run_after(
            now=now, created_at=START, attempts=attempt, horizon_seconds=DAY, jitter=jitter
        )
        if retry_at is None:
            assert now + timedelta(seconds=delay_seconds(attempt, jitter)) > START + timedelta(
                seconds=DAY
            )
            return
        assert now < retry_at <= START + timedelta(seconds=DAY)
        now = retry_at
    # Only reachable if the list is too short to exhaust a day: at most one hour per step.
    assert len(jitter_sequence) < DAY / (CAP_SECONDS * 0.5) + 20


def test_a_requested_delay_replaces_the_backoff():
    retry_at = next_run_after(
        now=START, created_at=START, attempts=7, horizon_seconds=DAY, jitter=0.5, requested_delay=30
    )
    assert retry_at == START + timedelta(seconds=30)


def test_a_requested_delay_past_the_horizon_means_dead():
    retry_at = next_run_after(
        now=START,
        created_at=START,
        attempts=1,
        horizon_seconds=DAY,
        jitter=1.0,
        requested_delay=DAY + 1,
    )
    assert retry_at is None
