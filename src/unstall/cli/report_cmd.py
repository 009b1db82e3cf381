"""`unstall report`: what the history says about the last days; `report prune` trims it."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Final, TypeVar

import typer
from rich.console import Console

from unstall.cli.common import VersionOption, err_console, handle_errors, settings_from
from unstall.errors import UnstallError, UsageError
from unstall.observe.report_query import build_report
from unstall.observe.report_text import is_empty, print_report
from unstall.observe.retention import prune

T = TypeVar("T")
_UNITS: Final = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, "w": 604_800.0}
_DURATION: Final = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_FORMAT_FIX: Final = (
    "Give a duration back from now (30m, 12h, 7d, 2w) or an ISO date or time "
    "(2024-05-01, 2024-05-01T12:00, 2024-05-01T12:00+02:00)."
)

report_app = typer.Typer(
    name="report",
    help="History, grouped errors and latencies of past runs; prune old history.",
)


def parse_when(value: str, *, option: str, now: float) -> float:
    """``value`` as Unix seconds: a duration before ``now`` (30m, 12h, 7d, 2w) or an ISO
    date or time (local time unless it names an offset)."""
    text = value.strip().lower()
    match = _DURATION.fullmatch(text)
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        return datetime.fromisoformat(value.strip()).timestamp()
    except ValueError as exc:
        raise UsageError(
            f"{option} {value!r} is neither a duration nor a date", fix=_FORMAT_FIX
        ) from exc


def _write_atomically(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a reader never sees half a page. The file
    gets the usual permissions (the umask's), not a temporary file's private ones."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "x", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise UsageError(
            f"cannot write the report to {path}: {exc.strerror or exc}",
            fix="Name a file in an existing directory you can write to.",
        ) from exc
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _read_history(work: Callable[[], T], path: Path) -> T:
    """Run ``work`` on the history database; its SQLite errors become a cause and a fix."""
    try:
        return work()
    except sqlite3.Error as exc:
        raise UnstallError(
            f"cannot use the history database {path}: {exc}",
            fix="Check that the file is a history database unstall can write "
            "(move it aside to start a new one).",
        ) from exc


@report_app.callback(invoke_without_command=True)
@handle_errors
def report_command(
    ctx: typer.Context,
    since: Annotated[
        str,
        typer.Option(
            "--since", metavar="WHEN", help="Start of the window: 30m, 12h, 7d, 2w or an ISO date."
        ),
    ] = "7d",
    until: Annotated[
        str | None,
        typer.Option(
            "--until", metavar="WHEN", help="End of the window, same forms (default: now)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON on stdout.")
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option("--html", metavar="FILE", help="Write a self-contained HTML report."),
    ] = None,
    top: Annotated[
        int,
        typer.Option("--top", min=1, help="How many error groups, slow artifacts, fleet runs."),
    ] = 10,
    version: Annotated[bool, VersionOption] = False,
) -> None:
    """Per upstream success and latency, top error groups, slowest artifacts, stages,
    fleet runs and doctor verdicts from the history of every command."""
    if ctx.invoked_subcommand is not None:
        return
    now = time.time()
    start = parse_when(since, option="--since", now=now)
    end = now if until is None else parse_when(until, option="--until", now=now)
    if not end > start:
        raise UsageError(
            f"the window --since {since} .. --until {until or 'now'} is empty",
            fix="Make --since earlier than --until.",
        )
    settings = settings_from({})
    report = _read_history(
        lambda: build_report(settings.history_path, since=start, until=end, now=now, top=top),
        settings.history_path,
    )
    if html is not None:
        # Imported here: the page's renderer is only needed for --html.
        from unstall.observe.report_html import render_html

        _write_atomically(html, render_html(report))
        err_console.print(f"unstall: wrote the report to {html}", markup=False)
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    elif html is None:
        # Piped output is read by people too: wide enough that URLs stay on one line.
        width = None if sys.stdout.isatty() else 200
        print_report(Console(highlight=False, soft_wrap=True, width=width), report)
    elif is_empty(report):
        err_console.print("unstall: the history holds nothing in this window", markup=False)


@report_app.command("prune")
@handle_errors
def prune_command(
    keep_days: Annotated[
        float | None,
        typer.Option(
            "--keep-days",
            min=0,
            help="Delete history older than this many days (default: history.keep_days).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print what was deleted as JSON.")
    ] = False,
    version: Annotated[bool, VersionOption] = False,
) -> None:
    """Delete old history now; keep each attempt table under history.max_attempts rows."""
    settings = settings_from({})
    days = settings.history.keep_days if keep_days is None else keep_days
    result = _read_history(
        lambda: prune(
            settings.history_path,
            keep_days=days,
            max_attempts=settings.history.max_attempts,
            now=time.time(),
        ),
        settings.history_path,
    )
    if as_json:
        typer.echo(json.dumps(result.to_json()))
        return
    cutoff = time.strftime("%Y-%m-%d %H:%M", time.localtime(result.cutoff))
    if not result.deleted:
        typer.echo(f"Nothing to prune: no history older than {cutoff}.")
        return
    detail = ", ".join(f"{table} {count:,}" for table, count in result.deleted.items())
    typer.echo(f"Pruned {result.total:,} rows (older than {cutoff} or over the cap): {detail}.")


__all__ = ["parse_when", "report_app"]
