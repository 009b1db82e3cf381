"""`unstall report`'s terminal summary: the :class:`Report` as a few rich tables.

Upstreams, top error groups (with cause and fix), slowest artifacts, the stage table,
fleet runs and doctor verdicts; sections with nothing to show are left out. Every text
that came from the history is printed as plain text, never as rich markup.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from unstall.observe.report_model import Percentiles, Report

_EXAMPLE_CHARS = 160


def is_empty(report: Report) -> bool:
    """True when the window holds nothing at all to report."""
    return not (
        report.runs
        or report.attempts
        or report.artifacts
        or report.upstreams
        or report.groups
        or report.fleet_runs
        or report.doctor
    )


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at))


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def _triple(p: Percentiles) -> str:
    if p.p50 is None:
        return "-"
    return f"{_ms(p.p50)} / {_ms(p.p95)} / {_ms(p.p99)} ms"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _table(title: str, columns: Iterable[str]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _upstreams(report: Report) -> Table:
    table = _table(
        "upstreams",
        ("upstream", "attempts", "success", "ttfb p50/p95/p99", "total p50/p95/p99",
         "retries", "hedges (won)", "breaker opened"),
    )  # fmt: skip
    for u in report.upstreams:
        rate = Text(_share(u.success_rate))
        if u.success_rate is not None and u.success_rate < 0.95:
            rate.stylize("red")
        table.add_row(
            Text(u.upstream),
            f"{u.attempts:,}",
            rate,
            _triple(u.ttfb_ms),
            _triple(u.total_ms),
            f"{u.retries:,}",
            f"{u.hedges:,} ({u.hedges_won:,})",
            f"{u.breaker_openings:,}",
        )
    return table


def _touched(*parts: tuple[str, tuple[str, ...]]) -> Text:
    shown = [f"{label}: {', '.join(values)}" for label, values in parts if values]
    return Text("\n".join(shown) or "-")


def _groups(report: Report) -> Table:
    table = _table(
        f"top error groups (of {_when(report.since)} .. {_when(report.until)})",
        ("count", "all time", "cause", "last seen", "touched", "example and fix"),
    )
    for g in report.groups:
        example = (
            g.example if len(g.example) <= _EXAMPLE_CHARS else g.example[:_EXAMPLE_CHARS] + "…"
        )
        text = Text(example)
        if g.fix:
            text.append(f"\nfix: {g.fix}", style="dim")
        table.add_row(
            f"{g.count:,}",
            f"{g.total_count:,}",
            Text(g.cause or "-", style="red"),
            _when(g.last_seen),
            _touched(
                ("commands", g.commands),
                ("upstreams", g.upstreams),
                ("hosts", g.hosts),
                ("modules", g.modules),
            ),
            text,
        )
    return table


def _slowest(report: Report) -> Table:
    table = _table(
        "slowest artifacts", ("artifact", "upstream", "time", "attempts", "outcome", "at")
    )
    for a in report.slowest:
        table.add_row(
            Text(a.artifact),
            Text(a.upstream or "-"),
            f"{a.duration_ms / 1000:.2f} s",
            str(a.attempts),
            a.outcome,
            _when(a.at),
        )
    return table


def _stages(report: Report) -> Table:
    table = _table("stages", ("stage", "attempts", "average", "timeouts", "likely cause"))
    for s in report.stages:
        cause = Text(s.likely_cause or "-")
        if s.explanation:
            cause.append(f": {s.explanation}", style="dim")
        table.add_row(
            s.stage, f"{s.attempts:,}", f"{_ms(s.avg_ms)} ms", _share(s.timeout_share), cause
        )
    return table


def _fleet(report: Report) -> Table:
    table = _table("fleet runs", ("run", "command", "started", "hosts", "exit"))
    for run in report.fleet_runs:
        states = ", ".join(f"{state} {count}" for state, count in run.states.items())
        failing = [h.host for h in run.hosts if h.state != "ok"]
        hosts = Text(f"{len(run.hosts)}: {states}")
        if failing:
            more = f" (+{len(failing) - 10})" if len(failing) > 10 else ""
            hosts.append(f"\nnot ok: {', '.join(failing[:10])}{more}", style="dim")
        table.add_row(
            Text(run.run_id),
            Text(run.command),
            _when(run.started),
            hosts,
            "-" if run.exit_code is None else str(run.exit_code),
        )
    return table


def _doctor(report: Report) -> Table:
    table = _table("doctor", ("source", "checks", "failed", "last verdict", "at"))
    for d in report.doctor:
        verdict = Text(
            d.last_verdict + ("" if d.last_cause in ("", "ok") else f" ({d.last_cause})")
        )
        if d.last_verdict == "fail":
            verdict.stylize("red")
        table.add_row(Text(d.source), str(d.checks), str(d.failed), verdict, _when(d.last_at))
    return table


def print_report(console: Console, report: Report) -> None:
    """Print ``report`` as the terminal summary of `unstall report`."""
    window = f"{_when(report.since)} .. {_when(report.until)}"
    if is_empty(report):
        console.print(
            Text(
                f"No history between {window}: nothing recorded yet. Commands such as "
                "`unstall go`, `unstall prefetch` and `unstall fleet` record what they do."
            )
        )
        return
    console.print(
        Text(
            f"unstall report {window}: {report.runs:,} runs, {report.attempts:,} attempts, "
            f"{report.artifacts:,} artifacts",
            style="bold",
        )
    )
    sections = (
        (report.upstreams, _upstreams),
        (report.groups, _groups),
        (report.slowest, _slowest),
        (report.attempts, _stages),
        (report.fleet_runs, _fleet),
        (report.doctor, _doctor),
    )
    for present, render in sections:
        if present:
            console.print(render(report))
    console.print(
        Text(
            "Latencies in milliseconds, of the attempts that succeeded. Success: ok "
            "attempts of those that ended ok or "
            "failed. Retries: attempts after the first at the same upstream. Hedges: "
            "second requests for artifacts this upstream served; won: those a hedge here "
            "saved. Timeouts: timed-out attempts of those that reached the stage.",
            style="dim",
        )
    )


__all__ = ["is_empty", "print_report"]
