"""The attempts of a report window: per upstream, per time bucket, per stage.

One pass over the covering index ``attempts_report`` (schema migration 4), one small
query per upstream and bucket: SQLite counts and sums each (outcome, cause) group and
hands back its latencies as one string of integer microseconds (cheaper to format and
parse than a million rows or floats). Percentiles are then exact, by linear
interpolation between the closest ranks of the sorted values.

Definitions (shared with the HTML page and ``--json``):

- failed: an outcome other than ok, not-found and cancelled;
- retries: attempts numbered 2 or more (a retry of one artifact at the same upstream);
- latency percentiles are over the attempts that succeeded: a failed attempt's duration
  is mostly its deadline, which the success rate and the stage table already tell, and
  would otherwise make every p95 read "the timeout"; cancelled ones (a hedge's loser) were
  cut short;
- a stage was *reached* by the attempts that measured it and by those that failed with a
  cause of its layer; its timeout share is the timeout-like causes among those;
- a stage's average is over the attempts that measured it; first_byte is, as recorded,
  the time from the attempt's start to the response headers (TTFB).
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

from unstall.doctor.causes import CATALOGUE
from unstall.observe.report_model import (
    LatencyPoint,
    Percentiles,
    PhaseBreakdown,
    StageStats,
)
from unstall.observe.report_query_window import Window
from unstall.redact import redact

NOT_FAILED: Final = frozenset({"ok", "not-found", "cancelled"})
# (stage, the phase column's position in a bucket row, the cause layers failing in it)
STAGES: Final = (
    ("connect", 0, frozenset({"dns", "tcp", "proxy"})),
    ("tls", 1, frozenset({"tls"})),
    ("first_byte", 2, frozenset({"http"})),
    ("transfer", 3, frozenset({"transfer"})),
)
# Causes that are the stage running out of time rather than refusing or breaking.
_STALLS: Final = frozenset({"transfer-stall", "transfer-slow", "deadline-exceeded"})
TIMEOUT_CAUSES: Final = frozenset(
    cause.id for cause in CATALOGUE.values() if cause.id.endswith("-timeout") or cause.id in _STALLS
)

_FIRST_UPSTREAM: Final = "SELECT min(upstream) FROM attempts"
_NEXT_UPSTREAM: Final = "SELECT min(upstream) FROM attempts WHERE upstream > ?"
_ANY_IN_WINDOW: Final = "SELECT 1 FROM attempts WHERE upstream = ? AND at >= ? AND at < ? LIMIT 1"
_BUCKET: Final = (
    "SELECT outcome, cause, count(*), total(attempt > 1),"
    " count(connect_s), total(connect_s), count(tls_s), total(tls_s),"
    " count(first_byte_s), total(first_byte_s), count(transfer_s), total(transfer_s),"
    " group_concat(CAST(total_s * 1000000 AS INTEGER)),"
    " group_concat(CAST(first_byte_s * 1000000 AS INTEGER))"
    " FROM attempts WHERE upstream = ? AND at >= ? AND at < ? GROUP BY outcome, cause"
)


def percentile(ordered: list[int], q: float) -> float:
    """The ``q`` quantile (0..1) of sorted microseconds, in milliseconds."""
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    return round(value / 1000.0, 3)


def percentiles(ordered: list[int]) -> Percentiles:
    """p50/p95/p99 of sorted microseconds; all None when there is nothing."""
    if not ordered:
        return Percentiles()
    return Percentiles(
        percentile(ordered, 0.5), percentile(ordered, 0.95), percentile(ordered, 0.99)
    )


@dataclass(slots=True)
class Causes:
    """One (outcome, cause) group summed over every upstream: what stages are made of."""

    count: int = 0
    measured: list[int] = field(default_factory=lambda: [0, 0, 0, 0])


@dataclass(slots=True)
class UpstreamAttempts:
    """What one upstream's attempts in the window add up to."""

    upstream: str
    attempts: int = 0
    ok: int = 0
    failed: int = 0
    retries: int = 0
    phase_count: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    phase_sum: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])
    total_us: list[int] = field(default_factory=list)
    ttfb_us: list[int] = field(default_factory=list)
    series: list[LatencyPoint] = field(default_factory=list)

    def phases(self) -> PhaseBreakdown:
        """Average milliseconds of each phase over the attempts that had it."""
        averages = [
            round(s / n * 1000.0, 3) if n else None
            for s, n in zip(self.phase_sum, self.phase_count, strict=True)
        ]
        return PhaseBreakdown(self.upstream, *averages)


@dataclass(slots=True)
class AttemptsScan:
    """Every upstream's attempts, and the (outcome, cause) groups over all of them."""

    upstreams: dict[str, UpstreamAttempts] = field(default_factory=dict)
    causes: dict[tuple[str, str], Causes] = field(default_factory=dict)

    def stages(self) -> tuple[StageStats, ...]:
        """The stage table: reached, average, timeout share and likely cause per stage."""
        rows = []
        for stage, column, layers in STAGES:
            measured = sum(u.phase_count[column] for u in self.upstreams.values())
            seconds = sum(u.phase_sum[column] for u in self.upstreams.values())
            reached = timeouts = 0
            failing: Counter[str] = Counter()
            for (outcome, cause), group in self.causes.items():
                known = CATALOGUE.get(cause)
                in_stage = outcome not in NOT_FAILED and known is not None and known.layer in layers
                reached += group.count if in_stage else group.measured[column]
                if in_stage:
                    failing[cause] += group.count
                    if cause in TIMEOUT_CAUSES:
                        timeouts += group.count
            likely = failing.most_common(1)[0][0] if failing else None
            rows.append(
                StageStats(
                    stage=stage,
                    attempts=reached,
                    avg_ms=round(seconds / measured * 1000.0, 3) if measured else None,
                    timeout_share=round(timeouts / reached, 4) if reached else 0.0,
                    likely_cause=likely,
                    explanation=CATALOGUE[likely].explanation if likely else "",
                )
            )
        return tuple(rows)


def _microseconds(joined: str | None) -> list[int]:
    # The C JSON parser reads a list of integers twice as fast as int() over split().
    return list(json.loads(f"[{joined}]")) if joined else []


def _upstream_names(db: sqlite3.Connection, window: Window) -> dict[str, list[str]]:
    """Upstreams with attempts in the window by their shown (redacted) name, found by
    seeking the index rather than scanning it."""
    names: dict[str, list[str]] = {}
    row = db.execute(_FIRST_UPSTREAM).fetchone()
    while row is not None and row[0] is not None:
        name = str(row[0])
        if db.execute(_ANY_IN_WINDOW, (name, window.since, window.end)).fetchone():
            names.setdefault(redact(name), []).append(name)
        row = db.execute(_NEXT_UPSTREAM, (name,)).fetchone()
    return names


def scan_attempts(db: sqlite3.Connection, window: Window) -> AttemptsScan:
    """Read every attempt of ``window`` once, bucket by bucket; upstreams are keyed by
    their redacted names (stored names carry no credentials; this makes sure)."""
    scan = AttemptsScan()
    ranges = window.ranges()
    for shown, stored in _upstream_names(db, window).items():
        stats = scan.upstreams[shown] = UpstreamAttempts(shown)
        for start, end in ranges:
            bucket = _Bucket()
            for name in stored:
                for row in db.execute(_BUCKET, (name, start, end)):
                    bucket.add(row, stats, scan)
            # Sorted per bucket: the upstream's lists become a few dozen sorted runs,
            # which timsort merges instead of sorting afresh.
            bucket.total_us.sort()
            bucket.ttfb_us.sort()
            stats.ttfb_us += bucket.ttfb_us
            stats.attempts += bucket.attempts
            stats.failed += bucket.failed
            stats.total_us += bucket.total_us
            ordered = percentiles(bucket.total_us)
            stats.series.append(
                LatencyPoint(start, bucket.attempts, bucket.failed, ordered.p50, ordered.p95)
            )
    for stats in scan.upstreams.values():
        stats.total_us.sort()
        stats.ttfb_us.sort()
    return scan


@dataclass(slots=True)
class _Bucket:
    attempts: int = 0
    failed: int = 0
    total_us: list[int] = field(default_factory=list)
    ttfb_us: list[int] = field(default_factory=list)

    def add(
        self, row: sqlite3.Row | tuple[Any, ...], stats: UpstreamAttempts, scan: AttemptsScan
    ) -> None:
        """Count one (outcome, cause) row of a bucket query."""
        outcome, cause, count = str(row[0]), str(row[1]), int(row[2])
        self.attempts += count
        stats.retries += int(row[3])
        group = scan.causes.setdefault((outcome, cause), Causes())
        group.count += count
        for column in range(4):
            measured = int(row[4 + 2 * column])
            group.measured[column] += measured
            stats.phase_count[column] += measured
            stats.phase_sum[column] += float(row[5 + 2 * column])
        if outcome == "ok":
            stats.ok += count
            self.total_us += _microseconds(row[12])
            self.ttfb_us += _microseconds(row[13])
        elif outcome not in NOT_FAILED:
            self.failed += count


__all__ = [
    "NOT_FAILED",
    "STAGES",
    "TIMEOUT_CAUSES",
    "AttemptsScan",
    "UpstreamAttempts",
    "percentile",
    "percentiles",
    "scan_attempts",
]
