"""The live table of a fleet run on a TTY: host, state, attempt, elapsed, last output line.

:class:`FleetBoard` is the model, a sink of the fleet events; :meth:`FleetBoard.frame` is
a pure function of what it has seen and the time, so counts, ordering, the row cap,
redaction and truncation are tested without a terminal. :class:`FleetLive` draws it the
way :mod:`unstall.cli.progress` draws ``unstall go``: a transient rich ``Live`` on stderr
redrawn from the event loop (never from rich's refresh thread, so it never reads the
board while the loop changes it), here about four times a second so that elapsed times
tick. With hundreds of hosts only the hosts in progress and the most recently finished
ones are rows, as many as the terminal has lines; the header counts every state.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from unstall.cli.progress import LiveDisplay
from unstall.events import Event, FleetHostChanged, FleetHostOutput, FleetRunStarted
from unstall.fleet.states import HostState
from unstall.observe.fingerprint import error_line
from unstall.redact import redact

REFRESH_SECONDS: Final = 0.25
_ACTIVE: Final = frozenset({HostState.CONNECTING, HostState.RUNNING, HostState.RETRYING})
# ANSI escape sequences and other control characters: a tail is a remote program's output.
_CONTROL: Final = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x1f\x7f-\x9f]")
_STYLES: Final = {
    HostState.OK: "green",
    HostState.FAILED: "red",
    HostState.TIMEOUT: "yellow",
    HostState.UNREACHABLE: "yellow",
    HostState.RETRYING: "magenta",
    HostState.RUNNING: "cyan",
    HostState.CONNECTING: "blue",
}
# Lines the table needs besides its rows: the header, the column titles, the footer and
# one spare so that the cursor line never scrolls the frame.
_CHROME_LINES: Final = 4
_FIXED_COLUMNS: Final = 11 + 7 + 8 + 2 * 4  # state, attempt, elapsed, the gaps between
_HOST_WIDTH_MAX: Final = 40


@dataclass(frozen=True, slots=True)
class Row:
    """One host as the table shows it; ``elapsed_s`` is None for a host not started."""

    host: str
    state: HostState
    attempt: int
    elapsed_s: float | None
    last_line: str


@dataclass(frozen=True, slots=True)
class Frame:
    """What the table shows at one moment.

    ``counts`` holds every state with at least one host, in :class:`HostState` order;
    ``hidden_active`` and ``hidden_finished`` are hosts left out of ``rows`` by the cap.
    """

    run_id: str | None
    total: int
    counts: tuple[tuple[HostState, int], ...]
    rows: tuple[Row, ...]
    hidden_active: int
    hidden_finished: int

    @property
    def done(self) -> int:
        """Hosts in a final state."""
        return sum(n for state, n in self.counts if state.final)


@dataclass(slots=True)
class _Host:
    state: HostState = HostState.PENDING
    attempt: int = 0
    started: float | None = None
    ended: float | None = None
    last_line: str = ""
    finished_order: int = 0


def one_line(text: str, width: int) -> str:
    """``text`` redacted, without control characters, cut to ``width`` with an ellipsis."""
    clean = _CONTROL.sub(" ", redact(text)).strip()
    if len(clean) <= width:
        return clean
    return clean[: max(0, width - 1)] + "\N{HORIZONTAL ELLIPSIS}"


def _last_line(event: FleetHostChanged, tail_filter: Callable[[str], str]) -> str:
    tail = tail_filter(event.output_tail)
    if event.exit_code is not None:
        # The command ran to its end: what it printed says more than "exited with 100".
        return error_line(tail, event.error)
    # Unreachable, timed out, connection lost: the reason, else the output so far.
    return event.error or error_line(tail)


class FleetBoard:
    """The live table's model: every host's state, built from the fleet events on the bus.

    ``tail_filter`` prepares an output tail for display (``fleet go`` strips its marker).
    """

    def __init__(self, *, tail_filter: Callable[[str], str] = lambda tail: tail) -> None:
        self._tail_filter = tail_filter
        self._hosts: dict[str, _Host] = {}
        self._finished = 0
        self.run_id: str | None = None
        self.total = 0

    def __call__(self, event: Event) -> None:
        """Event sink: record a run's start and every host's change."""
        if isinstance(event, FleetRunStarted):
            self.run_id, self.total = event.run_id, event.hosts
        elif isinstance(event, FleetHostChanged):
            self._change(event)
        elif isinstance(event, FleetHostOutput):
            host = self._hosts.get(event.host)
            if host is not None and host.state is HostState.RUNNING:
                line = self._tail_filter(event.line)
                if line.strip():
                    host.last_line = one_line(line, 10_000)

    def _change(self, event: FleetHostChanged) -> None:
        host = self._hosts.setdefault(event.host, _Host())
        state = HostState(event.state)
        host.state, host.attempt = state, event.attempt
        if state is HostState.PENDING:
            host.started = host.ended = None
            return
        if host.started is None:
            host.started = event.at
        if state.final:
            host.ended = event.at
            self._finished += 1
            host.finished_order = self._finished
        if state.final or state is HostState.RETRYING:
            # Kept through the next attempt: the reason for the retry stays visible.
            host.last_line = one_line(_last_line(event, self._tail_filter), 10_000)

    @property
    def host_width(self) -> int:
        """The width of the host column: the longest name, within bounds."""
        return min(_HOST_WIDTH_MAX, max((len(name) for name in self._hosts), default=4))

    def frame(self, now: float, *, max_rows: int, line_width: int) -> Frame:
        """The table at time ``now`` (``time.time()`` scale) with at most ``max_rows`` rows.

        Rows are the hosts in progress, longest running first, then the finished ones,
        most recent first; last lines are cut to ``line_width`` characters.
        """
        counts = {state: 0 for state in HostState}
        for host in self._hosts.values():
            counts[host.state] += 1
        active = sorted(
            (item for item in self._hosts.items() if item[1].state in _ACTIVE),
            key=lambda item: (item[1].started or now, item[0]),
        )
        finished = sorted(
            (item for item in self._hosts.items() if item[1].state.final),
            key=lambda item: -item[1].finished_order,
        )
        cap = max(0, max_rows)
        shown_active = active[:cap]
        shown_finished = finished[: cap - len(shown_active)]
        rows = tuple(
            Row(
                name,
                host.state,
                host.attempt,
                None if host.started is None else (host.ended or now) - host.started,
                one_line(host.last_line, line_width),
            )
            for name, host in (*shown_active, *shown_finished)
        )
        return Frame(
            run_id=self.run_id,
            total=max(self.total, len(self._hosts)),
            counts=tuple((state, n) for state, n in counts.items() if n),
            rows=rows,
            hidden_active=len(active) - len(shown_active),
            hidden_finished=len(finished) - len(shown_finished),
        )


def elapsed_text(seconds: float | None) -> str:
    """``4.2s`` under a minute, ``3m07s`` above; empty for a host not started."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{max(0.0, seconds):.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def render_frame(frame: Frame, *, host_width: int) -> Group:
    """The rich renderable of ``frame``: a header with the counts, the table, a footer."""
    header = Text()
    header.append("unstall fleet ", style="bold cyan")
    header.append(f"{frame.run_id} " if frame.run_id else "")
    header.append(f"{frame.done}/{frame.total} done")
    for state, count in frame.counts:
        header.append(" · ")
        header.append(f"{count} {state.value}", style=_STYLES.get(state, ""))
    table = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False)
    table.add_column("host", no_wrap=True, overflow="ellipsis", max_width=host_width)
    table.add_column("state", no_wrap=True, width=11)
    table.add_column("attempt", no_wrap=True, width=7, justify="right")
    table.add_column("elapsed", no_wrap=True, width=8, justify="right")
    table.add_column("last output", no_wrap=True, overflow="ellipsis")
    for row in frame.rows:
        # Text cells: an output line may hold "[...]" that rich would take for markup.
        table.add_row(
            Text(row.host),
            Text(row.state.value, style=_STYLES.get(row.state, "")),
            Text(str(row.attempt or "")),
            Text(elapsed_text(row.elapsed_s)),
            Text(row.last_line, style="dim"),
        )
    parts: list[Text | Table] = [header, table]
    if frame.hidden_active or frame.hidden_finished:
        more = []
        if frame.hidden_active:
            more.append(f"{frame.hidden_active} more in progress")
        if frame.hidden_finished:
            more.append(f"{frame.hidden_finished} more finished")
        parts.append(Text("  +" + ", ".join(more), style="dim"))
    return Group(*parts)


class _View:
    def __init__(self, board: FleetBoard, console: Console, clock: Callable[[], float]) -> None:
        self._board, self._console, self._clock = board, console, clock

    def __rich__(self) -> Group:
        width, height = self._console.size
        host_width = self._board.host_width
        frame = self._board.frame(
            self._clock(),
            max_rows=height - _CHROME_LINES,
            line_width=max(10, width - host_width - _FIXED_COLUMNS),
        )
        return render_frame(frame, host_width=host_width)


class FleetLive(LiveDisplay):
    """The live table on ``console`` while a block runs; it goes away at the end.

    Subscribe :attr:`board` to the bus and call :meth:`tick` from the event loop every
    :data:`REFRESH_SECONDS` (``unstall.periodic.every``).
    """

    def __init__(
        self,
        console: Console,
        *,
        tail_filter: Callable[[str], str] = lambda tail: tail,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.board = FleetBoard(tail_filter=tail_filter)
        super().__init__(_View(self.board, console, clock), console)

    async def tick(self) -> None:
        """Redraw (elapsed times move on even when no event arrives)."""
        self._live.refresh()


__all__ = [
    "REFRESH_SECONDS",
    "FleetBoard",
    "FleetLive",
    "Frame",
    "Row",
    "elapsed_text",
    "one_line",
    "render_frame",
]
