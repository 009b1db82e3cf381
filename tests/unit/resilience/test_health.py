"""UpstreamHealth: the assumed-offline breaker and the time-to-first-byte estimate."""

from __future__ import annotations

from tests.support.clock import FakeClock
from unstall.config import BreakerSettings
from unstall.resilience.health import BreakerState, UpstreamHealth

COOLDOWN = 30.0


def _health(
    clock: FakeClock,
    failures: int = 3,
    changes: list[tuple[str, BreakerState]] | None = None,
) -> UpstreamHealth:
    return UpstreamHealth(
        "up.example",
        BreakerSettings(failures=failures, cooldown=COOLDOWN),
        clock=clock,
        on_change=None if changes is None else lambda n, s: changes.append((n, s)),
    )


def _state(health: UpstreamHealth) -> BreakerState:
    # A call, not an attribute: mypy must not narrow the state across the steps of a test.
    return health.state


def _open(health: UpstreamHealth, failures: int = 3) -> None:
    for _ in range(failures):
        health.record_failure()


def test_a_fresh_upstream_is_closed_and_allowed() -> None:
    health = _health(FakeClock())

    assert _state(health) is BreakerState.CLOSED
    assert health.allow()
    assert health.allow()
    assert health.available


def test_breaker_opens_after_n_consecutive_failures() -> None:
    health = _health(FakeClock(), failures=3)

    health.record_failure()
    health.record_failure()
    assert _state(health) is BreakerState.CLOSED
    assert health.allow()

    health.record_failure()
    assert _state(health) is BreakerState.OPEN
    assert not health.allow()
    assert not health.available


def test_a_success_resets_the_consecutive_count() -> None:
    health = _health(FakeClock(), failures=3)

    health.record_failure()
    health.record_failure()
    health.record_success(0.1)
    health.record_failure()
    health.record_failure()

    assert _state(health) is BreakerState.CLOSED
    assert health.failures == 4
    assert health.successes == 1


def test_open_breaker_refuses_for_the_whole_cooldown() -> None:
    clock = FakeClock()
    health = _health(clock)
    _open(health)

    clock.advance(COOLDOWN - 0.5)

    assert not health.allow()
    assert not health.available
    assert _state(health) is BreakerState.OPEN


def test_half_open_lets_exactly_one_trial_through() -> None:
    clock = FakeClock()
    health = _health(clock)
    _open(health)
    clock.advance(COOLDOWN + 0.1)

    assert health.available
    assert health.allow()
    assert _state(health) is BreakerState.HALF_OPEN
    assert not health.allow()
    assert not health.allow()
    assert not health.available


def test_trial_success_closes_the_breaker() -> None:
    clock = FakeClock()
    health = _health(clock)
    _open(health)
    clock.advance(COOLDOWN + 0.1)
    assert health.allow()

    health.record_success(0.2)

    assert _state(health) is BreakerState.CLOSED
    assert health.allow()
    assert health.allow()
    assert health.consecutive_failures == 0


def test_trial_failure_reopens_for_a_new_cooldown() -> None:
    clock = FakeClock()
    health = _health(clock, failures=3)
    _open(health)
    clock.advance(COOLDOWN + 0.1)
    assert health.allow()

    health.record_failure()

    assert _state(health) is BreakerState.OPEN
    assert not health.allow()
    clock.advance(COOLDOWN - 0.5)
    assert not health.allow()
    clock.advance(1.0)
    assert health.allow()
    assert _state(health) is BreakerState.HALF_OPEN


def test_released_trial_lets_another_one_through() -> None:
    clock = FakeClock()
    health = _health(clock)
    _open(health)
    clock.advance(COOLDOWN + 0.1)
    assert health.allow()
    assert not health.allow()

    health.release_trial()

    assert health.allow()
    assert _state(health) is BreakerState.HALF_OPEN


def test_on_change_reports_every_transition_once() -> None:
    clock = FakeClock()
    changes: list[tuple[str, BreakerState]] = []
    health = _health(clock, failures=2, changes=changes)

    health.record_success(0.1)  # closed -> closed: no change
    _open(health, failures=2)
    health.record_failure()  # already open: no change
    clock.advance(COOLDOWN + 1)
    health.allow()
    health.record_success(0.1)

    assert changes == [
        ("up.example", BreakerState.OPEN),
        ("up.example", BreakerState.HALF_OPEN),
        ("up.example", BreakerState.CLOSED),
    ]


def test_p95_needs_five_samples() -> None:
    health = _health(FakeClock())

    for n in range(4):
        health.record_success(0.1 * (n + 1))
        assert health.p95_ttfb() is None

    health.record_success(0.5)

    assert health.p95_ttfb() == 0.5


def test_successes_without_ttfb_add_no_samples() -> None:
    health = _health(FakeClock())

    for _ in range(10):
        health.record_success(None)

    assert health.p95_ttfb() is None
    assert health.latency_ewma is None


def test_p95_is_near_the_top_of_the_samples() -> None:
    health = _health(FakeClock())
    for n in range(1, 101):
        health.record_success(float(n))

    p95 = health.p95_ttfb()

    assert p95 is not None
    assert 94.0 <= p95 <= 96.0


def test_p95_follows_recent_samples() -> None:
    health = _health(FakeClock())
    for _ in range(50):
        health.record_success(10.0)
    for _ in range(1000):
        health.record_success(0.1)

    assert health.p95_ttfb() == 0.1


def test_error_and_latency_ewmas_move_with_outcomes() -> None:
    health = _health(FakeClock(), failures=100)

    health.record_success(1.0)
    assert health.latency_ewma == 1.0
    assert health.error_ewma == 0.0

    for _ in range(5):
        health.record_failure()
    worse = health.error_ewma
    assert 0.0 < worse < 1.0

    health.record_success(3.0)
    assert health.error_ewma < worse
    assert health.latency_ewma is not None
    assert 1.0 < health.latency_ewma < 3.0


def test_answers_that_fail_never_open_the_breaker() -> None:
    clock = FakeClock()
    health = _health(clock, failures=3)
    for _ in range(10):
        health.record_failure(offline=False)  # 503s, resets mid-body: it is there

    assert _state(health) is BreakerState.CLOSED
    assert health.allow()
    assert health.error_ewma > 0.5


def test_an_answer_between_silences_restarts_the_count() -> None:
    clock = FakeClock()
    health = _health(clock, failures=3)
    health.record_failure()
    health.record_failure()
    health.record_failure(offline=False)
    health.record_failure()
    health.record_failure()

    assert _state(health) is BreakerState.CLOSED


def test_a_trial_that_gets_an_answer_closes_the_breaker() -> None:
    clock = FakeClock()
    health = _health(clock)
    _open(health)
    clock.advance(COOLDOWN + 0.1)
    assert health.allow()

    health.record_failure(offline=False)

    assert _state(health) is BreakerState.CLOSED
