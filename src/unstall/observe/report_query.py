"""Building the :class:`~unstall.observe.report_model.Report` from the history database.

:func:`build_report` reads one consistent snapshot (a single read transaction, so a
command writing meanwhile never shows half) of the window ``[since, until]``: per upstream
statistics and latency series (:mod:`report_query_attempts`), error groups
(:mod:`report_query_groups`), the slowest artifacts, fleet runs and doctor verdicts.
Every query reads an index made for it (schema migration 4): a report over a million
attempts stays within a few seconds (bench/report.py).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Final

from unstall.observe.report_model import (
    DoctorSourceStats,
    FleetHostOutcome,
    FleetRunStats,
    LatencyPoint,
    PhaseBreakdown,
    Report,
    SlowArtifact,
    UpstreamStats,
)
from unstall.observe.report_query_attempts import (
    AttemptsScan,
    UpstreamAttempts,
    percentiles,
    scan_attempts,
)
from unstall.observe.report_query_groups import group_series, top_groups
from unstall.observe.report_query_window import Window
from unstall.observe.schema import connect
from unstall.redact import redact

_SLOWEST: Final = (
    "SELECT artifact, module, version, kind, upstream, outcome, attempts, duration_s, at"
    " FROM artifacts WHERE rowid IN (SELECT rowid FROM artifacts"
    " WHERE cached = 0 AND at >= ? AND at < ? ORDER BY duration_s DESC LIMIT ?)"
)
_HEDGES: Final = (
    "SELECT upstream, total(hedges), total(won_by = 'hedge') FROM artifacts"
    " WHERE hedges > 0 AND at >= ? AND at < ? AND upstream IS NOT NULL GROUP BY upstream"
)
_OPENINGS: Final = (
    "SELECT upstream, count(*) FROM breaker_events WHERE state = 'open' AND at >= ? AND at < ?"
    " GROUP BY upstream"
)
# SQLite takes the other columns from the row that holds max(at): the latest verdict.
_DOCTOR: Final = (
    "SELECT source, count(*), total(verdict = 'fail'), verdict, cause, max(at)"
    " FROM doctor_verdicts WHERE at >= ? AND at < ? GROUP BY source ORDER BY source"
)
_FLEET_RUNS: Final = (
    "SELECT run_id, command, started, finished, exit_code FROM fleet_runs"
    " WHERE started >= ? AND started < ? ORDER BY started DESC LIMIT ?"
)
_FLEET_HOSTS: Final = (
    "SELECT host, state, attempts, exit_code, duration_s FROM fleet_hosts WHERE run_id = ?"
    " ORDER BY position, host"
)


def build_report(
    db: sqlite3.Connection | Path,
    *,
    since: float,
    until: float,
    now: float,
    top: int = 10,
    buckets: int = 48,
) -> Report:
    """The report of the window ``[since, until]`` (Unix seconds), generated at ``now``.

    ``db`` is an open history connection (left open) or the database's path: a path
    that does not exist gives an empty report and is not created. ``top`` bounds the
    error groups, slowest artifacts and fleet runs; ``buckets`` is the number of equal
    time buckets of the series.
    """
    window = Window(since, until, buckets)
    if isinstance(db, Path):
        if not db.exists():
            return _empty(window, now)
        with closing(connect(db)) as opened:
            return _snapshot(opened, window, now, top)
    return _snapshot(db, window, now, top)


def _snapshot(db: sqlite3.Connection, window: Window, now: float, top: int) -> Report:
    began = not db.in_transaction
    if began:
        db.execute("BEGIN")
    try:
        return _read(db, window, now, top)
    finally:
        if began:
            db.execute("COMMIT")


def _read(db: sqlite3.Connection, window: Window, now: float, top: int) -> Report:
    span = (window.since, window.end)
    scan = scan_attempts(db, window)
    groups = top_groups(db, window, top)
    runs = db.execute("SELECT count(*) FROM runs WHERE started >= ? AND started < ?", span)
    run_count = int(runs.fetchone()[0])
    artifacts = db.execute("SELECT count(*) FROM artifacts WHERE at >= ? AND at < ?", span)
    artifact_count = int(artifacts.fetchone()[0])
    upstreams = _upstreams(db, window, scan)
    return Report(
        since=window.since,
        until=window.until,
        generated=now,
        runs=run_count,
        attempts=sum(u.attempts for u in upstreams),
        artifacts=artifact_count,
        upstreams=upstreams,
        groups=groups,
        slowest=_slowest(db, window, top),
        stages=scan.stages(),
        fleet_runs=_fleet_runs(db, window, top),
        doctor=_doctor(db, window),
        bucket_seconds=window.width,
        latency_series={
            u.upstream: tuple(scan.upstreams[u.upstream].series)
            if u.upstream in scan.upstreams
            else _no_latency(window)
            for u in upstreams
        },
        group_series=group_series(db, window, groups),
        phases=tuple(
            scan.upstreams[u.upstream].phases()
            if u.upstream in scan.upstreams
            else PhaseBreakdown(u.upstream, None, None, None, None)
            for u in upstreams
        ),
    )


def _upstreams(
    db: sqlite3.Connection, window: Window, scan: AttemptsScan
) -> tuple[UpstreamStats, ...]:
    """Per upstream statistics, most attempts first; an upstream whose breaker opened in
    the window is listed even without attempts. Names are shown redacted."""
    span = (window.since, window.end)
    hedges: Counter[str] = Counter()
    won: Counter[str] = Counter()
    for name, hedged, hedge_won in db.execute(_HEDGES, span):
        hedges[redact(name)] += int(hedged)
        won[redact(name)] += int(hedge_won)
    openings: Counter[str] = Counter()
    for name, count in db.execute(_OPENINGS, span):
        openings[redact(name)] += int(count)
    stats = []
    for name in sorted({*scan.upstreams, *openings}):
        seen = scan.upstreams.get(name) or UpstreamAttempts(name)
        decided = seen.ok + seen.failed
        stats.append(
            UpstreamStats(
                upstream=name,
                attempts=seen.attempts,
                ok=seen.ok,
                failed=seen.failed,
                success_rate=round(seen.ok / decided, 4) if decided else None,
                ttfb_ms=percentiles(seen.ttfb_us),
                total_ms=percentiles(seen.total_us),
                retries=seen.retries,
                hedges=hedges[name],
                hedges_won=won[name],
                breaker_openings=openings[name],
            )
        )
    return tuple(sorted(stats, key=lambda s: (-s.attempts, s.upstream)))


def _no_latency(window: Window) -> tuple[LatencyPoint, ...]:
    return tuple(LatencyPoint(start, 0, 0, None, None) for start, _ in window.ranges())


def _slowest(db: sqlite3.Connection, window: Window, top: int) -> tuple[SlowArtifact, ...]:
    rows = db.execute(_SLOWEST, (window.since, window.end, top)).fetchall()
    slow = [
        SlowArtifact(
            artifact=str(r[0]),
            module=str(r[1]),
            version=str(r[2]),
            kind=str(r[3]),
            upstream=redact(r[4]) if r[4] is not None else None,
            outcome=str(r[5]),
            attempts=int(r[6]),
            duration_ms=round(float(r[7]) * 1000.0, 3),
            at=float(r[8]),
        )
        for r in rows
    ]
    return tuple(sorted(slow, key=lambda a: (-a.duration_ms, a.artifact)))


def _fleet_runs(db: sqlite3.Connection, window: Window, top: int) -> tuple[FleetRunStats, ...]:
    runs = []
    for run_id, command, started, finished, exit_code in db.execute(
        _FLEET_RUNS, (window.since, window.end, top)
    ).fetchall():
        hosts = tuple(
            FleetHostOutcome(str(h[0]), str(h[1]), int(h[2]), h[3], h[4])
            for h in db.execute(_FLEET_HOSTS, (run_id,))
        )
        runs.append(
            FleetRunStats(
                run_id=str(run_id),
                command=redact(str(command)),
                started=float(started),
                finished=finished,
                exit_code=exit_code,
                states=dict(sorted(Counter(h.state for h in hosts).items())),
                hosts=hosts,
            )
        )
    return tuple(runs)


def _doctor(db: sqlite3.Connection, window: Window) -> tuple[DoctorSourceStats, ...]:
    return tuple(
        DoctorSourceStats(str(r[0]), int(r[1]), int(r[2]), str(r[3]), str(r[4]), float(r[5]))
        for r in db.execute(_DOCTOR, (window.since, window.end))
    )


def _empty(window: Window, now: float) -> Report:
    return Report(
        since=window.since,
        until=window.until,
        generated=now,
        runs=0,
        attempts=0,
        artifacts=0,
        upstreams=(),
        groups=(),
        slowest=(),
        stages=AttemptsScan().stages(),
        fleet_runs=(),
        doctor=(),
        bucket_seconds=window.width,
    )


__all__ = ["build_report"]
