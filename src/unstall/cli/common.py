"""What every command shares: the stderr console, settings, the error boundary, history."""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, ParamSpec, TypeVar

import typer
import uvloop
from rich.console import Console

from unstall.config import Settings, load_settings
from unstall.errors import UnstallError
from unstall.events import ArtifactFinished, EventBus, RunFinished, RunStarted, new_run_id
from unstall.observe.history import History
from unstall.observe.retention import maybe_prune
from unstall.redact import redact

P = ParamSpec("P")
R = TypeVar("R")

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def run_async(work: Coroutine[Any, Any, R]) -> R:
    """Run ``work`` to completion on uvloop (libuv: roughly half the per-request cost of
    the stdlib loop for a busy server); the only place a command starts an event loop."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(work)


def settings_from(overrides: Mapping[str, Any]) -> Settings:
    """Settings with command-line ``overrides`` (None values are left out)."""
    return load_settings(overrides={k: v for k, v in overrides.items() if v is not None})


def report_error(error: UnstallError) -> None:
    """Print an error as cause and fix, never as a traceback."""
    err_console.print(f"[bold red]unstall: {redact(error.message)}[/]", markup=True)
    err_console.print(f"  cause: {error.cause} ({error.layer} layer)", markup=False)
    err_console.print(f"  fix:   {error.fix}", markup=False)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn UnstallError into a printed cause/fix and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except UnstallError as error:
            report_error(error)
            if os.environ.get("UNSTALL_DEBUG"):
                raise
            raise typer.Exit(error.exit_code) from None

    return wrapper


class RunRecorder:
    """Opens the history for one run and publishes its start and end on the bus.

    With ``[history] enabled = false`` nothing is opened or written. When the run ends
    the history is flushed and, at most once a day, pruned to the configured retention;
    neither ever fails the command.
    """

    def __init__(
        self,
        settings: Settings,
        bus: EventBus,
        command: str,
        args: list[str],
        *,
        record_hits: bool = True,
    ) -> None:
        self.run_id = new_run_id()
        self._bus = bus
        self._settings = settings
        self._history: History | None = None
        if settings.history.enabled:
            self._open(command, record_hits=record_hits)
        bus.publish(RunStarted(self.run_id, command, tuple(args)))

    def _open(self, command: str, *, record_hits: bool) -> None:
        try:
            history = self._history = History(
                self._settings.history_path, self.run_id, command=command
            )
            if record_hits:
                self._bus.subscribe(history)
            else:
                # A server answers thousands of cache hits a second: history keeps
                # what touched an upstream; hits are counted in the metrics.
                self._bus.subscribe(
                    lambda e: None if isinstance(e, ArtifactFinished) and e.cached else history(e)
                )
        except Exception as exc:  # history must never stop the work it records
            err_console.print(f"unstall: history disabled: {exc}", markup=False)

    def flush(self) -> None:
        """Write what the history buffered so far (a long run's readers see it)."""
        if self._history is None:
            return
        try:
            self._history.flush()
        except Exception as exc:
            err_console.print(f"unstall: could not write history: {exc}", markup=False)

    def finish(self, exit_code: int) -> None:
        """Record the end of the run, flush the history and prune it when due."""
        self._bus.publish(RunFinished(self.run_id, exit_code))
        if self._history is None:
            return
        try:
            self._history.close()
        except Exception as exc:
            err_console.print(f"unstall: could not write history: {exc}", markup=False)
            return
        self.prune_if_due()

    def prune_if_due(self) -> None:
        """Prune the history to its retention when no prune ran in the last day (any
        thread: the prune opens its own connection); a failure is one line on stderr."""
        if not self._settings.history.enabled:
            return
        try:
            maybe_prune(self._settings.history_path, self._settings.history, time.time())
        except Exception as exc:
            err_console.print(f"unstall: history prune failed: {exc}", markup=False)


def _print_version(value: bool) -> None:
    if value:
        from unstall import __version__

        typer.echo(f"unstall {__version__}")
        raise typer.Exit(0)


VersionOption = typer.Option(
    "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
)


__all__ = [
    "RunRecorder",
    "VersionOption",
    "err_console",
    "handle_errors",
    "report_error",
    "run_async",
    "settings_from",
]
