"""Per-phase deadlines for one attempt, enforced by rescheduling one asyncio timeout.

An attempt walks through phases (connect, tls, first_byte, body). Entering a phase
moves the deadline to ``now + timeouts[phase]``, never past the attempt's total
deadline; each body chunk moves the stall deadline. When the deadline fires, the
attempt task is cancelled and :class:`PhaseGuard` turns that into a
:class:`PhaseTimeout` naming the phase that ran over.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from unstall.config import TimeoutSettings
from unstall.errors import PhaseTimeout, SlowTransfer

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Deadlines of one attempt, in seconds; ``min_throughput`` in bytes per second."""

    connect: float = 5.0
    tls: float = 5.0
    first_byte: float = 20.0
    stall: float = 15.0
    min_throughput: float = 2048.0
    throughput_window: float = 10.0
    total: float = 300.0

    @classmethod
    def from_settings(cls, settings: TimeoutSettings) -> Timeouts:
        """Build from validated settings."""
        return cls(
            connect=settings.connect,
            tls=settings.tls,
            first_byte=settings.first_byte,
            stall=settings.stall,
            min_throughput=settings.min_throughput,
            throughput_window=settings.throughput_window,
            total=settings.total,
        )

    def for_phase(self, phase: str) -> float:
        """The deadline length of ``phase`` (``body`` uses the stall timeout)."""
        return {
            "connect": self.connect,
            "tls": self.tls,
            "first_byte": self.first_byte,
            "body": self.stall,
        }[phase]


class PhaseGuard:
    """Async context manager enforcing :class:`Timeouts` on the code inside it."""

    def __init__(self, timeouts: Timeouts, *, upstream: str | None = None) -> None:
        self._timeouts = timeouts
        self._upstream = upstream
        self._loop = asyncio.get_running_loop()
        self._clock: Clock = self._loop.time
        self._start = self._clock()
        self._total_deadline = self._start + timeouts.total
        self._timeout: asyncio.Timeout | None = None
        self.phase = "connect"
        self._binding = "connect"
        self._body_started: float | None = None
        self._samples: deque[tuple[float, int]] = deque()
        self._received = 0

    def _schedule(self, seconds: float) -> None:
        wanted = self._clock() + seconds
        self._binding = self.phase if wanted < self._total_deadline else "total"
        if self._timeout is not None:
            self._timeout.reschedule(min(wanted, self._total_deadline))

    def enter(self, phase: str) -> None:
        """Start ``phase`` (connect, tls, first_byte or body) with its own deadline."""
        self.phase = phase
        if phase == "body" and self._body_started is None:
            self._body_started = self._clock()
            self._samples.append((self._body_started, 0))
        self._schedule(self._timeouts.for_phase(phase))

    def progress(self, nbytes: int) -> None:
        """Record body bytes: pushes the stall deadline and checks the minimum throughput."""
        now = self._clock()
        self._received += nbytes
        self._samples.append((now, self._received))
        self._schedule(self._timeouts.stall)
        floor = self._timeouts.min_throughput
        window = self._timeouts.throughput_window
        if floor <= 0 or self._body_started is None or now - self._body_started < window:
            return
        while len(self._samples) > 1 and now - self._samples[1][0] >= window:
            self._samples.popleft()
        then, received_then = self._samples[0]
        rate = (self._received - received_then) / max(now - then, 1e-9)
        if rate < floor:
            raise SlowTransfer(
                f"transfer at {rate:.0f} B/s, below the minimum {floor:.0f} B/s",
                upstream=self._upstream,
            )

    async def __aenter__(self) -> PhaseGuard:
        self._timeout = asyncio.timeout_at(None)
        await self._timeout.__aenter__()
        self._schedule(self._timeouts.connect)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._timeout is not None
        try:
            await self._timeout.__aexit__(exc_type, exc, tb)
        except TimeoutError as timeout:
            phase = self._binding
            seconds = self._timeouts.total if phase == "total" else self._timeouts.for_phase(phase)
            label = "stall" if phase == "body" else phase
            raise PhaseTimeout(label, seconds, upstream=self._upstream) from timeout


__all__ = ["Clock", "PhaseGuard", "Timeouts"]
