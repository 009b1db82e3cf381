"""The live fleet table's model: events in, rows and counts out, without a terminal."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from rich.console import Console

from unstall.cli.fleet_live import (
    FleetBoard,
    FleetLive,
    elapsed_text,
    one_line,
    render_frame,
)
from unstall.events import Event, FleetHostChanged, FleetHostOutput, FleetRunStarted
from unstall.fleet.go_command import strip_marker
from unstall.fleet.states import HostState

T0 = 1_000.0


def change(host: str, state: str, attempt: int, at: float, **extra: Any) -> FleetHostChanged:
    return FleetHostChanged("run1", host, state, attempt, at=at, **extra)


def board_of(*events: Event, tail_filter: Callable[[str], str] = lambda t: t) -> FleetBoard:
    board = FleetBoard(tail_filter=tail_filter)
    for event in events:
        board(event)
    return board


def started(*hosts: str) -> list[Event]:
    events: list[Event] = [FleetRunStarted("run1", "true", len(hosts), at=T0)]
    return events + [change(h, "pending", 0, T0) for h in hosts]


def test_counts_every_state_and_the_run() -> None:
    board = board_of(
        *started("a", "b", "c", "d", "e"),
        change("a", "connecting", 1, T0 + 1),
        change("b", "connecting", 1, T0 + 1),
        change("b", "running", 1, T0 + 2),
        change("c", "connecting", 1, T0 + 1),
        change("c", "ok", 1, T0 + 3, exit_code=0, output_tail="done\n"),
        change("d", "connecting", 1, T0 + 1),
        change("d", "failed", 1, T0 + 4, exit_code=100, output_tail="E: nope\n"),
    )
    frame = board.frame(T0 + 5, max_rows=20, line_width=80)
    assert frame.run_id == "run1"
    assert frame.total == 5
    assert dict(frame.counts) == {
        HostState.PENDING: 1,
        HostState.CONNECTING: 1,
        HostState.RUNNING: 1,
        HostState.OK: 1,
        HostState.FAILED: 1,
    }
    assert [state for state, _ in frame.counts] == [
        HostState.PENDING, HostState.CONNECTING, HostState.RUNNING, HostState.OK, HostState.FAILED,
    ]  # fmt: skip
    assert frame.done == 2


def test_rows_in_progress_longest_first_then_finished_most_recent_first() -> None:
    board = board_of(
        *started("a", "b", "c", "d", "e"),
        change("a", "connecting", 1, T0 + 3),
        change("b", "connecting", 1, T0 + 1),
        change("b", "running", 1, T0 + 2),
        change("c", "connecting", 1, T0 + 1),
        change("c", "ok", 1, T0 + 2, exit_code=0),
        change("d", "connecting", 1, T0 + 1),
        change("d", "ok", 1, T0 + 4, exit_code=0),
    )
    frame = board.frame(T0 + 10, max_rows=20, line_width=80)
    # e is pending: counted in the header, not a row.
    assert [row.host for row in frame.rows] == ["b", "a", "d", "c"]
    assert [row.state for row in frame.rows] == [
        HostState.RUNNING, HostState.CONNECTING, HostState.OK, HostState.OK,
    ]  # fmt: skip


def test_elapsed_ticks_for_running_hosts_and_stops_at_the_end() -> None:
    board = board_of(
        *started("a", "b"),
        change("a", "connecting", 1, T0 + 1),
        change("a", "running", 1, T0 + 2),
        change("b", "connecting", 1, T0 + 1),
        change("b", "ok", 1, T0 + 4, exit_code=0),
    )
    early = {r.host: r.elapsed_s for r in board.frame(T0 + 5, max_rows=9, line_width=80).rows}
    later = {r.host: r.elapsed_s for r in board.frame(T0 + 9, max_rows=9, line_width=80).rows}
    assert early == {"a": 4.0, "b": 3.0}
    assert later == {"a": 8.0, "b": 3.0}


def test_retrying_shows_the_reason_and_the_attempt_and_keeps_the_clock() -> None:
    board = board_of(
        *started("a"),
        change("a", "connecting", 1, T0 + 1),
        change("a", "retrying", 1, T0 + 2, error="connection to a (127.0.0.9:22) refused"),
        change("a", "connecting", 2, T0 + 3),
    )
    (row,) = board.frame(T0 + 4, max_rows=9, line_width=80).rows
    assert (row.state, row.attempt, row.elapsed_s) == (HostState.CONNECTING, 2, 3.0)
    assert row.last_line == "connection to a (127.0.0.9:22) refused"


def test_last_line_is_the_most_telling_output_line() -> None:
    board = board_of(
        *started("a", "b"),
        change("a", "connecting", 1, T0),
        change(
            "a", "failed", 1, T0 + 1, exit_code=100,
            output_tail="Reading lists\nE: Unable to locate package foo\nmore\n",
            error="command on a exited with status 100",
        ),
        change("b", "connecting", 1, T0),
        change("b", "timeout", 1, T0 + 1, output_tail="half\n", error="did not finish in 5 s"),
    )  # fmt: skip
    rows = {r.host: r.last_line for r in board.frame(T0 + 2, max_rows=9, line_width=80).rows}
    assert rows == {"a": "E: Unable to locate package foo", "b": "did not finish in 5 s"}


def test_cap_keeps_hosts_in_progress_first_and_counts_the_rest() -> None:
    names = [f"web{i:03d}" for i in range(300)]
    events: list[Event] = started(*names)
    for i, name in enumerate(names[:250]):
        events.append(change(name, "connecting", 1, T0 + i))
        events.append(change(name, "ok", 1, T0 + i + 0.5, exit_code=0))
    for i, name in enumerate(names[250:270]):
        events.append(change(name, "running", 1, T0 + 300 + i))
    board = board_of(*events)

    frame = board.frame(T0 + 400, max_rows=25, line_width=80)
    assert len(frame.rows) == 25
    assert [r.host for r in frame.rows[:20]] == names[250:270]
    assert [r.host for r in frame.rows[20:]] == names[249:244:-1]
    assert (frame.hidden_active, frame.hidden_finished) == (0, 245)
    assert dict(frame.counts)[HostState.PENDING] == 30

    small = board.frame(T0 + 400, max_rows=8, line_width=80)
    assert [r.host for r in small.rows] == names[250:258]
    assert (small.hidden_active, small.hidden_finished) == (12, 250)
    assert board.frame(T0 + 400, max_rows=-3, line_width=80).rows == ()


def test_last_line_is_redacted_one_line_and_cut_to_width() -> None:
    secret = "fetch https://deploy:hunter2@fixture.test/x failed token=abc123 \x1b[31mred\x1b[0m"
    board = board_of(
        *started("a"),
        change("a", "connecting", 1, T0),
        change("a", "failed", 1, T0 + 1, exit_code=1, output_tail=secret + "\n"),
    )
    (row,) = board.frame(T0 + 2, max_rows=9, line_width=200).rows
    assert "hunter2" not in row.last_line
    assert "abc123" not in row.last_line
    assert "\x1b" not in row.last_line
    assert row.last_line.startswith("fetch https://***@fixture.test/x failed token=***")
    (cut,) = board.frame(T0 + 2, max_rows=9, line_width=20).rows
    assert len(cut.last_line) == 20
    assert cut.last_line.endswith("\N{HORIZONTAL ELLIPSIS}")


def test_one_line_and_elapsed_text() -> None:
    assert one_line("a\tb\rc", 80) == "a b c"
    assert one_line("abcdef", 4) == "abc\N{HORIZONTAL ELLIPSIS}"
    assert one_line("password=pw1 ok", 80) == "password=*** ok"
    assert elapsed_text(None) == ""
    assert elapsed_text(4.24) == "4.2s"
    assert elapsed_text(187.9) == "3m07s"


def test_tail_filter_hides_the_go_marker() -> None:
    tail = "unstall-fleet-go: tool=go\ngo: downloading x\nunstall-fleet-go: tool=go\n"
    board = board_of(
        *started("a"),
        change("a", "connecting", 1, T0),
        change("a", "ok", 1, T0 + 1, exit_code=0, output_tail=tail),
        tail_filter=strip_marker,
    )
    (row,) = board.frame(T0 + 2, max_rows=9, line_width=80).rows
    assert row.last_line == "go: downloading x"


def test_render_frame_shows_header_counts_rows_and_the_hidden_rest() -> None:
    names = [f"h{i}" for i in range(6)]
    events: list[Event] = started(*names)
    for name in names:
        events.append(change(name, "connecting", 1, T0))
    events.append(change("h0", "failed", 1, T0 + 1, exit_code=2, output_tail="[bold]x[/]\n"))
    board = board_of(*events)
    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None)
    console.print(render_frame(board.frame(T0 + 2, max_rows=3, line_width=60), host_width=4))
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0] == "unstall fleet run1 1/6 done · 5 connecting · 1 failed"
    assert lines[1].split() == ["host", "state", "attempt", "elapsed", "last", "output"]
    assert len(lines) == 2 + 3 + 1
    assert "+2 more in progress, 1 more finished" in lines[-1]


def test_fleet_live_draws_on_a_terminal_and_goes_away() -> None:
    out = io.StringIO()
    console = Console(file=out, width=100, height=30, force_terminal=True, color_system=None)
    live = FleetLive(console, clock=lambda: T0 + 2)
    with live:
        for event in started("a", "b"):
            live.board(event)
        live.board(change("a", "connecting", 1, T0))
        live.board(change("a", "failed", 1, T0 + 1, exit_code=1, output_tail="[red]E: x\n"))
    written = out.getvalue()
    assert "unstall fleet run1 1/2 done" in written
    assert "[red]E: x" in written  # markup-like output is shown as text


def test_a_running_host_shows_its_latest_output_line() -> None:
    board = board_of(
        *started("a"),
        change("a", "connecting", 1, T0 + 1),
        change("a", "running", 1, T0 + 2),
        FleetHostOutput("run1", "a", 1, "Reading package lists...", at=T0 + 3),
        FleetHostOutput("run1", "a", 1, "Unpacking foo (1.2) ...", at=T0 + 4),
    )
    (row,) = board.frame(T0 + 5, max_rows=10, line_width=80).rows
    assert row.last_line == "Unpacking foo (1.2) ..."
    # What the host ends with replaces the running line; late output does not.
    board(change("a", "failed", 1, T0 + 6, exit_code=100, output_tail="E: Unable to x\n"))
    board(FleetHostOutput("run1", "a", 1, "straggler", at=T0 + 7))
    (row,) = board.frame(T0 + 8, max_rows=10, line_width=80).rows
    assert row.last_line == "E: Unable to x"


def test_output_lines_pass_the_tail_filter() -> None:
    board = board_of(
        *started("a"),
        change("a", "running", 1, T0 + 2),
        FleetHostOutput("run1", "a", 1, "Setting up bar", at=T0 + 3),
        FleetHostOutput("run1", "a", 1, "unstall-fleet-go: tool=go", at=T0 + 4),
        tail_filter=strip_marker,
    )
    (row,) = board.frame(T0 + 5, max_rows=10, line_width=80).rows
    assert row.last_line == "Setting up bar"
