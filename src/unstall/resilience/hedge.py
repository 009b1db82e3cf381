"""Hedged requests across upstreams: ask the next one when the current one is slow or failing.

Each lane is the whole retry loop at one upstream. Lane 0 starts at once. Lane
``i + 1`` starts when no lane has produced a first byte within lane ``i``'s hedge
delay, or as soon as any attempt fails (failover does not wait for backoff). The
first lane to return wins and every other lane is cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from unstall.config import HedgeSettings
from unstall.resilience.health import UpstreamHealth

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HedgePolicy:
    """Hedge delay: the upstream's observed p95 time-to-first-byte, clamped."""

    settings: HedgeSettings

    def delay(self, health: UpstreamHealth, *, peers: Sequence[UpstreamHealth] = ()) -> float:
        """Seconds to wait for a first byte from ``health``'s upstream before hedging.

        An upstream that never answered (a blackhole has no samples) borrows the
        slowest p95 among ``peers`` that did, so it costs a healthy peer's p95 per
        request rather than ``initial`` until its breaker opens.
        """
        observed = health.p95_ttfb()
        if observed is None:
            known = [p for p in (peer.p95_ttfb() for peer in peers) if p is not None]
            observed = max(known) if known else None
        base = self.settings.initial if observed is None else observed
        return min(max(base, self.settings.floor), self.settings.ceiling)


class LaneSignals:
    """How a running lane tells the race about progress."""

    def __init__(self, index: int, wake: asyncio.Event, race: _RaceState) -> None:
        self._index = index
        self._wake = wake
        self._race = race

    def first_byte(self) -> None:
        """Response headers arrived: no need to hedge while this body flows."""
        self._race.streaming.add(self._index)
        self._wake.set()

    def attempt_failed(self) -> None:
        """An attempt failed: start the next lane now instead of after the hedge delay."""
        self._race.streaming.discard(self._index)
        self._race.failover = True
        self._wake.set()

    @property
    def overtaken(self) -> bool:
        """A later lane was started because this one had no first byte in time."""
        return self._index in self._race.overtaken


@dataclass(slots=True)
class _RaceState:
    streaming: set[int]
    failover: bool = False
    overtaken: set[int] = field(default_factory=set)


class LanesFailed(Exception, Generic[T]):
    """Every lane ended without a result; ``errors`` in lane order (None: never started)."""

    def __init__(self, errors: list[BaseException | None]) -> None:
        super().__init__(f"{sum(e is not None for e in errors)} lanes failed")
        self.errors = errors


Lane = Callable[[LaneSignals], Awaitable[T]]


async def hedged_race(
    lanes: Sequence[Lane[T]],
    delays: Sequence[float],
    *,
    hedging: bool = True,
    may_continue: Callable[[int, BaseException], bool] = lambda _i, _e: True,
    on_hedge: Callable[[int, float, str], None] | None = None,
) -> tuple[T, int]:
    """Run lanes with hedging; return (result, winning lane index) or raise LanesFailed.

    ``may_continue(i, error)`` says whether lanes after ``i`` may still start once
    lane ``i`` failed with ``error`` (False for a definitive error under ``,``).
    """
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    state = _RaceState(streaming=set())
    tasks: dict[asyncio.Task[T], int] = {}
    errors: list[BaseException | None] = [None] * len(lanes)
    started = 0
    blocked = False
    hedge_at: float | None = None

    def start(reason: str) -> None:
        nonlocal started, hedge_at
        index = started
        started += 1
        if index > 0 and on_hedge is not None:
            on_hedge(index, loop.time() - first_start, reason)
        tasks[asyncio.ensure_future(lanes[index](LaneSignals(index, wake, state)))] = index
        hedge_at = loop.time() + delays[index] if hedging and started < len(lanes) else None

    if not lanes:
        raise LanesFailed([])
    first_start = loop.time()
    start("first")
    try:
        while True:
            can_start = started < len(lanes) and not blocked
            timeout = None
            if can_start and hedge_at is not None and not state.streaming:
                timeout = max(0.0, hedge_at - loop.time())
            waiter = asyncio.ensure_future(wake.wait())
            try:
                done, _ = await asyncio.wait(
                    [*tasks, waiter], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                # also when the race itself is cancelled (deadline, shutdown): a waiter
                # left pending would be destroyed later with a warning
                waiter.cancel()
            wake.clear()
            for task in [t for t in done if t is not waiter]:
                index = tasks.pop(task)
                error = task.exception()
                if error is None:
                    return task.result(), index
                errors[index] = error
                state.streaming.discard(index)
                state.failover = True
                if not may_continue(index, error):
                    blocked = True
            can_start = started < len(lanes) and not blocked
            if can_start and state.failover:
                state.failover = False
                start("failover")
            elif can_start and not state.streaming and hedge_at is not None:
                if loop.time() >= hedge_at:
                    state.overtaken.update(tasks.values())
                    start("slow")
            elif not can_start:
                state.failover = False
            if not tasks:
                raise LanesFailed(errors)
    finally:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


__all__ = ["HedgePolicy", "Lane", "LaneSignals", "LanesFailed", "hedged_race"]
