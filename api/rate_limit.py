"""Per-user rate limits, for HTTP and MCP alike: a token bucket per user, refilled at
`rate` requests a second up to `burst`. A person (or their agent, thinking between calls)
stays far below the defaults (10/s, bursts of 100); an agent stuck in a loop meets 429 with
`Retry-After` within seconds.

The buckets live in this process: each replica limits on its own, so N replicas let a user
through up to N times the rate (README, "Rate limits")."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

# above this many users, buckets that have refilled are forgotten (they start full anyway)
PRUNE_AT = 10_000


class RateLimited(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many requests: try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class RateLimit:
    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """`rate` 0: no limit."""
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # user: (tokens, at)

    async def take(self, user_id: str) -> None:
        """One request's token, or RateLimited with the seconds until the next one."""
        if not self.rate:
            return
        now = self.clock()
        tokens, at = self._buckets.get(user_id, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1:
            self._buckets[user_id] = (tokens, now)
            raise RateLimited(math.ceil((1 - tokens) / self.rate))
        if len(self._buckets) >= PRUNE_AT and user_id not in self._buckets:
            self._prune(now)
        self._buckets[user_id] = (tokens - 1, now)

    def _prune(self, now: float) -> None:
        full = self.burst / self.rate
        self._buckets = {u: b for u, b in self._buckets.items() if now - b[1] < full}
