"""Retries of attempts that report failure as a value (fleet outcomes), with full jitter.

:class:`~unstall.resilience.backoff.RetryPolicy` retries on exceptions; a fleet attempt
never raises for a host's failure but returns an outcome, so this is the same full-jitter
schedule driven by a predicate on the result. Only resilience/ sleeps.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
Random = Callable[[], float]


def full_jitter(retry: int, base: float, cap: float, rng: Random = random.random) -> float:
    """The delay before retry number ``retry`` (1-based): uniform in [0, min(cap, base*2^(n-1))]."""
    return rng() * min(cap, base * 2.0 ** (retry - 1))


class OutcomeRetry(Generic[T]):
    """Calls an attempt until its result is not retryable or ``attempts`` are used up."""

    def __init__(
        self,
        *,
        attempts: int,
        base: float,
        cap: float,
        sleep: Sleep = asyncio.sleep,
        rng: Random = random.random,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.attempts = attempts
        self.base = base
        self.cap = cap
        self._sleep = sleep
        self._rng = rng

    async def call(
        self,
        attempt: Callable[[int], Awaitable[T]],
        *,
        retryable: Callable[[T], bool],
        on_retry: Callable[[int, float, T], None] | None = None,
    ) -> tuple[T, int]:
        """Run ``attempt(n)`` for n = 1, 2, ...; return the last result and how many ran.

        ``on_retry(n, delay, result)`` is told before sleeping ``delay`` after attempt n.
        """
        number = 1
        while True:
            result = await attempt(number)
            if number >= self.attempts or not retryable(result):
                return result, number
            delay = full_jitter(number, self.base, self.cap, self._rng)
            if on_retry is not None:
                on_retry(number, delay, result)
            await self._sleep(delay)
            number += 1


__all__ = ["OutcomeRetry", "full_jitter"]
