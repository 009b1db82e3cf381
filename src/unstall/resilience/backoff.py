"""Retries of transient failures on one upstream: tenacity, full jitter, Retry-After, budget."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    wait_random_exponential,
)

from unstall.config import RetrySettings
from unstall.errors import BudgetExhausted, TransientError, UpstreamBusy
from unstall.resilience.budget import RetryBudget

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
OnRetry = Callable[[int, float, TransientError], None]


class RetryPolicy:
    """Runs an attempt function until it succeeds, fails for good, or retries run out."""

    def __init__(self, settings: RetrySettings, *, sleep: Sleep = asyncio.sleep) -> None:
        self._settings = settings
        self._sleep = sleep
        # Full jitter: uniform in [0, min(cap, base * 2**n)] spreads synchronized clients best.
        self._jitter = wait_random_exponential(
            multiplier=settings.backoff_base, max=settings.backoff_cap
        )

    def _wait(self, state: RetryCallState) -> float:
        delay = float(self._jitter(state))
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, UpstreamBusy) and error.retry_after is not None:
            delay = max(delay, min(error.retry_after, self._settings.retry_after_cap))
        return delay

    async def call(
        self,
        attempt: Callable[[int], Awaitable[T]],
        *,
        budget: RetryBudget,
        on_retry: OnRetry | None = None,
    ) -> T:
        """Call ``attempt(n)`` for n = 1, 2, ...; re-raise the last error when giving up."""
        budget.record_request()

        refused = False

        def out_of_attempts(state: RetryCallState) -> bool:
            # Evaluated only once a retry is wanted, so a token is spent only on a real retry.
            nonlocal refused
            if state.attempt_number >= self._settings.attempts:
                return True
            refused = not budget.try_spend()
            return refused

        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            if on_retry is not None and isinstance(error, TransientError):
                delay = state.next_action.sleep if state.next_action else 0.0
                on_retry(state.attempt_number, delay, error)

        retrying = AsyncRetrying(
            stop=out_of_attempts,
            wait=self._wait,
            retry=retry_if_exception(lambda error: isinstance(error, TransientError)),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            async for state in retrying:
                with state:
                    return await attempt(state.retry_state.attempt_number)
        except TransientError as error:
            if refused:
                raise BudgetExhausted(
                    f"retry budget exhausted; last error: {error.message}",
                    upstream=error.upstream,
                ) from error
            raise
        raise AssertionError("tenacity ended without an outcome")  # pragma: no cover


__all__ = ["RetryPolicy"]
