"""hedged_race and HedgePolicy: ask the next upstream when one is slow or failing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from unstall.config import BreakerSettings, HedgeSettings
from unstall.resilience.health import UpstreamHealth
from unstall.resilience.hedge import (
    HedgePolicy,
    Lane,
    LanesFailed,
    LaneSignals,
    hedged_race,
)

HANG = 10.0  # "did not hang" bound
NEVER = 3600.0  # a hedge delay that must not be what starts a lane


class Lanes:
    """Records which lanes started and which were cancelled."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.cancelled: list[int] = []

    def lane(self, index: int, body: Callable[[LaneSignals], Awaitable[str]]) -> Lane[str]:
        async def run(signals: LaneSignals) -> str:
            self.started.append(index)
            try:
                return await body(signals)
            except asyncio.CancelledError:
                self.cancelled.append(index)
                raise

        return run


async def _hang(_signals: LaneSignals) -> str:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def _returns(value: str) -> Callable[[LaneSignals], Awaitable[str]]:
    async def body(_signals: LaneSignals) -> str:
        return value

    return body


def _race(lanes: Sequence[Lane[str]], delays: Sequence[float], **options: Any) -> tuple[str, int]:
    async def main() -> tuple[str, int]:
        async with asyncio.timeout(HANG):
            return await hedged_race(lanes, delays, **options)

    return asyncio.run(main())


def test_a_fast_first_lane_wins_alone() -> None:
    rec = Lanes()
    hedges: list[tuple[int, float, str]] = []

    result = _race(
        [rec.lane(0, _returns("a")), rec.lane(1, _returns("b"))],
        [NEVER, NEVER],
        on_hedge=lambda i, after, why: hedges.append((i, after, why)),
    )

    assert result == ("a", 0)
    assert rec.started == [0]
    assert hedges == []


def test_a_lane_without_first_byte_is_hedged_and_the_faster_lane_wins() -> None:
    rec = Lanes()
    hedges: list[tuple[int, str]] = []

    result = _race(
        [rec.lane(0, _hang), rec.lane(1, _returns("b"))],
        [0.05, NEVER],
        on_hedge=lambda i, _after, why: hedges.append((i, why)),
    )

    assert result == ("b", 1)
    assert rec.started == [0, 1]
    assert rec.cancelled == [0]
    assert hedges == [(1, "slow")]


def test_hedges_continue_down_the_list_while_no_lane_answers() -> None:
    rec = Lanes()

    result = _race(
        [rec.lane(0, _hang), rec.lane(1, _hang), rec.lane(2, _returns("c"))],
        [0.02, 0.02, NEVER],
    )

    assert result == ("c", 2)
    assert sorted(rec.cancelled) == [0, 1]


def test_a_failed_attempt_starts_the_next_lane_at_once() -> None:
    rec = Lanes()
    hedges: list[tuple[int, str]] = []

    async def failing_then_backing_off(signals: LaneSignals) -> str:
        signals.attempt_failed()
        await asyncio.Event().wait()  # the retry loop's backoff sleep
        raise AssertionError("unreachable")

    result = _race(
        [rec.lane(0, failing_then_backing_off), rec.lane(1, _returns("b"))],
        [NEVER, NEVER],
        on_hedge=lambda i, _after, why: hedges.append((i, why)),
    )

    assert result == ("b", 1)
    assert rec.cancelled == [0]
    assert hedges == [(1, "failover")]


def test_a_lane_that_fails_for_good_fails_over_at_once() -> None:
    rec = Lanes()

    async def broken(_signals: LaneSignals) -> str:
        raise ConnectionError("reset")

    result = _race([rec.lane(0, broken), rec.lane(1, _returns("b"))], [NEVER, NEVER])

    assert result == ("b", 1)


def test_first_byte_suppresses_hedging() -> None:
    rec = Lanes()

    async def slow_body(signals: LaneSignals) -> str:
        signals.first_byte()
        await asyncio.sleep(0.3)  # many hedge delays of body transfer
        return "a"

    result = _race([rec.lane(0, slow_body), rec.lane(1, _returns("b"))], [0.01, 0.01])

    assert result == ("a", 0)
    assert rec.started == [0]


def test_hedging_resumes_when_a_streaming_attempt_fails() -> None:
    rec = Lanes()

    async def streams_then_fails(signals: LaneSignals) -> str:
        signals.first_byte()
        await asyncio.sleep(0.02)
        signals.attempt_failed()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    result = _race([rec.lane(0, streams_then_fails), rec.lane(1, _returns("b"))], [NEVER, NEVER])

    assert result == ("b", 1)


def test_all_lanes_failing_raises_errors_in_lane_order() -> None:
    rec = Lanes()
    lane1_failed = asyncio.Event()
    first, second, third = ValueError("0"), KeyError("1"), OSError("2")

    async def fails_last(signals: LaneSignals) -> str:
        signals.attempt_failed()
        await lane1_failed.wait()
        await asyncio.sleep(0.02)
        raise first

    async def fails_first(_signals: LaneSignals) -> str:
        lane1_failed.set()
        raise second

    async def fails_too(_signals: LaneSignals) -> str:
        raise third

    with pytest.raises(LanesFailed) as caught:
        _race(
            [rec.lane(0, fails_last), rec.lane(1, fails_first), rec.lane(2, fails_too)],
            [NEVER, NEVER, NEVER],
        )

    assert caught.value.errors == [first, second, third]
    assert rec.started == [0, 1, 2]


def test_no_lanes_fails_at_once() -> None:
    with pytest.raises(LanesFailed) as caught:
        _race([], [])

    assert caught.value.errors == []


def test_may_continue_false_blocks_further_lanes() -> None:
    rec = Lanes()
    refusal = PermissionError("403")
    asked: list[tuple[int, BaseException]] = []

    async def refused(_signals: LaneSignals) -> str:
        raise refusal

    def may_continue(index: int, error: BaseException) -> bool:
        asked.append((index, error))
        return False

    with pytest.raises(LanesFailed) as caught:
        _race(
            [rec.lane(0, refused), rec.lane(1, _returns("b")), rec.lane(2, _returns("c"))],
            [NEVER, NEVER, NEVER],
            may_continue=may_continue,
        )

    assert caught.value.errors == [refusal, None, None]
    assert rec.started == [0]
    assert asked == [(0, refusal)]


def test_may_continue_false_still_lets_running_lanes_finish() -> None:
    rec = Lanes()
    lane1_running = asyncio.Event()

    async def refused_after_hedge(_signals: LaneSignals) -> str:
        await lane1_running.wait()
        raise PermissionError("403")

    async def slow_success(_signals: LaneSignals) -> str:
        lane1_running.set()
        await asyncio.sleep(0.05)
        return "b"

    result = _race(
        [rec.lane(0, refused_after_hedge), rec.lane(1, slow_success), rec.lane(2, _hang)],
        [0.01, NEVER, NEVER],
        may_continue=lambda _i, _e: False,
    )

    assert result == ("b", 1)
    assert rec.started == [0, 1]


def test_without_hedging_a_slow_lane_is_never_hedged() -> None:
    rec = Lanes()

    async def slow(_signals: LaneSignals) -> str:
        await asyncio.sleep(0.3)
        return "a"

    result = _race([rec.lane(0, slow), rec.lane(1, _returns("b"))], [0.01, 0.01], hedging=False)

    assert result == ("a", 0)
    assert rec.started == [0]


def test_without_hedging_a_failure_still_fails_over() -> None:
    rec = Lanes()

    async def broken(_signals: LaneSignals) -> str:
        raise ConnectionError("reset")

    result = _race([rec.lane(0, broken), rec.lane(1, _returns("b"))], [0.01, 0.01], hedging=False)

    assert result == ("b", 1)
    assert rec.started == [0, 1]


def test_cancelling_the_race_cancels_every_lane() -> None:
    rec = Lanes()
    hedged = asyncio.Event()

    async def second(signals: LaneSignals) -> str:
        hedged.set()
        return await _hang(signals)

    async def main() -> None:
        race = asyncio.ensure_future(
            hedged_race([rec.lane(0, _hang), rec.lane(1, second)], [0.01, NEVER])
        )
        async with asyncio.timeout(HANG):
            await hedged.wait()
        race.cancel()
        with pytest.raises(asyncio.CancelledError):
            await race

    asyncio.run(main())

    assert sorted(rec.cancelled) == [0, 1]


def _health_with(samples: Sequence[float]) -> UpstreamHealth:
    health = UpstreamHealth("up.example", BreakerSettings())
    for sample in samples:
        health.record_success(sample)
    return health


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ([], 1.0),  # no samples: the initial delay
        ([0.2, 0.2, 0.2, 0.2], 1.0),  # fewer than five samples: still initial
        ([0.5] * 10, 0.5),  # p95 inside the clamp
        ([0.01] * 10, 0.25),  # clamped up to the floor
        ([10.0] * 10, 3.0),  # clamped down to the ceiling
    ],
)
def test_hedge_delay_is_p95_ttfb_clamped(samples: list[float], expected: float) -> None:
    policy = HedgePolicy(HedgeSettings(floor=0.25, ceiling=3.0, initial=1.0))

    assert policy.delay(_health_with(samples)) == pytest.approx(expected)


def test_initial_hedge_delay_is_clamped_too() -> None:
    high = HedgePolicy(HedgeSettings(floor=0.25, ceiling=3.0, initial=9.0))
    low = HedgePolicy(HedgeSettings(floor=0.5, ceiling=3.0, initial=0.1))

    assert high.delay(_health_with([])) == 3.0
    assert low.delay(_health_with([])) == 0.5


def test_an_upstream_without_samples_borrows_the_slowest_peer_p95() -> None:
    policy = HedgePolicy(HedgeSettings(floor=0.25, ceiling=3.0, initial=1.0))
    silent = _health_with([])
    fast = _health_with([0.3] * 10)
    slower = _health_with([0.6] * 10)

    assert policy.delay(silent) == 1.0
    assert policy.delay(silent, peers=[silent, fast, slower]) == pytest.approx(0.6)
    # Its own samples, once it has them, win over the peers'.
    assert policy.delay(fast, peers=[slower]) == pytest.approx(0.3)


def test_a_lane_hedged_for_slowness_is_marked_overtaken() -> None:
    seen: dict[int, bool] = {}

    async def silent(signals: LaneSignals) -> str:
        try:
            await asyncio.sleep(30)
        finally:
            seen[0] = signals.overtaken
        return "never"

    async def quick(signals: LaneSignals) -> str:
        seen[1] = signals.overtaken
        return "second"

    result = asyncio.run(hedged_race([silent, quick], [0.05, 0.05]))

    assert result == ("second", 1)
    assert seen == {0: True, 1: False}


def test_a_cancelled_race_leaves_no_task_behind() -> None:
    async def scenario() -> set[asyncio.Task[Any]]:
        race = asyncio.ensure_future(hedged_race([_hang, _hang], [NEVER, NEVER]))
        await asyncio.sleep(0.05)  # the race is waiting for its lanes and its wake-up
        race.cancel()
        with pytest.raises(asyncio.CancelledError):
            await race
        await asyncio.sleep(0)  # let cancelled tasks finish
        return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}

    assert asyncio.run(scenario()) == set()
