"""Per-upstream health: latency and error EWMAs, a TTFB reservoir, an assumed-offline breaker.

The breaker opens after ``failures`` consecutive transient failures and skips the
upstream for ``cooldown`` seconds; then one trial request is let through
(half-open). Its success closes the breaker, its failure opens it again.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from enum import StrEnum

from unstall.config import BreakerSettings

_ALPHA = 0.2  # EWMA weight of the newest sample: reacts within ~5 requests
_MIN_SAMPLES_FOR_P95 = 5


class BreakerState(StrEnum):
    """Whether requests may go to an upstream."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class UpstreamHealth:
    """What one upstream has done lately, and whether to send it requests."""

    def __init__(
        self,
        name: str,
        settings: BreakerSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[str, BreakerState], None] | None = None,
    ) -> None:
        self.name = name
        self._settings = settings
        self._clock = clock
        self._on_change = on_change
        self._ttfb: deque[float] = deque(maxlen=128)
        self.latency_ewma: float | None = None
        self.error_ewma = 0.0
        self.consecutive_failures = 0
        self.state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._trial_in_flight = False
        self.successes = 0
        self.failures = 0

    def _set_state(self, state: BreakerState) -> None:
        if state is not self.state:
            self.state = state
            if self._on_change is not None:
                self._on_change(self.name, state)

    def allow(self) -> bool:
        """May a request go to this upstream now? Claims the half-open trial if it is free."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self._settings.cooldown:
                return False
            self._set_state(BreakerState.HALF_OPEN)
        if self._trial_in_flight:
            return False
        self._trial_in_flight = True
        return True

    @property
    def available(self) -> bool:
        """Like :meth:`allow` but claims nothing: for ordering and readiness."""
        if self.state is BreakerState.OPEN:
            return self._clock() - self._opened_at >= self._settings.cooldown
        return not (self.state is BreakerState.HALF_OPEN and self._trial_in_flight)

    def record_success(self, ttfb: float | None) -> None:
        """An answer arrived in time (a 404 counts: the upstream is healthy)."""
        self.successes += 1
        self.consecutive_failures = 0
        self.error_ewma *= 1 - _ALPHA
        if ttfb is not None:
            self._ttfb.append(ttfb)
            self.latency_ewma = (
                ttfb
                if self.latency_ewma is None
                else _ALPHA * ttfb + (1 - _ALPHA) * self.latency_ewma
            )
        self._trial_in_flight = False
        self._set_state(BreakerState.CLOSED)

    def record_failure(self, *, offline: bool = True) -> None:
        """A transient failure. Only ``offline`` ones (no connection, no answer) count
        towards the breaker: a 503 or a reset mid-body proves the upstream is there,
        and a flaky-but-alive mirror is still worth its retries and hedges."""
        self.failures += 1
        self.error_ewma = _ALPHA + (1 - _ALPHA) * self.error_ewma
        self.consecutive_failures = self.consecutive_failures + 1 if offline else 0
        was_trial = self._trial_in_flight
        self._trial_in_flight = False
        if (was_trial and offline) or self.consecutive_failures >= self._settings.failures:
            self._opened_at = self._clock()
            self._set_state(BreakerState.OPEN)
        elif was_trial:
            self._set_state(BreakerState.CLOSED)  # it answered: it is back, if unwell

    def release_trial(self) -> None:
        """The half-open trial ended without a verdict (cancelled): let another one through."""
        self._trial_in_flight = False

    def p95_ttfb(self) -> float | None:
        """95th percentile of recent time-to-first-byte, once there are enough samples."""
        if len(self._ttfb) < _MIN_SAMPLES_FOR_P95:
            return None
        ordered = sorted(self._ttfb)
        return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


__all__ = ["BreakerState", "UpstreamHealth"]
