"""The chart section of the HTML report: the Report's series as server-drawn SVG.

Four figures: p95 latency over time per upstream (failed buckets marked), error groups
over time (stacked columns, top groups plus the rest), the phase breakdown per upstream
and the host outcomes of each fleet run. Each shows "no data in this window" when the
window holds nothing for it. Also the UTC and millisecond formatting the page shares.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from unstall.observe.report_model import LatencyPoint, Report
from unstall.observe.svg_charts import (
    Line,
    Point,
    Stack,
    bar_chart,
    column_chart,
    line_chart,
    no_data,
    plain_number,
)
from unstall.redact import redact

_TOP_GROUPS = 6
_STATE_COLORS = {
    "ok": "#009E73",
    "failed": "#D55E00",
    "timeout": "#E69F00",
    "unreachable": "#999999",
    "retrying": "#56B4E9",
    "running": "#0072B2",
    "connecting": "#CC79A7",
    "pending": "#DDDDDD",
}
_PHASES = (
    ("connect", "#0072B2"),
    ("tls", "#CC79A7"),
    ("first byte", "#E69F00"),
    ("transfer", "#009E73"),
)


def iso_utc(ts: float | None) -> str:
    """A time as UTC ISO 8601 to the second (``—`` for none)."""
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def tick_utc(ts: float) -> str:
    """A time as UTC ISO 8601 to the minute, for axis ticks."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%MZ")


def fmt_ms(value: float | None) -> str:
    """Milliseconds as shown in tables: one decimal below 100, grouped digits above."""
    if value is None:
        return "—"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def _time_domain(report: Report) -> tuple[float, float]:
    """From the first bucket with data to the end of the last, shared by the time charts."""
    starts = [p.at for points in report.latency_series.values() for p in points]
    starts += [p.at for points in report.group_series.values() for p in points]
    if not starts:
        return report.since, report.until
    return min(starts), max(starts) + max(report.bucket_seconds, 1.0)


def _latency_chart(report: Report, domain: tuple[float, float]) -> str:
    half = max(report.bucket_seconds, 1.0) / 2
    order = [u.upstream for u in report.upstreams]
    names = order + sorted(set(report.latency_series) - set(order))
    lines = []
    for name in names:
        label = redact(name)

        def note(p: LatencyPoint, label: str = label) -> str:
            return (
                f"{label} {iso_utc(p.at)}: p95 {fmt_ms(p.p95_ms)} ms, p50 {fmt_ms(p.p50_ms)} ms, "
                f"{p.attempts} attempts, {p.failed} failed"
            )

        points = report.latency_series.get(name, ())
        lines.append(
            Line(
                name=label,
                points=tuple(
                    Point(p.at + half, p.p95_ms, note(p)) for p in points if p.p95_ms is not None
                ),
                markers=tuple(
                    Point(p.at + half, p.p95_ms or 0.0, note(p)) for p in points if p.failed
                ),
            )
        )
    return line_chart(
        lines, title="p95 latency per upstream (ms)", x_domain=domain, x_format=tick_utc
    )


def _group_chart(report: Report, domain: tuple[float, float]) -> str:
    totals = Counter({gid: sum(p.count for p in pts) for gid, pts in report.group_series.items()})
    top = [gid for gid, _ in totals.most_common(_TOP_GROUPS)]
    rest = [gid for gid in totals if gid not in top]
    patterns = {g.group_id: g.pattern for g in report.groups}
    starts = sorted({p.at for pts in report.group_series.values() for p in pts})
    index = {at: i for i, at in enumerate(starts)}

    def values(group_ids: Sequence[str]) -> tuple[float, ...]:
        out = [0.0] * len(starts)
        for gid in group_ids:
            for p in report.group_series[gid]:
                out[index[p.at]] += p.count
        return tuple(out)

    stacks = [Stack(redact(patterns.get(gid, gid)), values([gid])) for gid in top]
    if rest:
        stacks.append(Stack(f"{len(rest)} other groups", values(rest), "#999999"))
    return column_chart(
        starts,
        max(report.bucket_seconds, 1.0),
        stacks,
        title="errors per group over time",
        x_domain=domain,
        x_format=tick_utc,
        notes=[iso_utc(at) for at in starts],
    )


def _phase_chart(report: Report) -> str:
    rows = report.phases
    stacks = [
        Stack(name, tuple(value or 0.0 for value in column), color)
        for (name, color), column in zip(
            _PHASES,
            (
                [p.connect_ms for p in rows],
                [p.tls_ms for p in rows],
                [p.first_byte_ms for p in rows],
                [p.transfer_ms for p in rows],
            ),
            strict=True,
        )
    ]
    return bar_chart(
        [redact(p.upstream) for p in rows],
        stacks,
        title="average ms per phase and upstream",
        value_format=lambda v: f"{plain_number(round(v, 1))} ms",
    )


def _fleet_chart(report: Report) -> str:
    runs = report.fleet_runs
    known = list(_STATE_COLORS)
    states = sorted(
        {s for run in runs for s in run.states},
        key=lambda s: (known.index(s) if s in known else len(known), s),
    )
    stacks = [
        Stack(
            redact(state),
            tuple(float(r.states.get(state, 0)) for r in runs),
            _STATE_COLORS.get(state),
        )
        for state in states
    ]
    labels = [f"{redact(r.run_id)[:12]} {tick_utc(r.started)}" for r in runs]
    return bar_chart(labels, stacks, title="fleet host outcomes per run")


def _figure(key: str, caption: str, chart: str, note: str = "") -> str:
    # The note explains the drawing; next to the no-data note it would explain nothing.
    extra = f'<p class="muted">{note}</p>' if note and chart != no_data() else ""
    return (
        f'<figure id="chart-{key}" data-chart="{key}"><figcaption>{caption}</figcaption>'
        f"{chart}{extra}</figure>"
    )


def charts_section(report: Report) -> str:
    """The "Charts" section: four figures, each a chart or the no-data note."""
    domain = _time_domain(report)
    return (
        '<section id="charts"><h2>Charts</h2>'
        + _figure(
            "latency",
            "Latency over time per upstream (p95, ms)",
            _latency_chart(report, domain),
            "Each point is one bucket's p95; × marks a bucket with failed attempts.",
        )
        + _figure("groups", "Error groups over time", _group_chart(report, domain))
        + _figure("phases", "Phase breakdown per upstream", _phase_chart(report))
        + _figure("fleet", "Fleet outcomes", _fleet_chart(report))
        + "</section>"
    )


__all__ = ["charts_section", "fmt_ms", "iso_utc", "tick_utc"]
