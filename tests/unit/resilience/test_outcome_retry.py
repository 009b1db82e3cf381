"""OutcomeRetry: retries driven by a predicate on the result, full-jitter delays."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from unstall.resilience.outcome_retry import OutcomeRetry


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def outcomes(*results: str) -> tuple[list[int], Callable[[int], Awaitable[str]]]:
    seen: list[int] = []

    async def attempt(number: int) -> str:
        seen.append(number)
        return results[number - 1]

    return seen, attempt


def test_retries_until_the_result_is_not_retryable() -> None:
    sleeps = Sleeps()
    told: list[tuple[int, float, str]] = []
    seen, attempt = outcomes("down", "down", "ok", "never")
    policy: OutcomeRetry[str] = OutcomeRetry(
        attempts=5, base=1.0, cap=30.0, sleep=sleeps, rng=lambda: 0.5
    )
    result = asyncio.run(
        policy.call(
            attempt,
            retryable=lambda r: r == "down",
            on_retry=lambda n, d, r: told.append((n, d, r)),
        )
    )
    assert result == ("ok", 3)
    assert seen == [1, 2, 3]
    assert sleeps.delays == [0.5, 1.0]
    assert told == [(1, 0.5, "down"), (2, 1.0, "down")]


def test_out_of_attempts_returns_the_last_result_and_the_ceiling_is_capped() -> None:
    sleeps = Sleeps()
    _, attempt = outcomes("down", "down", "down", "down")
    policy: OutcomeRetry[str] = OutcomeRetry(
        attempts=4, base=2.0, cap=3.0, sleep=sleeps, rng=lambda: 1.0
    )
    result = asyncio.run(policy.call(attempt, retryable=lambda r: True))
    assert result == ("down", 4)
    assert sleeps.delays == [2.0, 3.0, 3.0]


def test_one_attempt_never_sleeps() -> None:
    sleeps = Sleeps()
    _, attempt = outcomes("down")
    policy: OutcomeRetry[str] = OutcomeRetry(attempts=1, base=1.0, cap=1.0, sleep=sleeps)
    assert asyncio.run(policy.call(attempt, retryable=lambda r: True)) == ("down", 1)
    assert sleeps.delays == []


def test_an_exception_is_a_bug_and_propagates_without_retry() -> None:
    calls: list[int] = []

    async def attempt(number: int) -> str:
        calls.append(number)
        raise RuntimeError("boom")

    policy: OutcomeRetry[str] = OutcomeRetry(attempts=3, base=1.0, cap=1.0, sleep=Sleeps())
    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(policy.call(attempt, retryable=lambda r: True))
    assert calls == [1]


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        OutcomeRetry(attempts=0, base=1.0, cap=1.0)
