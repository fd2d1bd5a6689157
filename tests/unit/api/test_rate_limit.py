"""api.rate_limit: a token bucket per user on a clock the test moves."""

from __future__ import annotations

import pytest

from api.rate_limit import RateLimit, RateLimited


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_burst_then_the_rate_and_a_retry_after_that_holds() -> None:
    clock = Clock()
    limit = RateLimit(rate=2, burst=3, clock=clock)
    for _ in range(3):
        await limit.take("agent")
    with pytest.raises(RateLimited) as refused:
        await limit.take("agent")
    assert refused.value.retry_after_s == 1
    await limit.take("person")  # another user's bucket is full
    clock.now += 0.5  # one token back at 2/s
    await limit.take("agent")
    with pytest.raises(RateLimited):
        await limit.take("agent")
    clock.now += 60  # refilled to the burst, never beyond
    for _ in range(3):
        await limit.take("agent")
    with pytest.raises(RateLimited):
        await limit.take("agent")


async def test_a_rate_of_zero_is_no_limit() -> None:
    limit = RateLimit(rate=0, burst=1)
    for _ in range(1000):
        await limit.take("anyone")


async def test_idle_users_are_forgotten_once_many_have_come(monkeypatch) -> None:
    import api.rate_limit as module

    monkeypatch.setattr(module, "PRUNE_AT", 3)
    clock = Clock()
    limit = RateLimit(rate=1, burst=2, clock=clock)
    for user in ("a", "b", "c"):
        await limit.take(user)
    clock.now += 10  # all refilled
    await limit.take("d")
    assert set(limit._buckets) == {"d"}
