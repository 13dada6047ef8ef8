"""The Cognito sync's client-side rate limit and the handlers' retry backoff."""

from __future__ import annotations

from shared.streams import backoff
from stream_handlers.sync_cognito.sync import TokenBucket
from tests.streams import FakeClock


def test_a_burst_within_capacity_does_not_wait() -> None:
    # Given a bucket of 10 calls per second
    clock = FakeClock()
    bucket = TokenBucket(rate=10, clock=clock, sleep=clock.sleep)

    # When 10 calls are made at once
    for _ in range(10):
        bucket.acquire()

    # Then none waited
    assert clock.slept == 0


def test_calls_beyond_the_burst_are_paced_at_the_rate() -> None:
    # Given a bucket of 10 calls per second
    clock = FakeClock()
    bucket = TokenBucket(rate=10, clock=clock, sleep=clock.sleep)

    # When 30 calls are made at once
    for _ in range(30):
        bucket.acquire()

    # Then the 20 beyond the burst took two seconds
    assert abs(clock.slept - 2.0) < 1e-9


def test_backoff_stays_within_its_cap() -> None:
    # Given the highest random draw
    # When the backoff of a late attempt is computed
    delay = backoff(attempt=20, base=0.1, cap=2.0, rand=lambda: 0.999)

    # Then it stays below the cap
    assert delay < 2.0
