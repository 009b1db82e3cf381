"""What `unstall fleet` prints for people: the summary after a run and the status table."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.table import Table
from rich.text import Text

from unstall.fleet.groups import group_hosts
from unstall.fleet.states import HostState
from unstall.fleet.store import FleetRun
from unstall.observe.fingerprint import error_line
from unstall.redact import redact


def print_summary(run: FleetRun, tools: str | None = None) -> None:
    """Counts per state, which go tool ran (``tools``, for fleet go), errors grouped by
    fingerprint, and the commands to resume, retry or inspect the run."""
    console = Console(highlight=False, soft_wrap=True)
    counts: dict[str, int] = {}
    for host in run.hosts:
        counts[host.state.value] = counts.get(host.state.value, 0) + 1
    order = [state.value for state in HostState]
    tally = ", ".join(f"{counts[s]} {s}" for s in order if s in counts)
    console.print(f"fleet run {run.run_id}: {len(run.hosts)} hosts: {tally}", markup=False)
    if tools:
        console.print(f"  {tools}", markup=False)
    for group in group_hosts(run.hosts):
        noun = "host" if group.count == 1 else "hosts"
        console.print(f"  {group.count} {noun}: {redact(group.example)}", markup=False)
        shown = ", ".join(group.hosts[:10]) + (" ..." if group.count > 10 else "")
        console.print(f"    {shown}", markup=False)
    if any(not h.state.final for h in run.hosts):
        console.print(f"unfinished hosts: unstall fleet resume {run.run_id}", markup=False)
    if any(h.state is not HostState.OK for h in run.hosts):
        console.print(
            f"rerun the hosts that did not succeed: unstall fleet retry {run.run_id}", markup=False
        )
        console.print(f"details: unstall fleet status {run.run_id}", markup=False)


def print_status(run: FleetRun) -> None:
    """One row per host of ``run``: state, attempts, exit code, time and last line."""
    # Piped: wide enough that no column is cut; a terminal keeps its own width.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.started))
    if run.finished is None:
        ending = f"not finished (resume: unstall fleet resume {run.run_id})"
    else:
        ending = f"finished, exit code {run.exit_code}"
    console.print(f"fleet run {run.run_id}: {run.command}", markup=False)
    parent = f", retry of {run.parent_run}" if run.parent_run else ""
    console.print(f"started {started}{parent}; {ending}", markup=False)
    table = Table("host", "state", "attempts", "exit", "time", "last line", box=None)
    for host in run.hosts:
        # Text cells: an output line may hold "[...]" that rich would take for markup.
        table.add_row(
            Text(host.name),
            Text(host.state.value),
            Text(str(host.attempts)),
            Text("" if host.exit_code is None else str(host.exit_code)),
            Text("" if host.duration_s is None else f"{host.duration_s:.1f}s"),
            Text(redact(error_line(host.output_tail, host.error))),
        )
    console.print(table)


__all__ = ["print_status", "print_summary"]
