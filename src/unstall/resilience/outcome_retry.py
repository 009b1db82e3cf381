"""Retries of attempts that report failure as a value (fleet outcomes), with full jitter.

:class:`~unstall.resilience.backoff.RetryPolicy` retries on exceptions; a fleet attempt
never raises for a host's failure but returns an outcome, so here tenacity is driven by a
predicate on the result. The ceiling of each delay is tenacity's exponential schedule; the
jitter is drawn from an injectable ``rng`` so that tests can pin it. Only resilience/ sleeps.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_result,
    stop_after_attempt,
    wait_exponential,
)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
Random = Callable[[], float]


class OutcomeRetry(Generic[T]):
    """Calls an attempt until its result is not retryable or ``attempts`` are used up.

    The delay before retry n (1-based) is uniform in [0, min(cap, base * 2**(n-1))]: full
    jitter, which spreads hosts that failed together (one flapping switch) the most.
    """

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
        self._ceiling = wait_exponential(multiplier=base, max=cap)
        self._sleep = sleep
        self._rng = rng

    def _wait(self, state: RetryCallState) -> float:
        return self._rng() * float(self._ceiling(state))

    async def call(
        self,
        attempt: Callable[[int], Awaitable[T]],
        *,
        retryable: Callable[[T], bool],
        on_retry: Callable[[int, float, T], None] | None = None,
    ) -> tuple[T, int]:
        """Run ``attempt(n)`` for n = 1, 2, ...; return the last result and how many ran.

        ``on_retry(n, delay, result)`` is told before sleeping ``delay`` after attempt n.
        An exception from ``attempt`` is a bug, not an outcome: it propagates at once.
        """

        def before_sleep(state: RetryCallState) -> None:
            if on_retry is not None and state.outcome is not None:
                delay = state.next_action.sleep if state.next_action else 0.0
                on_retry(state.attempt_number, delay, state.outcome.result())

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_result(retryable),
            sleep=self._sleep,
            before_sleep=before_sleep,
            # Out of attempts: hand back the last outcome instead of raising RetryError.
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
            reraise=True,
        )
        number = 0

        async def counted() -> T:
            nonlocal number
            number += 1
            return await attempt(number)

        result: T = await retrying(counted)
        return result, number


__all__ = ["OutcomeRetry"]
