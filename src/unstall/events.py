"""Typed event records and the in-process bus every command reports through.

Producers (the engine, later doctor and fleet) publish; sinks (progress UI,
history store, metrics, the report) subscribe. No command prints or stores
its own ad-hoc records. Sinks run synchronously in the publisher's thread and
must be quick: heavy sinks buffer and flush on their own schedule.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeAlias

_log = logging.getLogger(__name__)


def new_run_id() -> str:
    """A sortable, unique id for one command invocation."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


@dataclass(frozen=True, slots=True)
class PhaseTimings:
    """Seconds spent in each phase of one attempt; None where the phase did not happen."""

    connect: float | None = None
    tls: float | None = None
    first_byte: float | None = None
    transfer: float | None = None
    total: float | None = None


@dataclass(frozen=True, slots=True)
class RunStarted:
    run_id: str
    command: str
    args: tuple[str, ...]
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class RunFinished:
    run_id: str
    exit_code: int
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class AttemptStarted:
    """An HTTP attempt at one upstream began (``hedge`` if started by the hedger)."""

    artifact: str
    upstream: str
    attempt: int
    hedge: bool = False
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class AttemptFinished:
    """One attempt ended; ``outcome`` is ok, not-found, error or cancelled."""

    artifact: str
    module: str
    version: str
    kind: str
    upstream: str
    attempt: int
    outcome: str
    cause: str
    timings: PhaseTimings
    bytes: int
    resumed_from: int = 0
    error: str = ""
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    artifact: str
    upstream: str
    attempt: int
    delay: float
    cause: str


@dataclass(frozen=True, slots=True)
class HedgeStarted:
    """A second upstream was asked because the first was slow or failing."""

    artifact: str
    upstream: str
    after: float
    reason: str


@dataclass(frozen=True, slots=True)
class BreakerChanged:
    upstream: str
    state: str
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class IntegrityViolation:
    """An upstream served content that failed verification; it was not cached."""

    artifact: str
    upstream: str
    cause: str
    detail: str


@dataclass(frozen=True, slots=True)
class ArtifactFinished:
    """The single-flight fetch of one artifact ended (served from cache or an upstream)."""

    artifact: str
    module: str
    version: str
    kind: str
    outcome: str
    upstream: str | None
    attempts: int
    hedges: int
    bytes: int
    duration: float
    cause: str
    error: str = ""
    cached: bool = False
    # How the winning upstream was started: "first", "failover" (an earlier one had
    # failed) or "hedge" (an earlier one was still running but slow); "" when none won.
    won_by: str = ""


@dataclass(frozen=True, slots=True)
class CacheEvicted:
    """A stored zip was deleted to keep the store under its size quota."""

    path: str
    bytes: int
    remaining: int


@dataclass(frozen=True, slots=True)
class DoctorVerdict:
    """doctor's verdict on one source (``verdict`` ok, slow or fail; phases in ms).

    ``source`` and ``message`` are redacted by the publisher.
    """

    source: str
    kind: str
    verdict: str
    layer: str
    cause: str
    message: str
    dns_ms: float | None = None
    connect_ms: float | None = None
    tls_ms: float | None = None
    ttfb_ms: float | None = None
    transfer_ms: float | None = None
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class FleetRunStarted:
    """A fleet run began (or resumed: ``resumed``) on ``hosts`` hosts."""

    run_id: str
    command: str
    hosts: int
    resumed: bool = False
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class FleetHostChanged:
    """One host of a fleet run changed state (``unstall.fleet.states.HostState`` values).

    ``delay`` is the backoff before the next attempt when ``state`` is ``retrying``;
    ``error`` and ``output_tail`` are redacted.
    """

    run_id: str
    host: str
    state: str
    attempt: int
    exit_code: int | None = None
    duration_s: float | None = None
    output_tail: str = ""
    error: str | None = None
    cause: str | None = None
    delay: float | None = None
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class FleetHostOutput:
    """The last line a running host's command printed (redacted; throttled per host)."""

    run_id: str
    host: str
    attempt: int
    line: str
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class FleetRunFinished:
    """A fleet run ended; ``skipped`` hosts were never started (max-fail-percent)."""

    run_id: str
    exit_code: int
    skipped: int = 0
    at: float = field(default_factory=time.time)


Event: TypeAlias = (
    RunStarted
    | RunFinished
    | AttemptStarted
    | AttemptFinished
    | RetryScheduled
    | HedgeStarted
    | BreakerChanged
    | IntegrityViolation
    | ArtifactFinished
    | CacheEvicted
    | DoctorVerdict
    | FleetRunStarted
    | FleetHostChanged
    | FleetHostOutput
    | FleetRunFinished
)
Sink: TypeAlias = Callable[[Event], None]


class EventBus:
    """Fan-out of events to subscribed sinks; a failing sink never breaks the work."""

    def __init__(self) -> None:
        self._sinks: list[Sink] = []

    def subscribe(self, sink: Sink) -> Callable[[], None]:
        """Add a sink; return a function that removes it."""
        self._sinks.append(sink)
        return lambda: self._sinks.remove(sink) if sink in self._sinks else None

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to every sink in subscription order."""
        for sink in list(self._sinks):
            try:
                sink(event)
            except Exception:  # a broken sink must not fail a download
                _log.exception("event sink %r failed on %s", sink, type(event).__name__)


__all__ = [
    "ArtifactFinished",
    "AttemptFinished",
    "AttemptStarted",
    "BreakerChanged",
    "CacheEvicted",
    "DoctorVerdict",
    "Event",
    "EventBus",
    "FleetHostChanged",
    "FleetHostOutput",
    "FleetRunFinished",
    "FleetRunStarted",
    "HedgeStarted",
    "IntegrityViolation",
    "PhaseTimings",
    "RetryScheduled",
    "RunFinished",
    "RunStarted",
    "Sink",
    "new_run_id",
]
