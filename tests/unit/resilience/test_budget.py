"""RetryBudget: a floor of free retries, then retries earned as a share of requests."""

from __future__ import annotations

from unstall.resilience.budget import RetryBudget


def _spend_all(budget: RetryBudget, limit: int = 100_000) -> int:
    spent = 0
    while spent < limit and budget.try_spend():
        spent += 1
    return spent


def test_floor_tokens_are_there_from_the_start() -> None:
    budget = RetryBudget(ratio=0.0, floor=3)

    assert [budget.try_spend() for _ in range(4)] == [True, True, True, False]
    assert budget.retries == 3
    assert budget.refused == 1
    assert budget.requests == 0


def test_zero_floor_and_no_requests_allows_no_retry() -> None:
    budget = RetryBudget(ratio=0.2, floor=0)

    assert budget.try_spend() is False
    assert budget.refused == 1
    assert budget.retries == 0


def test_requests_earn_ratio_of_a_retry() -> None:
    budget = RetryBudget(ratio=0.25, floor=0)

    for _ in range(3):
        budget.record_request()
    assert budget.try_spend() is False  # 0.75 tokens: not a whole retry yet

    budget.record_request()
    assert budget.try_spend() is True  # 1.0 token
    assert budget.try_spend() is False
    assert budget.requests == 4
    assert budget.retries == 1
    assert budget.refused == 2


def test_long_run_retries_are_about_ratio_of_requests() -> None:
    budget = RetryBudget(ratio=0.2, floor=0)
    allowed = 0
    for _ in range(1000):
        budget.record_request()
        # A dead upstream: every request wants as many retries as it can get.
        allowed += _spend_all(budget)

    assert allowed == budget.retries
    assert 190 <= allowed <= 200
    assert budget.refused >= 1000 - allowed


def test_refusals_are_counted_each_time() -> None:
    budget = RetryBudget(ratio=0.0, floor=0)

    for _ in range(5):
        assert budget.try_spend() is False

    assert budget.refused == 5
    assert budget.retries == 0


def test_a_long_healthy_period_does_not_bank_unlimited_retries() -> None:
    budget = RetryBudget(ratio=0.2, floor=10)
    for _ in range(100_000):
        budget.record_request()

    spent = _spend_all(budget)

    assert spent >= 10
    assert spent < 100_000 * 0.2
