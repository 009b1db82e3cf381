"""Prometheus metrics: one set of names for serve's /metrics and the textfile exports.

The metrics are a sink of the event bus (upstream attempts, retries, hedges, the
breaker, artifacts, doctor's verdicts, fleet host states) plus what only the HTTP
front end sees (requests, bytes served) and what only a command knows about its own
run (:meth:`Metrics.observe_run`). Labels are bounded: endpoint kinds, upstream and
source names, states, cause ids from the catalogue, command names; never module
paths, host names or client addresses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector

from unstall.events import (
    ArtifactFinished,
    AttemptFinished,
    BreakerChanged,
    CacheEvicted,
    DoctorVerdict,
    Event,
    FleetHostChanged,
    FleetRunStarted,
    HedgeStarted,
    IntegrityViolation,
    RetryScheduled,
)
from unstall.observe.metrics_runs import RunMetrics
from unstall.resilience.health import BreakerState

# Seconds: from a loopback cache hit to a stalled upstream at its deadline.
_LATENCY_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
)
# Seconds one attempt on one fleet host may take: a quick check up to a long build.
PHASES: Final = ("connect", "tls", "first_byte", "transfer", "total")
# The *_created series double what a scrape carries and no dashboard of ours reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    """Every unstall metric, in its own registry (tests and servers do not share one).

    With ``multiprocess_dir`` (serve's worker processes; PROMETHEUS_MULTIPROC_DIR must
    name the same directory) values live in files there and :meth:`exposition` sums
    every worker's, as prometheus-client's multiprocess mode does.
    """

    def __init__(
        self, registry: CollectorRegistry | None = None, *, multiprocess_dir: Path | None = None
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self._multiprocess_dir = multiprocess_dir
        if multiprocess_dir is not None:
            values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        r = self.registry
        self.requests = Counter(
            "unstall_http_requests",
            "Requests answered, by endpoint kind and HTTP status.",
            ["endpoint", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "unstall_http_request_duration_seconds",
            "Time to answer a request, by endpoint kind.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.bytes_served = Counter(
            "unstall_http_response_bytes",
            "Response body bytes sent, by endpoint kind.",
            ["endpoint"],
            registry=r,
        )
        self.cache = Counter(
            "unstall_cache_lookups",
            "Artifact lookups by kind and result (hit, miss, stale).",
            ["kind", "result"],
            registry=r,
        )
        self.artifacts = Counter(
            "unstall_artifacts",
            "Artifacts finished, by kind, outcome and cause id.",
            ["kind", "outcome", "cause"],
            registry=r,
        )
        self.attempts = Counter(
            "unstall_upstream_attempts",
            "HTTP attempts at upstreams, by upstream, outcome and cause id.",
            ["upstream", "outcome", "cause"],
            registry=r,
        )
        self.phase_seconds = Histogram(
            "unstall_upstream_phase_seconds",
            "Duration of each phase of upstream attempts.",
            ["upstream", "phase"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_bytes = Counter(
            "unstall_upstream_received_bytes",
            "Body bytes received from upstreams.",
            ["upstream"],
            registry=r,
        )
        self.retries = Counter(
            "unstall_upstream_retries",
            "Retries scheduled, by upstream and the cause that triggered them.",
            ["upstream", "cause"],
            registry=r,
        )
        self.hedges = Counter(
            "unstall_upstream_hedges",
            "Hedged requests started at an upstream, by reason.",
            ["upstream", "reason"],
            registry=r,
        )
        self.breaker = Gauge(
            "unstall_upstream_breaker",
            "Circuit breaker state per upstream: 1 for the current state, 0 for the others.",
            ["upstream", "state"],
            registry=r,
            multiprocess_mode="livemax",  # open if any live worker has it open
        )
        self.integrity = Counter(
            "unstall_integrity_violations",
            "Upstream answers rejected by verification (never cached).",
            ["upstream", "cause"],
            registry=r,
        )
        self.cache_zip_bytes = Gauge(
            "unstall_cache_zip_bytes",
            "Bytes of zips in the store.",
            registry=r,
            multiprocess_mode="max",  # only the worker enforcing the quota sets it
        )
        self.evictions = Counter(
            "unstall_cache_evictions", "Zips evicted to stay under the quota.", registry=r
        )
        self.runs = RunMetrics(r)
        self._request_children: dict[tuple[str, int], tuple[Counter, Histogram, Counter]] = {}
        self._artifact_children: dict[tuple[str, str, str, bool], tuple[Counter, Counter]] = {}

    def __call__(self, event: Event) -> None:
        """The bus sink."""
        if isinstance(event, ArtifactFinished):  # first: every request of a server
            key = (event.kind, event.outcome, event.cause, event.cached)
            children = self._artifact_children.get(key)
            if children is None:
                result = "stale" if event.outcome == "stale" else "hit" if event.cached else "miss"
                children = (
                    self.cache.labels(event.kind, result),
                    self.artifacts.labels(event.kind, event.outcome, event.cause),
                )
                self._artifact_children[key] = children
            children[0].inc()
            children[1].inc()
        elif isinstance(event, AttemptFinished):
            self._attempt(event)
        elif isinstance(event, RetryScheduled):
            self.retries.labels(event.upstream, event.cause).inc()
        elif isinstance(event, HedgeStarted):
            self.hedges.labels(event.upstream, event.reason).inc()
        elif isinstance(event, BreakerChanged):
            self._breaker_state(event.upstream, event.state)
        elif isinstance(event, IntegrityViolation):
            self.integrity.labels(event.upstream, event.cause).inc()
        elif isinstance(event, CacheEvicted):
            self.evictions.inc()
        elif isinstance(event, DoctorVerdict | FleetHostChanged | FleetRunStarted):
            self.runs(event)

    def _attempt(self, event: AttemptFinished) -> None:
        self.attempts.labels(event.upstream, event.outcome, event.cause).inc()
        self.upstream_bytes.labels(event.upstream).inc(event.bytes)
        for phase in PHASES:
            seconds = getattr(event.timings, phase)
            if seconds is not None:
                self.phase_seconds.labels(event.upstream, phase).observe(seconds)

    def observe_run(
        self,
        command: str,
        exit_code: int,
        seconds: float,
        *,
        ended_at: float,
        last_success: float | None = None,
    ) -> None:
        """Record how a command's run ended (see :meth:`RunMetrics.observe_run`)."""
        self.runs.observe_run(
            command, exit_code, seconds, ended_at=ended_at, last_success=last_success
        )

    def upstream_known(self, name: str) -> None:
        """Show an upstream's breaker as closed before its first event."""
        self._breaker_state(name, BreakerState.CLOSED.value)

    def _breaker_state(self, upstream: str, current: str) -> None:
        for state in BreakerState:
            self.breaker.labels(upstream, state.value).set(1 if state.value == current else 0)

    def exposition(self) -> bytes:
        """The text a Prometheus scrape gets (every worker's values in multiprocess mode)."""
        if self._multiprocess_dir is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=str(self._multiprocess_dir))  # type: ignore[no-untyped-call]
        return generate_latest(merged)

    def observe_request(self, endpoint: str, status: int, seconds: float, sent: int) -> None:
        # Called for every request: the labelled children are looked up once per
        # (endpoint, status) rather than through labels() each time.
        key = (endpoint, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(endpoint, str(status)),
                self.request_seconds.labels(endpoint),
                self.bytes_served.labels(endpoint),
            )
            self._request_children[key] = children
        requests, latency, sent_bytes = children
        requests.inc()
        latency.observe(seconds)
        sent_bytes.inc(sent)


__all__ = ["PHASES", "Metrics"]
