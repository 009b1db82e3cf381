"""`unstall go ARGS...`: run the real go behind the in-process resilient module proxy."""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Final

import typer

from unstall.cli.common import (
    RunRecorder,
    VersionOption,
    err_console,
    handle_errors,
    run_async,
    settings_from,
)
from unstall.cli.observers import (
    MetricsTextfileOption,
    OtlpEndpointOption,
    PushgatewayOption,
    start_observers,
)
from unstall.cli.progress import Progress, live_progress
from unstall.config import Settings
from unstall.doctor.classify import classify_go_output
from unstall.events import EventBus
from unstall.goproxy.engine import ProxyEngine
from unstall.goproxy.hashes import load_gosum
from unstall.gotool.env import (
    ProxyList,
    find_go,
    gosum_paths,
    parse_goproxy,
    private_patterns,
    read_go_env,
)
from unstall.gotool.runner import run_go, serve_on_loopback
from unstall.observe.summary import RunSummary

# go subcommands that never download modules: they run unchanged, so that `go env`
# shows (and `go env -w` edits) the user's own GOPROXY rather than the local proxy.
_OFFLINE_SUBCOMMANDS = frozenset({"env", "version", "help"})
# go's last stderr lines, kept to explain a failure: its error records come last.
_STDERR_TAIL_LINES: Final = 200


def _split_chdir(args: list[str]) -> tuple[Path | None, list[str]]:
    """go's own -C flag (first, if at all) changes its directory before anything else."""
    if len(args) >= 2 and args[0] == "-C":
        return Path(args[1]), args[2:]
    if args and args[0].startswith("-C="):
        return Path(args[0][3:]), args[1:]
    return None, args


def _stderr_tail(quiet: bool) -> deque[str] | None:
    """Where go's stderr lines are kept for explaining a failure (nothing when quiet)."""
    return None if quiet else deque(maxlen=_STDERR_TAIL_LINES)


def _explain_go_failure(tail: Iterable[str], explained: set[str]) -> None:
    """Print the cause and fix of each failure go's own output shows.

    Causes in ``explained`` were already printed with unstall's failed artifacts.
    """
    for diagnosis in classify_go_output("\n".join(tail)):
        if diagnosis.cause in explained:
            continue
        err_console.print(
            f"unstall: go failed: {diagnosis.cause} ({diagnosis.layer}): {diagnosis.explanation}",
            markup=False,
        )
        err_console.print(f"  fix: {diagnosis.fix}", markup=False)


async def _run_behind_proxy(
    settings: Settings,
    go: str,
    args: list[str],
    proxies: ProxyList,
    go_env: dict[str, str],
    bus: EventBus,
    summary: RunSummary,
    progress: Progress | None,
    stderr_tail: deque[str] | None,
) -> int:
    gosum, problems = load_gosum(gosum_paths(go_env))
    for problem in problems:
        err_console.print(f"unstall: warning: {problem.message}", markup=False)
    engine = ProxyEngine(
        settings, proxies.proxies, bus=bus, gosum=gosum, private=private_patterns(go_env)
    )
    async with engine, serve_on_loopback(engine.app) as url:
        env = dict(os.environ)
        env["GOPROXY"] = proxies.go_value(url)
        return await run_go(
            go,
            args,
            env=env,
            on_stderr_line=progress.print_line if progress else None,
            stderr_tail=stderr_tail,
        )


@handle_errors
def go_command(
    ctx: typer.Context,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress display and no failure summary.")
    ] = False,
    report_json: Annotated[
        Path | None,
        typer.Option("--report-json", help="Write a per-artifact JSON summary to this file."),
    ] = None,
    mirror: Annotated[
        list[str] | None,
        typer.Option("--mirror", help="Extra upstream proxy URL after GOPROXY's (repeatable)."),
    ] = None,
    metrics_textfile: MetricsTextfileOption = None,
    pushgateway: PushgatewayOption = None,
    otlp_endpoint: OtlpEndpointOption = None,
    version: Annotated[bool, VersionOption] = False,
) -> None:
    """Run go with module downloads going through a resilient local proxy.

    Everything after `go` is passed to go unchanged; unstall's own options come
    before go's arguments. Example: unstall go mod download
    """
    args = list(ctx.args)
    settings = settings_from({"mirrors": tuple(mirror) if mirror else None})
    go = find_go()
    workdir, rest = _split_chdir(args)
    if not rest or rest[0] in _OFFLINE_SUBCOMMANDS:
        raise typer.Exit(run_async(run_go(go, args, env=os.environ)))
    go_env = read_go_env(go, cwd=workdir)
    proxies = parse_goproxy(go_env.get("GOPROXY", ""), mirrors=settings.mirrors)
    if not proxies.proxies:
        if not quiet:
            err_console.print(
                f"unstall: GOPROXY={go_env.get('GOPROXY', '')!r} names no module proxy; "
                "running go unchanged (add mirrors with --mirror or in unstall.toml)",
                markup=False,
            )
        tail = _stderr_tail(quiet)
        code = run_async(run_go(go, args, env=os.environ, stderr_tail=tail))
        if code != 0 and tail is not None:
            _explain_go_failure(tail, explained=set())
        raise typer.Exit(code)

    bus = EventBus()
    summary = RunSummary()
    bus.subscribe(summary)
    recorder = RunRecorder(settings, bus, "go", args)
    observers = start_observers(
        bus,
        settings,
        recorder,
        command="go",
        metrics_textfile=metrics_textfile,
        pushgateway=pushgateway,
        otlp_endpoint=otlp_endpoint,
    )
    progress = live_progress(summary, bus, quiet=quiet)
    tail = _stderr_tail(quiet)
    exit_code = 1
    try:
        with progress or contextlib.nullcontext():
            exit_code = run_async(
                _run_behind_proxy(settings, go, args, proxies, go_env, bus, summary, progress, tail)
            )
    finally:
        recorder.finish(exit_code)
        observers.finish(exit_code, run_id=recorder.run_id)
        if report_json is not None:
            summary.write_json(report_json, run_id=recorder.run_id, exit_code=exit_code)
    # go probes path prefixes and alternatives it does not need; failures matter only
    # when go itself failed.
    if exit_code != 0 and summary.failed and not quiet:
        err_console.print(f"unstall: {len(summary.failed)} artifact(s) failed:", markup=False)
        for line in summary.failure_lines():
            err_console.print(f"  {line}", markup=False)
    if exit_code != 0 and tail is not None:
        _explain_go_failure(tail, explained={record.cause for record in summary.failed})
    for violation in summary.integrity:
        if not quiet:
            err_console.print(
                f"unstall: warning: {violation.upstream} served bad content for "
                f"{violation.artifact}: {violation.detail}",
                markup=False,
            )
    raise typer.Exit(exit_code)


__all__ = ["go_command"]
