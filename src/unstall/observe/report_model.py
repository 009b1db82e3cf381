"""What `unstall report` shows: one value built from the history, rendered three ways.

:func:`unstall.observe.report_query.build_report` fills a :class:`Report` from the
database; the terminal summary, ``--json`` (:meth:`Report.to_json`) and the HTML page
all render this same value, so the three never disagree. Times are Unix seconds,
latencies milliseconds; ``None`` where there was nothing to measure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Percentiles:
    """p50/p95/p99 of one latency, in milliseconds."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


@dataclass(frozen=True, slots=True)
class UpstreamStats:
    """One upstream over the window.

    ``success_rate`` is ok attempts over attempts that ended ok or failed (not-found and
    cancelled attempts are neither). ``hedges_won`` counts artifacts a hedge to this
    upstream saved: it was started because an earlier upstream was slow, and it won.
    """

    upstream: str
    attempts: int
    ok: int
    failed: int
    success_rate: float | None
    ttfb_ms: Percentiles
    total_ms: Percentiles
    retries: int
    hedges: int
    hedges_won: int
    breaker_openings: int


@dataclass(frozen=True, slots=True)
class ErrorGroupStats:
    """One error group: counts in the window and over all history, and what it touched."""

    group_id: str
    pattern: str
    example: str
    cause: str
    explanation: str
    fix: str
    count: int
    total_count: int
    first_seen: float
    last_seen: float
    commands: tuple[str, ...]
    upstreams: tuple[str, ...]
    hosts: tuple[str, ...]
    modules: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SlowArtifact:
    """One of the slowest artifact fetches of the window."""

    artifact: str
    module: str
    version: str
    kind: str
    upstream: str | None
    outcome: str
    attempts: int
    duration_ms: float
    at: float


@dataclass(frozen=True, slots=True)
class StageStats:
    """One stage of an attempt (connect, tls, first_byte, transfer) across all upstreams.

    ``timeout_share`` is the share of attempts that reached this stage and failed in it
    with a timeout-like cause; ``likely_cause`` is the most frequent failing cause id of
    the stage, explained from doctor's catalogue.
    """

    stage: str
    attempts: int
    avg_ms: float | None
    timeout_share: float
    likely_cause: str | None
    explanation: str


@dataclass(frozen=True, slots=True)
class FleetHostOutcome:
    """One host's end state in a fleet run."""

    host: str
    state: str
    attempts: int
    exit_code: int | None
    duration_s: float | None


@dataclass(frozen=True, slots=True)
class FleetRunStats:
    """One fleet run in the window, its states counted and its hosts listed."""

    run_id: str
    command: str
    started: float
    finished: float | None
    exit_code: int | None
    states: dict[str, int]
    hosts: tuple[FleetHostOutcome, ...]


@dataclass(frozen=True, slots=True)
class DoctorSourceStats:
    """doctor's verdicts on one source in the window: the latest, and how many failed."""

    source: str
    checks: int
    failed: int
    last_verdict: str
    last_cause: str
    last_at: float


@dataclass(frozen=True, slots=True)
class LatencyPoint:
    """One time bucket of one upstream's attempts."""

    at: float
    attempts: int
    failed: int
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True, slots=True)
class GroupPoint:
    """One time bucket of one error group."""

    at: float
    count: int


@dataclass(frozen=True, slots=True)
class PhaseBreakdown:
    """Average milliseconds per phase of one upstream's attempts."""

    upstream: str
    connect_ms: float | None
    tls_ms: float | None
    first_byte_ms: float | None
    transfer_ms: float | None


@dataclass(frozen=True, slots=True)
class Report:
    """Everything `unstall report` shows for the window [since, until]."""

    since: float
    until: float
    generated: float
    runs: int
    attempts: int
    artifacts: int
    upstreams: tuple[UpstreamStats, ...]
    groups: tuple[ErrorGroupStats, ...]
    slowest: tuple[SlowArtifact, ...]
    stages: tuple[StageStats, ...]
    fleet_runs: tuple[FleetRunStats, ...]
    doctor: tuple[DoctorSourceStats, ...]
    bucket_seconds: float
    latency_series: dict[str, tuple[LatencyPoint, ...]] = field(default_factory=dict)
    group_series: dict[str, tuple[GroupPoint, ...]] = field(default_factory=dict)
    phases: tuple[PhaseBreakdown, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document: this value as plain JSON types."""
        return asdict(self)


__all__ = [
    "DoctorSourceStats",
    "ErrorGroupStats",
    "FleetHostOutcome",
    "FleetRunStats",
    "GroupPoint",
    "LatencyPoint",
    "Percentiles",
    "PhaseBreakdown",
    "Report",
    "SlowArtifact",
    "StageStats",
    "UpstreamStats",
]
