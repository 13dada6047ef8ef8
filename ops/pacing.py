"""A token bucket: paces calls to a share of an AWS quota, never above it."""

from __future__ import annotations

import time
from collections.abc import Callable


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
            if self.tokens >= tokens:
                self.tokens -= tokens
                return
            wait = (tokens - self.tokens) / self.rate
            self.waited += wait
            self.sleep(wait)
