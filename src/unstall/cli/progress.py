"""Live progress on a TTY: artifacts in flight, retries, hedges, which mirror served."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.text import Text

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


class Progress:
    """A one-line live display; go's stderr lines are printed above it."""

    def __init__(self, summary: RunSummary, console: Console) -> None:
        self._live = Live(
            _View(summary),
            console=console,
            transient=True,
            refresh_per_second=4,
            redirect_stderr=False,
            redirect_stdout=False,
        )

    def print_line(self, line: str) -> None:
        """Print one line of go's stderr without disturbing the display."""
        self._live.console.print(line, markup=False, highlight=False, emoji=False)

    def __enter__(self) -> Progress:
        self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._live.__exit__(exc_type, exc, tb)


__all__ = ["Progress"]
