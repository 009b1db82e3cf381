"""doctor's human output: a table per source (phases, verdict), then the environment."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from unstall.doctor.model import Check, CheckStatus, SourceReport, Verdict

_VERDICT_STYLE = {Verdict.OK: "green", Verdict.SLOW: "yellow", Verdict.FAIL: "bold red"}
_STATUS_STYLE = {
    CheckStatus.OK: "green",
    CheckStatus.INFO: "cyan",
    CheckStatus.WARN: "yellow",
    CheckStatus.FAIL: "bold red",
}
_PHASES = (
    ("DNS", "dns_ms", "ms", ("dns",)),
    ("connect", "connect_ms", "ms", ("tcp", "proxy")),
    ("TLS", "tls_ms", "ms", ("tls",)),
    ("first byte", "ttfb_ms", "ms", ("http",)),
    ("transfer", "transfer_ms", "ms", ("transfer",)),
    ("throughput", "throughput_kbps", "kB/s", ()),
)


def _number(value: float, unit: str) -> str:
    return f"{value:,.1f} {unit}" if value < 100 else f"{value:,.0f} {unit}"


def phase_line(report: SourceReport) -> Text:
    """Phases on one line; the layer that failed is marked, phases not reached are '-'."""
    values = report.phases.as_dict()
    parts: list[Text] = []
    for label, key, unit, layers in _PHASES:
        value = values[key]
        if report.verdict is not Verdict.OK and report.layer in layers:
            mark = Text("✗" if value is None else _number(value, unit) + " ✗")
            mark.stylize(_VERDICT_STYLE[report.verdict])
        else:
            mark = Text("-" if value is None else _number(value, unit))
        parts.append(Text.assemble((f"{label} ", "dim"), mark))
    return Text("  ·  ").join(parts)


def source_table(report: SourceReport) -> RenderableType:
    """One source: its verdict, the phase timings, and what to do if it is not ok."""
    style = _VERDICT_STYLE[report.verdict]
    title = Text.assemble(
        (report.verdict.value.upper(), style), "  ", report.url, (f"  ({report.kind.value})", "dim")
    )
    table = Table(show_header=False, box=None, padding=(0, 2), pad_edge=False)
    table.add_column(style="dim", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("phases", phase_line(report))
    for label, value in report.details:
        table.add_row(label, value)
    if report.verdict is Verdict.OK:
        table.add_row("result", report.message)
    else:
        table.add_row(
            "result",
            Text.assemble((f"{report.cause} ({report.layer} layer): ", style), report.message),
        )
        table.add_row("fix", Text(report.fix, style="bold"))
    return Group(title, table, Text(""))


def checks_table(checks: Sequence[Check]) -> Table:
    """Environment findings, one row each."""
    table = Table(title="Environment", title_justify="left", show_lines=False)
    table.add_column("status", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("finding", overflow="fold")
    with_fix = any(check.fix for check in checks)
    if with_fix:
        table.add_column("fix", overflow="fold")
    for check in checks:
        cells: list[RenderableType] = [
            Text(check.status.value, style=_STATUS_STYLE[check.status]),
            check.id,
            check.message,
        ]
        if with_fix:
            cells.append(check.fix)
        table.add_row(*cells)
    return table


def summary_line(reports: Sequence[SourceReport]) -> Text:
    counts = {v: sum(1 for r in reports if r.verdict is v) for v in Verdict}
    return Text.assemble(
        f"{len(reports)} source(s): ",
        (f"{counts[Verdict.OK]} ok", _VERDICT_STYLE[Verdict.OK]),
        ", ",
        (f"{counts[Verdict.SLOW]} slow", _VERDICT_STYLE[Verdict.SLOW]),
        ", ",
        (f"{counts[Verdict.FAIL]} failing", _VERDICT_STYLE[Verdict.FAIL]),
    )


def print_report(
    console: Console, reports: Sequence[SourceReport], checks: Sequence[Check]
) -> None:
    """The whole human report: sources first (what stalls), then the environment."""
    for report in reports:
        console.print(source_table(report))
    if not reports:
        console.print(Text("No source to probe (see the environment findings).", style="yellow"))
    if checks:
        console.print(checks_table(checks))
    if reports:
        console.print(summary_line(reports))


__all__ = ["checks_table", "phase_line", "print_report", "source_table", "summary_line"]
