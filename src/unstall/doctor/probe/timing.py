"""Phase times of one probe, filled in as the probe gets through each layer."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from unstall.doctor.model import PHASE_KEYS, Phases


def now() -> float:
    """A monotonic clock, in seconds, for every phase measurement of the probes."""
    return time.perf_counter()


def elapsed_ms(start: float) -> float:
    """Milliseconds since ``start`` (a :func:`now` value), rounded for display and JSON."""
    return round((now() - start) * 1000.0, 3)


@dataclass(slots=True)
class PhaseLog:
    """What one sample measured so far; phases it did not get through stay None.

    ``details`` are (label, text) facts for the report table, in the order found.
    """

    dns_ms: float | None = None
    connect_ms: float | None = None
    tls_ms: float | None = None
    ttfb_ms: float | None = None
    transfer_ms: float | None = None
    throughput_kbps: float | None = None
    details: list[tuple[str, str]] = field(default_factory=list)

    def note(self, label: str, text: str) -> None:
        self.details.append((label, text))

    def phases(self) -> Phases:
        return Phases(**{key: getattr(self, key) for key in PHASE_KEYS})


__all__ = ["PhaseLog", "elapsed_ms", "now"]
