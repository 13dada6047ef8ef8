"""The token bucket on a simulated clock: never above its rate, and all of it used when the work allows."""

import random

import pytest

from lifecycle.pacing import TokenBucket, most_in_window
from tests.streams import FakeClock


def calls_made(rate: float, work: list[float], burst: float = 1.0) -> tuple[list[float], FakeClock, TokenBucket]:
    clock = FakeClock()
    bucket = TokenBucket(rate, burst=burst, clock=clock, sleep=clock.sleep)
    times = []
    for seconds in work:
        bucket.acquire()
        times.append(clock())
        clock.sleep(seconds)  # the caller's own work between calls
    return times, clock, bucket


def test_calls_never_exceed_rate_times_span_plus_burst_in_any_window() -> None:
    # Given irregular work between calls, sometimes none, sometimes longer than the interval
    chance = random.Random(3)
    work = [chance.choice([0.0, 0.0, 0.01, 0.05, 0.2]) for _ in range(3000)]
    # When 3,000 calls are paced at 15 a second
    times, _, _ = calls_made(15, work)
    # Then no window of 1 s or 10 s holds more than rate x span + burst calls
    assert most_in_window(times, 1.0) <= 15 + 1
    assert most_in_window(times, 10.0) <= 150 + 1


def test_a_long_run_uses_the_whole_rate_when_the_work_fits_the_interval() -> None:
    # Given work of 60 ms between calls, under the 66.7 ms interval of 15 calls a second
    times, clock, _ = calls_made(15, [0.06] * 2000)
    # Then the calls come at the full rate: at least 99% of 15 a second over the run
    assert len(times) / clock() >= 0.99 * 15


def test_slow_work_sets_the_pace_and_the_bucket_never_waits() -> None:
    # Given work longer than the interval
    _, clock, bucket = calls_made(10, [0.25] * 100)
    # Then the bucket adds no wait: the run takes the work's time alone
    assert bucket.waited == 0
    assert clock() == pytest.approx(25.0)


def test_burst_grants_that_many_calls_at_once_then_the_rate() -> None:
    # Given a bucket of burst 5, idle until full
    times, _, _ = calls_made(2, [0.0] * 7, burst=5)
    # Then five calls go at once and the next ones every half second
    assert times[:5] == [0.0] * 5
    assert times[5:] == pytest.approx([0.5, 1.0])


def test_acquire_ends_on_a_clock_where_rounding_leaves_a_hair_of_a_token_missing() -> None:
    # Given a simulated clock far from zero, where a wait of 1e-17 s does not move it
    clock = FakeClock()
    clock.now = 1e6
    bucket = TokenBucket(15, clock=clock, sleep=clock.sleep)
    # When many calls with odd gaps are paced (this looped forever before the epsilon)
    for _ in range(500):
        bucket.acquire()
        clock.sleep(0.0305)
    # Then they all went, at the rate
    assert clock() - 1e6 == pytest.approx(499 / 15, rel=1e-3)


@pytest.mark.parametrize(("rate", "burst", "message"), [(0, 1, "rate must be above 0"), (5, 0.5, "burst must be")])
def test_bad_rate_or_burst_is_refused_with_a_message(rate: float, burst: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TokenBucket(rate, burst=burst)


def test_most_in_window_counts_calls_less_than_the_window_apart() -> None:
    assert most_in_window([0.0, 0.5, 0.99, 1.0, 1.5, 1.9], 1.0) == 4  # 0.99 to 1.9
    assert most_in_window([], 1.0) == 0
