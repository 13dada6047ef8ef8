"""A token bucket: paces calls to a share of an AWS quota, never above it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

EPSILON = 1e-9  # tokens


class TokenBucket:
    """At most ``rate`` calls a second on average and ``burst`` at once.

    Over any span of ``t`` seconds it grants at most ``rate * t + burst`` calls, so with the
    default burst of 1 a quota shared with other callers is never exceeded by this one. The
    clock and sleep are injectable: tests and ``make bench`` run it on a simulated clock.
    """

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be above 0, not {rate}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, not {burst}")
        self.rate, self.burst = rate, burst
        self.clock, self.sleep = clock, sleep
        self.tokens = burst
        self.updated = clock()
        self.waited = 0.0  # seconds spent waiting for tokens, in all

    def acquire(self, tokens: float = 1.0) -> None:
        """Take ``tokens``, first waiting until the bucket holds them."""
        while True:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            # A shortfall below EPSILON counts as none: after sleeping exactly the computed wait,
            # float rounding can leave the bucket a hair short, and a wait that small does not move
            # a simulated clock (nor matter on a real one), so the loop would never end.
            if self.tokens >= tokens - EPSILON:
                self.tokens = max(0.0, self.tokens - tokens)
                return
            wait = (tokens - self.tokens) / self.rate
            self.waited += wait
            self.sleep(wait)


def most_in_window(times: list[float], window: float) -> int:
    """The most calls in any span shorter than ``window`` seconds (``times`` ascending): what a quota sees."""
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def pace(client: Any, operation: str, bucket: TokenBucket) -> bool:
    """Take a token from ``bucket`` before every attempt ``client`` sends of ``operation``, retries included.

    A botocore ``before-send`` handler: botocore retries a throttled call itself, and a token
    taken once per call would let those attempts past the bucket. Registered first (before any
    handler that answers instead of sending, as moto's does) and once per client and operation:
    pacing the same client again replaces the earlier bucket. False for a client without
    botocore events (an in-process fake), whose calls its caller paces.
    """
    events = getattr(getattr(client, "meta", None), "events", None)
    if events is None:
        return False
    event = f"before-send.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    unique_id = f"profile-sync-pace-{operation}"
    events.unregister(event, unique_id=unique_id)
    events.register_first(event, lambda **_: bucket.acquire(), unique_id=unique_id)
    return True
