"""Phase timing of one HTTP attempt from httpcore's trace events.

httpcore reports ``connection.connect_tcp``, ``connection.start_tls`` and
``http11``/``http2`` ``send_request_headers`` / ``receive_response_headers``
events; each start moves :class:`PhaseGuard` to the matching phase, so the
deadline that fires names the phase that stalled.
"""

from __future__ import annotations

import asyncio
from typing import Any

from unstall.events import PhaseTimings
from unstall.resilience.timeouts import PhaseGuard

_PHASE_BY_EVENT = {
    "connection.connect_tcp.started": "connect",
    "connection.start_tls.started": "tls",
    "http11.send_request_headers.started": "first_byte",
    "http2.send_request_headers.started": "first_byte",
}


class AttemptTrace:
    """Records when each phase started and ended, and drives the guard's deadlines."""

    def __init__(self, guard: PhaseGuard) -> None:
        self._guard = guard
        self._clock = asyncio.get_running_loop().time
        self.started = self._clock()
        self._marks: dict[str, float] = {}

    @property
    def phase(self) -> str:
        """The phase the attempt is in now."""
        return self._guard.phase

    async def __call__(self, name: str, info: dict[str, Any]) -> None:
        """The httpx ``trace`` extension callback."""
        now = self._clock()
        phase = _PHASE_BY_EVENT.get(name)
        if phase is not None:
            self._marks.setdefault(f"{phase}.start", now)
            self._guard.enter(phase)
        elif name == "connection.connect_tcp.complete":
            self._marks["connect.end"] = now
        elif name == "connection.start_tls.complete":
            self._marks["tls.end"] = now
        elif name.endswith("receive_response_headers.complete"):
            self._marks["first_byte.end"] = now

    def headers_received(self) -> None:
        """Response headers are in: the body phase starts."""
        self._marks.setdefault("first_byte.end", self._clock())
        self._guard.enter("body")

    def timings(self) -> PhaseTimings:
        """Durations so far; a reused connection has no connect or TLS phase."""
        now = self._clock()

        def span(phase: str, end: float | None = None) -> float | None:
            start = self._marks.get(f"{phase}.start")
            stop = self._marks.get(f"{phase}.end", end)
            return None if start is None or stop is None else max(0.0, stop - start)

        first_byte_end = self._marks.get("first_byte.end")
        return PhaseTimings(
            connect=span("connect"),
            tls=span("tls"),
            first_byte=None if first_byte_end is None else first_byte_end - self.started,
            transfer=None if first_byte_end is None else now - first_byte_end,
            total=now - self.started,
        )


__all__ = ["AttemptTrace"]
