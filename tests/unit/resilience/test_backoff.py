"""RetryPolicy: which failures are retried, how long it waits, and when it gives up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from unstall.config import RetrySettings
from unstall.errors import (
    BudgetExhausted,
    ConnectionFailed,
    FetchError,
    IntegrityError,
    NotFound,
    PhaseTimeout,
    TransientError,
    UpstreamBusy,
    UpstreamRejected,
)
from unstall.resilience.backoff import RetryPolicy
from unstall.resilience.budget import RetryBudget


class FakeSleep:
    """Records the delays the policy asks for and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class Script:
    """An attempt function raising the given errors in turn, then returning ``result``."""

    def __init__(self, errors: list[Exception], result: str = "ok") -> None:
        self._errors = list(errors)
        self._result = result
        self.calls: list[int] = []

    async def __call__(self, number: int) -> str:
        self.calls.append(number)
        if self._errors:
            raise self._errors.pop(0)
        return self._result


def _settings(**values: float) -> RetrySettings:
    base: dict[str, float] = {"attempts": 4, "backoff_base": 0.2, "backoff_cap": 5.0}
    base.update(values)
    return RetrySettings.model_validate(base)


def _run(
    policy: RetryPolicy,
    attempt: Callable[[int], Awaitable[str]],
    budget: RetryBudget | None = None,
    on_retry: Callable[[int, float, TransientError], None] | None = None,
) -> str:
    return asyncio.run(policy.call(attempt, budget=budget or RetryBudget(), on_retry=on_retry))


def test_transient_errors_are_retried_until_success() -> None:
    sleep = FakeSleep()
    script = Script([ConnectionFailed("reset"), PhaseTimeout("stall", 15)])

    result = _run(RetryPolicy(_settings(), sleep=sleep), script)

    assert result == "ok"
    assert script.calls == [1, 2, 3]
    assert len(sleep.delays) == 2


def test_gives_up_after_the_configured_attempts_with_the_last_error() -> None:
    sleep = FakeSleep()
    errors: list[Exception] = [ConnectionFailed(f"reset {n}") for n in range(1, 10)]
    script = Script(errors)

    with pytest.raises(ConnectionFailed, match="reset 3"):
        _run(RetryPolicy(_settings(attempts=3), sleep=sleep), script)

    assert script.calls == [1, 2, 3]
    assert len(sleep.delays) == 2


def test_a_single_attempt_means_no_retry() -> None:
    sleep = FakeSleep()
    script = Script([ConnectionFailed("reset")])

    with pytest.raises(ConnectionFailed):
        _run(RetryPolicy(_settings(attempts=1), sleep=sleep), script)

    assert script.calls == [1]
    assert sleep.delays == []


@pytest.mark.parametrize(
    "error",
    [
        NotFound("404 Not Found"),
        UpstreamRejected("403 Forbidden"),
        IntegrityError("zip too large", cause="integrity-size"),
    ],
    ids=["not-found", "rejected", "integrity"],
)
def test_definitive_errors_are_not_retried(error: FetchError) -> None:
    sleep = FakeSleep()
    script = Script([error])

    with pytest.raises(type(error)) as caught:
        _run(RetryPolicy(_settings(), sleep=sleep), script)

    assert caught.value is error
    assert script.calls == [1]
    assert sleep.delays == []


def test_retry_after_is_honoured() -> None:
    sleep = FakeSleep()
    script = Script([UpstreamBusy("503", status=503, retry_after=7.0)])
    settings = _settings(backoff_base=0.01, backoff_cap=0.05, retry_after_cap=30.0)

    _run(RetryPolicy(settings, sleep=sleep), script)

    assert len(sleep.delays) == 1
    assert sleep.delays[0] >= 7.0


def test_retry_after_is_capped() -> None:
    sleep = FakeSleep()
    script = Script([UpstreamBusy("429", status=429, retry_after=3600.0)])
    settings = _settings(backoff_base=0.01, backoff_cap=0.05, retry_after_cap=2.0)

    _run(RetryPolicy(settings, sleep=sleep), script)

    assert len(sleep.delays) == 1
    assert 2.0 <= sleep.delays[0] < 3600.0
    assert sleep.delays[0] == pytest.approx(2.0)


def test_busy_without_retry_after_uses_plain_backoff() -> None:
    sleep = FakeSleep()
    script = Script([UpstreamBusy("502", status=502)])

    _run(RetryPolicy(_settings(backoff_base=0.01, backoff_cap=0.05), sleep=sleep), script)

    assert len(sleep.delays) == 1
    assert 0.0 <= sleep.delays[0] <= 0.05


def test_full_jitter_delays_stay_within_zero_and_the_growing_cap() -> None:
    sleep = FakeSleep()
    errors: list[Exception] = [ConnectionFailed("reset")] * 19
    settings = _settings(attempts=20, backoff_base=0.1, backoff_cap=0.8)

    _run(RetryPolicy(settings, sleep=sleep), Script(errors), budget=RetryBudget(floor=100))

    assert len(sleep.delays) == 19
    for retry, delay in enumerate(sleep.delays):
        assert 0.0 <= delay <= min(0.8, 0.1 * 2**retry)
    # Jittered, not a fixed schedule.
    assert len(set(sleep.delays)) > 1


def test_budget_refusal_stops_retries() -> None:
    sleep = FakeSleep()
    budget = RetryBudget(ratio=0.0, floor=0)
    original = ConnectionFailed("reset", upstream="up.example")
    script = Script([original, ConnectionFailed("again")])

    with pytest.raises(BudgetExhausted) as caught:
        _run(RetryPolicy(_settings(), sleep=sleep), script, budget=budget)

    assert script.calls == [1]
    assert sleep.delays == []
    assert budget.refused == 1
    assert caught.value.__cause__ is original
    assert caught.value.upstream == "up.example"
    assert caught.value.cause == "retry-budget-exhausted"


def test_budget_allows_retries_while_it_has_tokens() -> None:
    sleep = FakeSleep()
    budget = RetryBudget(ratio=0.0, floor=1)
    script = Script([ConnectionFailed("1"), ConnectionFailed("2"), ConnectionFailed("3")])

    with pytest.raises(FetchError):
        _run(RetryPolicy(_settings(attempts=4), sleep=sleep), script, budget=budget)

    assert script.calls == [1, 2]
    assert budget.retries == 1
    assert budget.refused == 1
    assert budget.requests == 1


def test_running_out_of_attempts_spends_no_extra_token() -> None:
    budget = RetryBudget(ratio=0.0, floor=10)
    script = Script([ConnectionFailed("1"), ConnectionFailed("2")])

    with pytest.raises(ConnectionFailed):
        _run(RetryPolicy(_settings(attempts=2), sleep=FakeSleep()), script, budget=budget)

    assert budget.retries == 1
    assert budget.refused == 0


def test_on_retry_gets_attempt_number_delay_and_error() -> None:
    sleep = FakeSleep()
    first = ConnectionFailed("reset")
    second = UpstreamBusy("503", status=503, retry_after=1.5)
    calls: list[tuple[int, float, TransientError]] = []

    _run(
        RetryPolicy(_settings(backoff_base=0.01, backoff_cap=0.05), sleep=sleep),
        Script([first, second]),
        on_retry=lambda n, delay, error: calls.append((n, delay, error)),
    )

    assert [(n, error) for n, _, error in calls] == [(1, first), (2, second)]
    # The delay reported is the one slept.
    assert [delay for _, delay, _ in calls] == sleep.delays
    assert calls[1][1] >= 1.5


def test_on_retry_is_not_called_without_a_retry() -> None:
    calls: list[int] = []

    with pytest.raises(NotFound):
        _run(
            RetryPolicy(_settings(), sleep=FakeSleep()),
            Script([NotFound("404")]),
            on_retry=lambda n, _d, _e: calls.append(n),
        )

    assert calls == []
