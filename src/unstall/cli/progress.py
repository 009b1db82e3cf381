"""Live progress on a TTY: artifacts in flight, retries, hedges, which mirror served."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any, Self

from rich.console import Console
from rich.live import Live
from rich.text import Text

from unstall.cli.common import err_console
from unstall.events import Event, EventBus
from unstall.observe.summary import RunSummary


class _View:
    def __init__(self, summary: RunSummary) -> None:
        self._summary = summary

    def __rich__(self) -> Text:
        s = self._summary
        served = ", ".join(f"{name} {count}" for name, count in s.served_by.most_common(3))
        line = Text("unstall ", style="bold cyan")
        line.append(f"{len(s.in_flight)} in flight · {len(s.artifacts)} done")
        line.append(f" · {s.retries} retries · {s.hedges} hedges")
        if s.failed:
            line.append(f" · {len(s.failed)} failed", style="red")
        if served:
            line.append(f" · served by {served}", style="dim")
        return line


class LiveDisplay:
    """A transient rich ``Live`` redrawn only when told to, as a context manager.

    Redrawing from the event loop rather than from rich's refresh thread means a view
    is never read while the loop is changing what it shows.
    """

    def __init__(self, renderable: Any, console: Console) -> None:
        self._live = Live(
            renderable,
            console=console,
            transient=True,
            auto_refresh=False,
            redirect_stderr=False,
            redirect_stdout=False,
        )

    def __enter__(self) -> Self:
        self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._live.__exit__(exc_type, exc, tb)


class Progress(LiveDisplay):
    """A one-line live display; go's stderr lines are printed above it.

    It redraws from the event loop when events arrive (at most 10 times a second),
    not from rich's refresh thread, so it never reads the summary while the loop is
    changing it.
    """

    _MIN_INTERVAL = 0.1

    def __init__(self, summary: RunSummary, console: Console) -> None:
        super().__init__(_View(summary), console)
        self._last = 0.0

    def __call__(self, _event: Event) -> None:
        """Event sink: redraw, throttled."""
        now = time.monotonic()
        if now - self._last >= self._MIN_INTERVAL:
            self._last = now
            self._live.refresh()

    def print_line(self, line: str) -> None:
        """Print one line of go's stderr without disturbing the display."""
        self._live.console.print(line, markup=False, highlight=False, emoji=False)


def live_progress(summary: RunSummary, bus: EventBus, *, quiet: bool) -> Progress | None:
    """A live display subscribed to ``bus`` when stderr is a terminal and not ``quiet``."""
    if quiet or not err_console.is_terminal:
        return None
    progress = Progress(summary, err_console)
    bus.subscribe(progress)
    return progress


__all__ = ["Progress", "live_progress"]
