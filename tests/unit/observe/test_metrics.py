"""Metrics as a sink of the event bus, and the HTTP request metrics."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from unstall.events import (
    ArtifactFinished,
    AttemptFinished,
    AttemptStarted,
    BreakerChanged,
    CacheEvicted,
    DoctorVerdict,
    EventBus,
    FleetHostChanged,
    FleetRunStarted,
    HedgeStarted,
    IntegrityViolation,
    PhaseTimings,
    RetryScheduled,
    RunFinished,
    RunStarted,
)
from unstall.fleet.states import HostState
from unstall.observe.metrics import Metrics

UP1 = "https://mirror-a.example.test"
UP2 = "https://mirror.example.test"
ZIP = "example.test/m/@v/v1.0.0.zip"


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


def _value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def _attempt(
    upstream: str = UP1,
    *,
    outcome: str = "ok",
    cause: str = "ok",
    timings: PhaseTimings | None = None,
    size: int = 0,
) -> AttemptFinished:
    return AttemptFinished(
        artifact=ZIP,
        module="example.test/m",
        version="v1.0.0",
        kind="zip",
        upstream=upstream,
        attempt=1,
        outcome=outcome,
        cause=cause,
        timings=timings or PhaseTimings(),
        bytes=size,
    )


def _artifact(
    *, kind: str = "zip", outcome: str = "ok", cause: str = "ok", cached: bool = False
) -> ArtifactFinished:
    return ArtifactFinished(
        artifact=ZIP,
        module="example.test/m",
        version="v1.0.0",
        kind=kind,
        outcome=outcome,
        upstream=None if cached else UP1,
        attempts=0 if cached else 1,
        hedges=0,
        bytes=100,
        duration=0.01,
        cause=cause,
        cached=cached,
    )


def test_attempt_counts_bytes_and_phase_timings(metrics: Metrics) -> None:
    timings = PhaseTimings(connect=0.01, tls=0.02, first_byte=0.3, transfer=1.5, total=1.83)
    metrics(_attempt(timings=timings, size=4096))
    metrics(_attempt(timings=PhaseTimings(connect=0.03, total=0.5), size=1000))
    metrics(_attempt(outcome="error", cause="tcp-reset", timings=PhaseTimings(connect=0.05)))
    labels = {"upstream": UP1, "outcome": "ok", "cause": "ok"}
    assert _value(metrics, "unstall_upstream_attempts_total", **labels) == 2.0
    assert (
        _value(
            metrics,
            "unstall_upstream_attempts_total",
            upstream=UP1,
            outcome="error",
            cause="tcp-reset",
        )
        == 1.0
    )
    assert _value(metrics, "unstall_upstream_received_bytes_total", upstream=UP1) == 5096.0
    phase = "unstall_upstream_phase_seconds"
    assert _value(metrics, f"{phase}_count", upstream=UP1, phase="connect") == 3.0
    assert _value(metrics, f"{phase}_sum", upstream=UP1, phase="connect") == pytest.approx(0.09)
    assert _value(metrics, f"{phase}_count", upstream=UP1, phase="tls") == 1.0
    assert _value(metrics, f"{phase}_sum", upstream=UP1, phase="transfer") == pytest.approx(1.5)
    assert _value(metrics, f"{phase}_count", upstream=UP1, phase="total") == 2.0
    assert _value(metrics, f"{phase}_sum", upstream=UP1, phase="total") == pytest.approx(2.33)
    # A bucket holds observations at or below its bound.
    assert _value(metrics, f"{phase}_bucket", upstream=UP1, phase="first_byte", le="0.25") == 0.0
    assert _value(metrics, f"{phase}_bucket", upstream=UP1, phase="first_byte", le="0.5") == 1.0


def test_phases_that_did_not_happen_are_not_observed(metrics: Metrics) -> None:
    metrics(_attempt(timings=PhaseTimings(connect=0.01)))
    phase = "unstall_upstream_phase_seconds_count"
    assert _value(metrics, phase, upstream=UP1, phase="connect") == 1.0
    for name in ("tls", "first_byte", "transfer", "total"):
        assert _value(metrics, phase, upstream=UP1, phase=name) is None


def test_artifacts_count_cache_hits_misses_and_stale(metrics: Metrics) -> None:
    metrics(_artifact(cached=True))
    metrics(_artifact(cached=True))
    metrics(_artifact(cached=False))
    metrics(_artifact(kind="list", outcome="stale", cause="tcp-refused", cached=True))
    metrics(_artifact(kind="info", outcome="not-found", cause="http-not-found"))
    lookups = "unstall_cache_lookups_total"
    assert _value(metrics, lookups, kind="zip", result="hit") == 2.0
    assert _value(metrics, lookups, kind="zip", result="miss") == 1.0
    assert _value(metrics, lookups, kind="list", result="stale") == 1.0
    assert _value(metrics, lookups, kind="list", result="hit") is None
    assert _value(metrics, lookups, kind="info", result="miss") == 1.0
    artifacts = "unstall_artifacts_total"
    assert _value(metrics, artifacts, kind="zip", outcome="ok", cause="ok") == 3.0
    assert _value(metrics, artifacts, kind="list", outcome="stale", cause="tcp-refused") == 1.0
    assert (
        _value(metrics, artifacts, kind="info", outcome="not-found", cause="http-not-found") == 1.0
    )


def test_retries_and_hedges(metrics: Metrics) -> None:
    metrics(RetryScheduled(ZIP, UP1, attempt=1, delay=0.2, cause="timeout-first-byte"))
    metrics(RetryScheduled(ZIP, UP1, attempt=2, delay=0.4, cause="timeout-first-byte"))
    metrics(RetryScheduled(ZIP, UP2, attempt=1, delay=0.1, cause="http-server-error"))
    metrics(HedgeStarted(ZIP, UP2, after=1.0, reason="slow"))
    retries = "unstall_upstream_retries_total"
    assert _value(metrics, retries, upstream=UP1, cause="timeout-first-byte") == 2.0
    assert _value(metrics, retries, upstream=UP2, cause="http-server-error") == 1.0
    assert _value(metrics, retries, upstream=UP2, cause="timeout-first-byte") is None
    assert _value(metrics, "unstall_upstream_hedges_total", upstream=UP2, reason="slow") == 1.0
    assert _value(metrics, "unstall_upstream_hedges_total", upstream=UP1, reason="slow") is None


def test_breaker_state_is_an_enum(metrics: Metrics) -> None:
    breaker = "unstall_upstream_breaker"

    def state(upstream: str, name: str) -> float | None:
        return _value(metrics, breaker, upstream=upstream, state=name)

    metrics.upstream_known(UP1)
    assert state(UP1, "closed") == 1.0
    assert state(UP1, "open") == 0.0
    metrics(BreakerChanged(UP1, "open"))
    assert state(UP1, "open") == 1.0
    assert state(UP1, "closed") == 0.0
    assert state(UP1, "half-open") == 0.0
    metrics(BreakerChanged(UP1, "half-open"))
    assert state(UP1, "half-open") == 1.0
    assert state(UP1, "open") == 0.0
    assert state(UP2, "closed") is None


def test_integrity_violations_and_evictions(metrics: Metrics) -> None:
    metrics(IntegrityViolation(ZIP, UP1, cause="checksum-mismatch", detail="h1 differs"))
    metrics(IntegrityViolation(ZIP, UP1, cause="checksum-mismatch", detail="h1 differs"))
    assert (
        _value(
            metrics, "unstall_integrity_violations_total", upstream=UP1, cause="checksum-mismatch"
        )
        == 2.0
    )
    assert _value(metrics, "unstall_cache_evictions_total") == 0.0
    metrics(CacheEvicted("/store/a.zip", 100, remaining=900))
    metrics(CacheEvicted("/store/b.zip", 200, remaining=700))
    assert _value(metrics, "unstall_cache_evictions_total") == 2.0


def test_events_without_metrics_change_nothing(metrics: Metrics) -> None:
    before = generate_latest(metrics.registry)
    metrics(RunStarted("run-1", "go", ("mod", "download")))
    metrics(AttemptStarted(ZIP, UP1, attempt=1))
    metrics(RunFinished("run-1", 0))
    assert generate_latest(metrics.registry) == before


def test_metrics_subscribe_to_the_bus(metrics: Metrics) -> None:
    bus = EventBus()
    unsubscribe = bus.subscribe(metrics)
    bus.publish(HedgeStarted(ZIP, UP2, after=0.5, reason="error"))
    unsubscribe()
    bus.publish(HedgeStarted(ZIP, UP2, after=0.5, reason="error"))
    assert _value(metrics, "unstall_upstream_hedges_total", upstream=UP2, reason="error") == 1.0


def test_observe_request(metrics: Metrics) -> None:
    metrics.observe_request("zip", 200, 0.02, 5000)
    metrics.observe_request("zip", 200, 0.2, 3000)
    metrics.observe_request("zip", 502, 1.0, 10)
    assert _value(metrics, "unstall_http_requests_total", endpoint="zip", status="200") == 2.0
    assert _value(metrics, "unstall_http_requests_total", endpoint="zip", status="502") == 1.0
    assert _value(metrics, "unstall_http_response_bytes_total", endpoint="zip") == 8010.0
    duration = "unstall_http_request_duration_seconds"
    assert _value(metrics, f"{duration}_count", endpoint="zip") == 3.0
    assert _value(metrics, f"{duration}_sum", endpoint="zip") == pytest.approx(1.22)


def test_cache_zip_bytes_gauge(metrics: Metrics) -> None:
    metrics.cache_zip_bytes.set(12345)
    assert _value(metrics, "unstall_cache_zip_bytes") == 12345.0


def test_instances_do_not_share_values() -> None:
    first, second = Metrics(), Metrics()
    assert first.registry is not second.registry
    first(HedgeStarted(ZIP, UP1, after=1.0, reason="slow"))
    first(CacheEvicted("/store/a.zip", 1, remaining=0))
    first.observe_request("list", 200, 0.01, 10)
    assert _value(first, "unstall_upstream_hedges_total", upstream=UP1, reason="slow") == 1.0
    assert _value(second, "unstall_upstream_hedges_total", upstream=UP1, reason="slow") is None
    assert _value(second, "unstall_cache_evictions_total") == 0.0
    assert _value(second, "unstall_http_requests_total", endpoint="list", status="200") is None


def test_no_created_series_are_exported(metrics: Metrics) -> None:
    metrics.observe_request("zip", 200, 0.02, 5000)
    metrics(_attempt(timings=PhaseTimings(total=0.1)))
    text = generate_latest(metrics.registry).decode()
    assert "unstall_http_requests_total{" in text
    assert "_created" not in text


def _verdict(source: str, verdict: str, **phases: float | None) -> DoctorVerdict:
    return DoctorVerdict(
        source=source,
        kind="goproxy",
        verdict=verdict,
        layer="none" if verdict != "fail" else "tcp",
        cause="ok" if verdict != "fail" else "tcp-refused",
        message="",
        **phases,  # type: ignore[arg-type]
    )


def test_doctor_verdicts_say_which_sources_are_up_and_how_long_each_phase_took(
    metrics: Metrics,
) -> None:
    metrics(_verdict(UP1, "ok", dns_ms=12.0, connect_ms=30.0, tls_ms=45.0, ttfb_ms=250.0))
    metrics(_verdict(UP2, "slow", connect_ms=900.0, transfer_ms=4000.0))
    metrics(_verdict("http://127.0.0.1:9/", "fail", connect_ms=None))
    up = "unstall_doctor_source_up"
    assert _value(metrics, up, source=UP1, kind="goproxy") == 1.0
    assert _value(metrics, up, source=UP2, kind="goproxy") == 1.0  # slow still answers
    assert _value(metrics, up, source="http://127.0.0.1:9/", kind="goproxy") == 0.0
    phase = "unstall_doctor_phase_seconds"
    assert _value(metrics, phase, source=UP1, phase="dns") == pytest.approx(0.012)
    assert _value(metrics, phase, source=UP1, phase="ttfb") == pytest.approx(0.25)
    assert _value(metrics, phase, source=UP1, phase="transfer") is None  # not reached
    assert _value(metrics, phase, source=UP2, phase="transfer") == pytest.approx(4.0)
    assert _value(metrics, phase, source="http://127.0.0.1:9/", phase="connect") is None


def _host(host: str, state: str, duration: float | None = None) -> FleetHostChanged:
    return FleetHostChanged("fleet-1", host, state, attempt=1, duration_s=duration)


def test_fleet_hosts_move_between_states_and_final_attempts_are_timed(metrics: Metrics) -> None:
    def hosts(state: str) -> float | None:
        return _value(metrics, "unstall_fleet_hosts", state=state)

    metrics(FleetRunStarted("fleet-1", "go mod download", hosts=3))
    assert all(hosts(state.value) == 0.0 for state in HostState)
    for name in ("web-1", "web-2", "db-1"):
        metrics(_host(name, "pending"))
    assert hosts("pending") == 3.0
    metrics(_host("web-1", "connecting"))
    metrics(_host("web-1", "running"))
    metrics(_host("web-2", "connecting"))
    assert (hosts("pending"), hosts("connecting"), hosts("running")) == (1.0, 1.0, 1.0)
    metrics(_host("web-1", "ok", duration=42.0))
    metrics(_host("web-2", "unreachable", duration=3.0))
    metrics(_host("web-2", "retrying"))
    metrics(_host("web-2", "connecting"))
    metrics(_host("web-2", "unreachable", duration=3.5))
    assert hosts("ok") == 1.0
    assert hosts("unreachable") == 1.0
    assert hosts("running") == 0.0
    assert hosts("retrying") == 0.0
    assert hosts("pending") == 1.0  # db-1 never started
    duration = "unstall_fleet_host_duration_seconds"
    assert _value(metrics, f"{duration}_count", state="unreachable") == 2.0
    assert _value(metrics, f"{duration}_sum", state="unreachable") == pytest.approx(6.5)
    assert _value(metrics, f"{duration}_bucket", state="ok", le="60.0") == 1.0
    assert _value(metrics, f"{duration}_bucket", state="ok", le="30.0") == 0.0
    assert _value(metrics, f"{duration}_count", state="running") is None


def test_the_same_host_in_two_fleet_runs_is_two_hosts(metrics: Metrics) -> None:
    metrics(FleetHostChanged("fleet-1", "web-1", "ok", attempt=1, duration_s=1.0))
    metrics(FleetHostChanged("fleet-2", "web-1", "pending", attempt=0))
    assert _value(metrics, "unstall_fleet_hosts", state="ok") == 1.0
    assert _value(metrics, "unstall_fleet_hosts", state="pending") == 1.0


def test_a_run_records_duration_exit_code_and_the_time_of_its_success(metrics: Metrics) -> None:
    metrics.observe_run("go", 0, 12.5, ended_at=1_700_000_000.0)
    assert _value(metrics, "unstall_run_duration_seconds", command="go") == 12.5
    assert _value(metrics, "unstall_run_exit_code", command="go") == 0.0
    last = "unstall_run_last_success_timestamp_seconds"
    assert _value(metrics, last, command="go") == 1_700_000_000.0
    metrics.observe_run("doctor", 1, 3.0, ended_at=1_700_000_100.0)
    assert _value(metrics, "unstall_run_exit_code", command="doctor") == 1.0
    assert _value(metrics, last, command="doctor") is None  # never succeeded


def test_a_failed_run_keeps_the_last_success_it_is_given(metrics: Metrics) -> None:
    metrics.observe_run("go", 2, 1.0, ended_at=1_700_000_500.0, last_success=1_700_000_000.0)
    last = "unstall_run_last_success_timestamp_seconds"
    assert _value(metrics, last, command="go") == 1_700_000_000.0
    assert _value(metrics, "unstall_run_exit_code", command="go") == 2.0
