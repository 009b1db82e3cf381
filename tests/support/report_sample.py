"""Report values for rendering tests: a realistic day of history, an empty one, a hostile one.

Built directly from :mod:`unstall.observe.report_model`, so the renderers are tested
without the query layer; the numbers are deterministic (seeded).
"""

from __future__ import annotations

import random

from unstall.observe.report_model import (
    DoctorSourceStats,
    ErrorGroupStats,
    FleetHostOutcome,
    FleetRunStats,
    GroupPoint,
    LatencyPoint,
    Percentiles,
    PhaseBreakdown,
    Report,
    SlowArtifact,
    StageStats,
    UpstreamStats,
)

UNTIL = 1_717_243_200.0  # 2024-06-01T12:00:00Z
BUCKET = 3600.0
BUCKETS = 24
SINCE = UNTIL - BUCKETS * BUCKET
MIRROR_A = "https://mirror-a.example.test/go"
MIRROR_B = "https://mirror-b.example.test"
BUNDLE = "file:///var/cache/unstall/bundle"
HOSTILE = '<script>alert("x")</script>'


def _upstream(name: str, attempts: int, failed: int, ttfb: float, total: float) -> UpstreamStats:
    return UpstreamStats(
        upstream=name,
        attempts=attempts,
        ok=attempts - failed,
        failed=failed,
        success_rate=(attempts - failed) / attempts,
        ttfb_ms=Percentiles(ttfb, ttfb * 3, ttfb * 6),
        total_ms=Percentiles(total, total * 2.5, total * 5),
        retries=failed // 2,
        hedges=attempts // 40,
        hedges_won=attempts // 90,
        breaker_openings=1 if failed > 20 else 0,
    )


def _latency(rng: random.Random, base: float, gaps: set[int]) -> tuple[LatencyPoint, ...]:
    points = []
    for i in range(BUCKETS):
        attempts = rng.randint(20, 80)
        failed = rng.choice((0, 0, 0, 1, 3))
        p95 = None if i in gaps else base * rng.uniform(0.7, 1.8)
        points.append(
            LatencyPoint(
                at=SINCE + i * BUCKET,
                attempts=attempts,
                failed=attempts if p95 is None else failed,
                p50_ms=None if p95 is None else p95 / 3,
                p95_ms=p95,
            )
        )
    return tuple(points)


def _group(index: int, name: str, example: str, cause: str, count: int) -> ErrorGroupStats:
    return ErrorGroupStats(
        group_id=f"g{index:02d}",
        pattern=name,
        example=example,
        cause=cause,
        explanation=f"Explanation of {cause}.",
        fix=f"Fix for {cause}.",
        count=count,
        total_count=count * 3,
        first_seen=SINCE + 600.0 * index,
        last_seen=UNTIL - 300.0 * index,
        commands=("go", "prefetch"),
        upstreams=(MIRROR_B,),
        hosts=(f"build-{index}.fixture.test",),
        modules=tuple(f"fixture.test/mod{j}" for j in range(index % 8)),
    )


def sample_report(*, hostile: bool = False) -> Report:
    """A day of history with 3 upstreams, 8 error groups, 3 fleet runs and 3 doctor sources.

    ``hostile`` puts markup, quotes and a credential into names and messages.
    """
    rng = random.Random(8)
    bad = HOSTILE if hostile else ""
    upstream_b = MIRROR_B + bad
    upstreams = (
        _upstream(MIRROR_A, 1200, 4, 80.0, 240.0),
        _upstream(upstream_b, 800, 35, 210.0, 900.0),
        _upstream(BUNDLE, 300, 0, 1.5, 6.0),
    )
    groups = tuple(
        _group(
            i,
            f"GET <url>: dial tcp <addr>: i/o timeout #{i}{bad}",
            f"GET {MIRROR_B}/fixture.test/mod{i}/@v/v1.{i}.0.zip: i/o timeout{bad}"
            + (" via https://user:s3cret@proxy.example.test:3128" if hostile else ""),
            "tcp-timeout",
            40 - 4 * i,
        )
        for i in range(8)
    )
    group_series = {
        g.group_id: tuple(
            GroupPoint(SINCE + b * BUCKET, rng.randint(1, 6))
            for b in range(BUCKETS)
            if rng.random() < 0.5
        )
        for g in groups
    }
    slowest = tuple(
        SlowArtifact(
            artifact=f"fixture.test/mod{i}/@v/v1.{i}.0.zip{bad}",
            module=f"fixture.test/mod{i}",
            version=f"v1.{i}.0",
            kind="zip",
            upstream=None if i == 9 else upstream_b,
            outcome="failed" if i == 9 else "ok",
            attempts=1 + i % 3,
            duration_ms=30_000.0 / (i + 1),
            at=SINCE + 1800.0 * i,
        )
        for i in range(10)
    )
    stages = (
        StageStats("connect", 2300, 12.5, 0.01, "tcp-timeout", "No answer to the connection."),
        StageStats("tls", 2000, 35.0, 0.0, None, ""),
        StageStats("first_byte", 2000, 120.0, 0.004, "http-timeout", "Slow first byte."),
        StageStats("transfer", 1990, 410.0, 0.002, None, ""),
    )
    states = ("ok", "failed", "timeout", "unreachable")
    fleet_runs = tuple(
        FleetRunStats(
            run_id=f"run-{r:04d}-abcdef0123",
            command="unstall go mod download",
            started=SINCE + 7200.0 * (r + 1),
            finished=SINCE + 7200.0 * (r + 1) + 340.0,
            exit_code=0 if r == 0 else 1,
            states={"ok": 10 - 2 * r, "failed": r, "unreachable": r}
            | ({"timeout": 1} if r == 2 else {})
            | ({bad: 1} if hostile and r == 1 else {}),
            hosts=tuple(
                FleetHostOutcome(
                    f"host-{h}.fixture.test{bad if h == 0 else ''}",
                    states[h % 4] if h < 3 * r else "ok",
                    1 + h % 2,
                    0 if h >= 3 * r else 1,
                    12.0 + h,
                )
                for h in range(6)
            ),
        )
        for r in range(3)
    )
    doctor = (
        DoctorSourceStats(MIRROR_A, 12, 0, "ok", "ok", UNTIL - 900),
        DoctorSourceStats(upstream_b, 12, 5, "failed", "tls-untrusted" + bad, UNTIL - 800),
        DoctorSourceStats("https://sum.example.test", 4, 0, "ok", "ok", UNTIL - 700),
    )
    phases = (
        PhaseBreakdown(MIRROR_A, 8.0, 22.0, 45.0, 160.0),
        PhaseBreakdown(upstream_b, 40.0, 95.0, 230.0, 520.0),
        PhaseBreakdown(BUNDLE, None, None, 0.4, 4.0),
    )
    return Report(
        since=SINCE,
        until=UNTIL,
        generated=UNTIL + 5,
        runs=57,
        attempts=2300,
        artifacts=2050,
        upstreams=upstreams,
        groups=groups,
        slowest=slowest,
        stages=stages,
        fleet_runs=fleet_runs,
        doctor=doctor,
        bucket_seconds=BUCKET,
        latency_series={
            MIRROR_A: _latency(rng, 200.0, set()),
            upstream_b: _latency(rng, 600.0, {5, 6, 17}),
            BUNDLE: _latency(rng, 5.0, set()),
        },
        group_series=group_series,
        phases=phases,
    )


def empty_report() -> Report:
    """A window in which nothing was recorded."""
    return Report(
        since=SINCE,
        until=UNTIL,
        generated=UNTIL,
        runs=0,
        attempts=0,
        artifacts=0,
        upstreams=(),
        groups=(),
        slowest=(),
        stages=(),
        fleet_runs=(),
        doctor=(),
        bucket_seconds=BUCKET,
    )


__all__ = [
    "BUCKETS",
    "BUNDLE",
    "HOSTILE",
    "MIRROR_A",
    "MIRROR_B",
    "SINCE",
    "UNTIL",
    "empty_report",
    "sample_report",
]
