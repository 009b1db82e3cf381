"""`unstall mirrors rank`'s human output: a ranked table per ecosystem, then exclusions."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from unstall.mirrors.model import Ecosystem
from unstall.mirrors.rank import Ranking, Status


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def _kbps(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:,.1f} MB/s" if value >= 1000 else f"{value:,.0f} kB/s"


def _correct(value: bool | None) -> str:
    return {True: "yes", False: "NO", None: "unverified"}[value]


def ranking_table(ecosystem: Ecosystem, rows: Sequence[Ranking]) -> Table:
    table = Table(title=f"{ecosystem.value}: ranked", title_justify="left")
    for column in ("#", "url", "first byte", "throughput", "1 MiB in", "correct", "flags"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            str(row.rank),
            Text(
                row.candidate.url
                + (f"  ({row.candidate.origin})" if row.candidate.origin == "current" else "")
            ),
            _ms(row.ttfb_ms),
            _kbps(row.throughput_kbps),
            "-" if row.score_s is None else f"{row.score_s:.2f} s",
            _correct(row.correct),
            Text(", ".join(row.flags), style="yellow"),
        )
    return table


def exclusion_table(rows: Sequence[Ranking]) -> Table:
    table = Table(title="excluded", title_justify="left")
    for column in ("ecosystem", "url", "cause", "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.candidate.ecosystem.value,
            row.candidate.url,
            Text(row.cause or "-", style="red"),
            row.reason or "",
        )
    return table


def print_rankings(console: Console, rankings: Sequence[Ranking]) -> None:
    for ecosystem in Ecosystem:
        ranked = [
            r for r in rankings if r.candidate.ecosystem is ecosystem and r.status is Status.RANKED
        ]
        if ranked:
            console.print(ranking_table(ecosystem, ranked))
    excluded = [r for r in rankings if r.status is Status.EXCLUDED]
    if excluded:
        console.print(exclusion_table(excluded))
    if not rankings:
        console.print("No candidate to rank.")
    console.print(
        Text(
            "1 MiB in: median time to first byte plus 1 MiB at the measured throughput. "
            "Flagged mirrors (stale, no-sumdb, unverified) rank after complete ones.",
            style="dim",
        )
    )


__all__ = ["exclusion_table", "print_rankings", "ranking_table"]
