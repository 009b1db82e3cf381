"""build_report: what `unstall report` says about a history recorded through the bus."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

import pytest

from unstall.doctor.causes import cause_for
from unstall.events import (
    ArtifactFinished,
    AttemptFinished,
    BreakerChanged,
    DoctorVerdict,
    Event,
    FleetHostChanged,
    PhaseTimings,
    RunFinished,
    RunStarted,
)
from unstall.fleet.executor import Target
from unstall.fleet.states import HostState, Outcome
from unstall.fleet.store import FleetStore
from unstall.observe.history import History
from unstall.observe.report_model import StageStats
from unstall.observe.report_query import build_report

A = "https://mirror-a.example.test"
B = "http://127.0.0.1:8081"
HOUR = 3600.0


def _attempt(
    at: float,
    *,
    upstream: str = A,
    number: int = 1,
    outcome: str = "ok",
    cause: str = "ok",
    error: str = "",
    total: float | None = 0.1,
    first_byte: float | None = 0.05,
    connect: float | None = None,
    module: str = "fixture.test/a",
) -> AttemptFinished:
    return AttemptFinished(
        artifact=f"{module}/@v/v1.0.0.zip",
        module=module,
        version="v1.0.0",
        kind="zip",
        upstream=upstream,
        attempt=number,
        outcome=outcome,
        cause=cause,
        timings=PhaseTimings(
            connect=connect, tls=None, first_byte=first_byte, transfer=None, total=total
        ),
        bytes=100,
        error=error,
        at=at,
    )


def _artifact(
    name: str,
    *,
    upstream: str | None = A,
    duration: float = 0.5,
    hedges: int = 0,
    won_by: str = "first",
    cached: bool = False,
    outcome: str = "ok",
) -> ArtifactFinished:
    return ArtifactFinished(
        artifact=f"fixture.test/{name}/@v/v1.0.0.zip",
        module=f"fixture.test/{name}",
        version="v1.0.0",
        kind="zip",
        outcome=outcome,
        upstream=upstream,
        attempts=1,
        hedges=hedges,
        bytes=100,
        duration=duration,
        cause="ok",
        cached=cached,
        won_by=won_by,
    )


def _record(path: Path, run_id: str, command: str, events: Sequence[Event], at: float) -> None:
    history = History(path, run_id)
    history(RunStarted(run_id, command, (), at=at))
    for event in events:
        history(event)
    history(RunFinished(run_id, 0, at=at + 1))
    history.close()


@pytest.fixture
def now() -> float:
    return time.time()


def test_upstream_success_percentiles_retries_hedges_and_breakers(
    tmp_path: Path, now: float
) -> None:
    path = tmp_path / "history.sqlite3"
    t = now - HOUR
    totals = [0.1, 0.2, 0.3, 0.4]
    events: list[Event] = [
        _attempt(t, total=s, first_byte=s / 2, number=1 + i % 2) for i, s in enumerate(totals)
    ]
    events += [
        _attempt(t, outcome="error", cause="tcp-timeout", error="connect timed out", total=1.0),
        # A hedge's loser, cut short: neither a failure nor a latency sample.
        _attempt(t, outcome="cancelled", cause="ok", total=0.001, first_byte=None),
        _attempt(t, upstream=B, total=2.0, first_byte=1.0),
        BreakerChanged(B, "open", at=t),
        BreakerChanged(B, "closed", at=t + 1),
        BreakerChanged(B, "open", at=now - 30 * 86_400.0),  # before the window
        _artifact("x", upstream=B, hedges=1, won_by="hedge"),
        _artifact("y", upstream=B, hedges=2, won_by="first"),
        _artifact("z", upstream=A),
    ]
    _record(path, "run-1", "go", events, t)

    report = build_report(path, since=now - 7 * 86_400.0, until=now + 60, now=now)

    assert [u.upstream for u in report.upstreams] == [A, B]
    a, b = report.upstreams
    assert (a.attempts, a.ok, a.failed) == (6, 4, 1)
    assert a.success_rate == 0.8
    assert a.retries == 2  # attempts numbered 2 or more
    # Over the ok attempts only (the failed one's 1 s is its deadline): linear
    # interpolation between the closest ranks of 100, 200, 300, 400 ms.
    assert a.total_ms.p50 == 250.0
    assert a.total_ms.p95 == pytest.approx(385.0)
    assert a.ttfb_ms.p50 == 125.0
    assert (a.hedges, a.hedges_won, a.breaker_openings) == (0, 0, 0)
    assert (b.attempts, b.success_rate, b.total_ms.p99) == (1, 1.0, 2000.0)
    assert (b.hedges, b.hedges_won, b.breaker_openings) == (3, 1, 1)
    assert (report.runs, report.attempts, report.artifacts) == (1, 7, 3)
    phases = {p.upstream: p for p in report.phases}
    assert phases[B].first_byte_ms == 1000.0
    assert phases[A].connect_ms is None


def test_the_window_leaves_out_what_happened_before_it(tmp_path: Path, now: float) -> None:
    path = tmp_path / "history.sqlite3"
    old = now - 10 * 86_400.0
    _record(path, "run-old", "go", [_attempt(old, outcome="error", cause="tcp-reset")], old)
    _record(path, "run-new", "go", [_attempt(now - HOUR, upstream=B)], now - HOUR)

    report = build_report(path, since=now - 7 * 86_400.0, until=now, now=now)

    assert [(u.upstream, u.attempts) for u in report.upstreams] == [(B, 1)]
    assert report.runs == 1
    assert report.groups == ()


def test_one_failure_across_runs_and_commands_is_one_group(tmp_path: Path, now: float) -> None:
    path = tmp_path / "history.sqlite3"
    t = now - HOUR
    refused = [
        _attempt(
            t + i,
            outcome="error",
            cause="tcp-refused",
            error=f"connect to 127.0.0.1:{9000 + i} refused",
            module=f"fixture.test/m{i}",
        )
        for i in range(3)
    ]
    _record(path, "run-go", "go", refused[:2], t)
    _record(path, "run-prefetch", "prefetch", [refused[2]], t)
    _record(
        path,
        "run-doctor",
        "doctor",
        [DoctorVerdict(B, "go", "fail", "http", "http-timeout", "no answer in 5 s", at=t)],
        t,
    )
    old = now - 9 * 86_400.0
    _record(
        path,
        "run-old",
        "go",
        [
            _attempt(
                old, outcome="error", cause="tcp-refused", error="connect to 10.0.0.1:1 refused"
            )
        ],
        old,
    )

    report = build_report(path, since=now - 7 * 86_400.0, until=now + 60, now=now, top=1)

    assert len(report.groups) == 1
    group = report.groups[0]
    assert (group.count, group.total_count) == (3, 4)
    assert group.cause == "tcp-refused"
    assert group.explanation == cause_for("tcp-refused").explanation
    assert group.fix == cause_for("tcp-refused").fix
    assert group.commands == ("go", "prefetch")
    assert group.upstreams == (A,)
    assert group.modules == ("fixture.test/m0", "fixture.test/m1", "fixture.test/m2")
    assert group.example.startswith("connect to 127.0.0.1:")
    assert group.first_seen == old
    series = report.group_series[group.group_id]
    assert len(series) == 48
    assert sum(point.count for point in series) == 3


def test_slowest_artifacts_leave_out_cache_hits(tmp_path: Path, now: float) -> None:
    path = tmp_path / "history.sqlite3"
    artifacts = [
        _artifact("fast", duration=0.1),
        _artifact("slowest", duration=9.0, outcome="failed", upstream=None),
        _artifact("slow", duration=3.0),
        _artifact("cached", duration=60.0, cached=True),
    ]
    _record(path, "run-1", "go", artifacts, now - HOUR)

    report = build_report(path, since=now - HOUR * 2, until=now + 60, now=now, top=2)

    assert [(a.module, a.duration_ms, a.upstream) for a in report.slowest] == [
        ("fixture.test/slowest", 9000.0, None),
        ("fixture.test/slow", 3000.0, A),
    ]


def test_stage_table_shares_timeouts_and_names_the_likely_cause(tmp_path: Path, now: float) -> None:
    path = tmp_path / "history.sqlite3"
    t = now - HOUR
    events = [
        _attempt(t, connect=0.01),
        _attempt(t, connect=0.03),
        *[
            _attempt(t, outcome="error", cause="tcp-timeout", connect=None, first_byte=None)
            for _ in range(2)
        ],
        _attempt(t, outcome="error", cause="tcp-refused", connect=None, first_byte=None),
        _attempt(t, outcome="error", cause="http-server-error", first_byte=0.2),
    ]
    _record(path, "run-1", "go", events, t)

    report = build_report(path, since=now - 2 * HOUR, until=now + 60, now=now)

    stages = {s.stage: s for s in report.stages}
    assert [s.stage for s in report.stages] == ["connect", "tls", "first_byte", "transfer"]
    connect = stages["connect"]
    assert connect.attempts == 5  # two measured, three failed connecting
    assert connect.avg_ms == 20.0
    assert connect.timeout_share == 0.4
    assert connect.likely_cause == "tcp-timeout"
    assert connect.explanation == cause_for("tcp-timeout").explanation
    first_byte = stages["first_byte"]
    assert (first_byte.timeout_share, first_byte.likely_cause) == (0.0, "http-server-error")
    assert stages["tls"] == StageStats("tls", 0, None, 0.0, None, "")


def test_fleet_runs_count_host_states_and_doctor_keeps_the_latest_verdict(
    tmp_path: Path, now: float
) -> None:
    path = tmp_path / "history.sqlite3"
    store = FleetStore(path)
    store.create_run(
        "fleet-1", "go mod download", {}, [Target(f"web{i}", "127.0.0.1") for i in range(3)]
    )
    store.record("fleet-1", "web0", HostState.OK, 1, Outcome(HostState.OK, 0, "", 1.5, None, None))
    store.record(
        "fleet-1",
        "web1",
        HostState.UNREACHABLE,
        2,
        Outcome(HostState.UNREACHABLE, None, "", 0.2, "refused", "tcp-refused"),
    )
    store.finish_run("fleet-1", 1)
    store.close()
    t = now - HOUR
    verdicts = [
        DoctorVerdict(A, "go", "fail", "tcp", "tcp-timeout", "timed out", at=t),
        DoctorVerdict(A, "go", "ok", "none", "ok", "", at=t + 10),
        DoctorVerdict(B, "go", "fail", "tcp", "tcp-refused", "refused", at=t + 5),
    ]
    _record(path, "run-doctor", "doctor", verdicts, t)
    _record(
        path,
        "run-fleet",
        "fleet",
        [
            FleetHostChanged(
                "fleet-1", "web1", "unreachable", 2, error="refused", cause="tcp-refused"
            )
        ],
        t,
    )

    report = build_report(path, since=now - 2 * HOUR, until=now + 60, now=now)

    (run,) = report.fleet_runs
    assert (run.run_id, run.command, run.exit_code) == ("fleet-1", "go mod download", 1)
    assert run.states == {"ok": 1, "pending": 1, "unreachable": 1}
    assert [(h.host, h.state) for h in run.hosts] == [
        ("web0", "ok"),
        ("web1", "unreachable"),
        ("web2", "pending"),
    ]
    doctor = {d.source: d for d in report.doctor}
    assert (doctor[A].checks, doctor[A].failed, doctor[A].last_verdict) == (2, 1, "ok")
    assert (doctor[B].last_verdict, doctor[B].last_cause) == ("fail", "tcp-refused")
    hosts = {h for g in report.groups for h in g.hosts}
    assert hosts == {"web1"}


def test_latency_series_has_every_bucket(tmp_path: Path, now: float) -> None:
    path = tmp_path / "history.sqlite3"
    since = now - 4 * HOUR
    events = [
        _attempt(since + 10, total=0.1),
        _attempt(since + 20, total=0.3),
        _attempt(since + 3 * HOUR + 1, outcome="error", cause="tcp-reset", total=0.2),
    ]
    _record(path, "run-1", "go", events, since)

    report = build_report(path, since=since, until=now, now=now, buckets=4)

    assert report.bucket_seconds == pytest.approx(HOUR)
    points = report.latency_series[A]
    assert [p.at for p in points] == pytest.approx([since + i * HOUR for i in range(4)])
    assert [(p.attempts, p.failed) for p in points] == [(2, 0), (0, 0), (0, 0), (1, 1)]
    # The last bucket's only attempt failed: no latency to show, its failure is counted.
    assert (points[0].p50_ms, points[1].p50_ms, points[3].p95_ms) == (200.0, None, None)


def test_stored_credentials_never_reach_the_report(tmp_path: Path, now: float) -> None:
    path = tmp_path / "history.sqlite3"
    secret = "https://builder:hunter2@mirror.example.test"
    events: list[Event] = [
        _attempt(now - HOUR, upstream=secret, outcome="error", cause="tcp-reset", error="reset"),
        BreakerChanged(secret, "open", at=now - HOUR),
    ]
    _record(path, "run-1", "go", events, now - HOUR)

    report = build_report(path, since=now - 2 * HOUR, until=now + 60, now=now)

    assert [u.upstream for u in report.upstreams] == ["https://***@mirror.example.test"]
    assert report.upstreams[0].breaker_openings == 1
    assert "hunter2" not in json.dumps(report.to_json())


def test_a_missing_history_gives_an_empty_report_and_stays_missing(
    tmp_path: Path, now: float
) -> None:
    path = tmp_path / "none" / "history.sqlite3"

    report = build_report(path, since=now - HOUR, until=now, now=now)

    assert (report.runs, report.attempts, report.upstreams, report.groups) == (0, 0, (), ())
    assert [s.attempts for s in report.stages] == [0, 0, 0, 0]
    assert not path.parent.exists()


def test_an_open_connection_is_read_and_left_open(tmp_path: Path, now: float) -> None:
    path = tmp_path / "history.sqlite3"
    _record(path, "run-1", "go", [_attempt(now - 60)], now - 60)
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        report = build_report(db, since=now - HOUR, until=now + 60, now=now)
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    assert report.attempts == 1


def test_an_empty_window_is_refused(tmp_path: Path, now: float) -> None:
    with pytest.raises(ValueError, match="must end after it starts"):
        build_report(tmp_path / "h.sqlite3", since=now, until=now - 1, now=now)
