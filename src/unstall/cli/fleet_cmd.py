"""`unstall fleet`: run one command on many hosts over SSH; status, retry and resume runs.

Exit codes (from :func:`unstall.fleet.report.exit_code`): 0 every host ok, 1 some host
failed, 4 the only failures are unreachable or timed-out hosts, 2 usage errors.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from unstall.cli.common import VersionOption, err_console, handle_errors, run_async, settings_from
from unstall.errors import UsageError
from unstall.events import Event, EventBus, FleetHostChanged
from unstall.fleet.groups import error_line, group_hosts
from unstall.fleet.inventory import Host, hosts_from_list, load_inventory, select_hosts
from unstall.fleet.report import exit_code, json_document, junit_xml, render_json
from unstall.fleet.runner import RunOptions, resume_fleet, retry_fleet, run_fleet
from unstall.fleet.states import HostState
from unstall.fleet.store import FleetRun, FleetStore
from unstall.redact import redact

fleet_app = typer.Typer(
    name="fleet",
    help="Run one command on many hosts over SSH; status, retry and resume stored runs.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
JunitOption = Annotated[
    Path | None, typer.Option("--junit", metavar="FILE", help="Also write JUnit XML to FILE.")
]
RunArgument = Annotated[str, typer.Argument(metavar="RUN", help="A run id (see fleet status).")]


@fleet_app.callback()
def fleet_group(version: Annotated[bool, VersionOption] = False) -> None:
    """Run one command on many hosts over SSH; status, retry and resume stored runs."""


def _open_store() -> FleetStore:
    return FleetStore(settings_from({}).history_path)


def _select(inventory: str | None, host_list: str | None, limit: str | None) -> list[Host]:
    if inventory and host_list:
        raise UsageError("pass either -i or -H, not both", fix="Choose one source of hosts.")
    if inventory:
        return load_inventory(inventory, limit=limit)
    if host_list:
        return select_hosts(hosts_from_list(host_list), limit)
    raise UsageError(
        "no hosts given",
        fix="Pass an inventory with -i INVENTORY or hosts with -H host1,user@host2:2222.",
    )


def _live_printer(console: Console) -> Callable[[Event], None]:
    """On a terminal: one line per host reaching a final state or being retried."""

    def sink(event: Event) -> None:
        if not isinstance(event, FleetHostChanged):
            return
        if event.state == HostState.RETRYING.value:
            detail = redact(event.error or "") or error_line(event.output_tail, event.error)
            console.print(f"  {event.host}: retrying after attempt {event.attempt}: {detail}")
        elif HostState(event.state).final:
            console.print(f"  {event.host}: {event.state} (attempt {event.attempt})")

    return sink


def _execute(
    work: Callable[[EventBus, FleetStore], Coroutine[Any, Any, FleetRun]],
    *,
    as_json: bool,
    junit: Path | None,
) -> None:
    """Run ``work`` with a fresh bus and store, print the result, exit with its code."""
    bus = EventBus()
    if not as_json and err_console.is_terminal:
        bus.subscribe(_live_printer(err_console))
    store = _open_store()
    try:
        run = run_async(work(bus, store))
    finally:
        store.close()
    if junit is not None:
        junit.write_text(junit_xml(run), encoding="utf-8")
    if as_json:
        typer.echo(render_json(run))
    else:
        _print_summary(run)
    raise typer.Exit(exit_code(run))


def _print_summary(run: FleetRun) -> None:
    console = Console(highlight=False, soft_wrap=True)
    counts: dict[str, int] = {}
    for host in run.hosts:
        counts[host.state.value] = counts.get(host.state.value, 0) + 1
    order = [state.value for state in HostState]
    tally = ", ".join(f"{counts[s]} {s}" for s in order if s in counts)
    console.print(f"fleet run {run.run_id}: {len(run.hosts)} hosts: {tally}", markup=False)
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


@fleet_app.command(
    "run",
    options_metavar="[OPTIONS] -- COMMAND...",
    context_settings={"allow_interspersed_args": False},
)
@handle_errors
def run_command(
    command: Annotated[
        list[str] | None,
        typer.Argument(metavar="COMMAND", help="The command to run on every host."),
    ] = None,
    inventory: Annotated[
        str | None,
        typer.Option("-i", "--inventory", help="Ansible inventory or plain hosts file."),
    ] = None,
    host_list: Annotated[
        str | None,
        typer.Option("-H", "--hosts", metavar="LIST", help="host1,user@host2:2222,..."),
    ] = None,
    limit: Annotated[
        str | None, typer.Option("--limit", metavar="PATTERN", help="Select hosts or groups.")
    ] = None,
    forks: Annotated[int, typer.Option("--forks", min=1, help="Hosts at once.")] = 50,
    connect_timeout: Annotated[
        float, typer.Option("--connect-timeout", min=0.1, help="TCP + SSH + auth, s.")
    ] = 10.0,
    command_timeout: Annotated[
        float, typer.Option("--command-timeout", min=0.1, help="The command on a host, s.")
    ] = 600.0,
    retries: Annotated[
        int, typer.Option("--retries", min=0, help="Extra attempts for unreachable/timeout.")
    ] = 2,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Also retry a non-zero exit.")
    ] = False,
    max_fail_percent: Annotated[
        float | None,
        typer.Option("--max-fail-percent", min=0, max=100, help="Stop starting hosts above."),
    ] = None,
    known_hosts: Annotated[
        Path | None,
        typer.Option("--known-hosts", metavar="FILE", help="Default: ~/.ssh/known_hosts."),
    ] = None,
    accept_new: Annotated[
        bool, typer.Option("--accept-new", help="Record unknown host keys (never changed ones).")
    ] = False,
    as_json: JsonOption = False,
    junit: JunitOption = None,
    version: Annotated[bool, VersionOption] = False,
) -> None:
    """Run COMMAND on every selected host: unstall fleet run -H a,b -- apt-get install -y foo."""
    hosts = _select(inventory, host_list, limit)
    if not command:
        raise UsageError("no command given", fix="Put the command after --: ... -- uptime")
    options = RunOptions(
        forks=forks,
        connect_timeout=connect_timeout,
        command_timeout=command_timeout,
        retries=retries,
        retry_failed=retry_failed,
        max_fail_percent=max_fail_percent,
        known_hosts=known_hosts.expanduser() if known_hosts else None,
        accept_new=accept_new,
    )
    # Joined with spaces like ssh does: the remote shell parses the command.
    text = " ".join(command)
    _execute(
        lambda bus, store: run_fleet(hosts, text, options, bus=bus, store=store),
        as_json=as_json,
        junit=junit,
    )


@fleet_app.command("retry")
@handle_errors
def retry_command(
    run_id: RunArgument,
    as_json: JsonOption = False,
    junit: JunitOption = None,
    version: Annotated[bool, VersionOption] = False,
) -> None:
    """Rerun, as a new run, only the hosts of RUN that did not succeed."""
    _execute(
        lambda bus, store: retry_fleet(run_id, bus=bus, store=store),
        as_json=as_json,
        junit=junit,
    )


@fleet_app.command("resume")
@handle_errors
def resume_command(
    run_id: RunArgument,
    as_json: JsonOption = False,
    junit: JunitOption = None,
    version: Annotated[bool, VersionOption] = False,
) -> None:
    """Continue RUN's unfinished hosts (after the controller died); ok hosts never rerun."""
    _execute(
        lambda bus, store: resume_fleet(run_id, bus=bus, store=store),
        as_json=as_json,
        junit=junit,
    )


@fleet_app.command("status")
@handle_errors
def status_command(
    run_id: Annotated[
        str | None, typer.Argument(metavar="[RUN]", help="A run id; default: the latest run.")
    ] = None,
    as_json: JsonOption = False,
    version: Annotated[bool, VersionOption] = False,
) -> None:
    """Show every host of RUN (default: the latest run) and its state."""
    store = _open_store()
    try:
        chosen = run_id or store.latest_run()
        if chosen is None:
            raise UsageError(
                "no fleet run in the history yet", fix="Start one with `unstall fleet run`."
            )
        run = store.load_run(chosen)
    finally:
        store.close()
    if run is None:
        raise UsageError(
            f"no fleet run {chosen!r} in the history",
            fix="Run `unstall fleet status` without RUN to see the latest run.",
        )
    if as_json:
        document = json_document(run)
        document.update(
            command=run.command,
            parent_run=run.parent_run,
            started=run.started,
            finished=run.finished,
            exit_code=run.exit_code,
            unfinished=[h.name for h in run.hosts if not h.state.final],
        )
        typer.echo(json.dumps(document, ensure_ascii=False))
        return
    _print_status(run)


def _print_status(run: FleetRun) -> None:
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


__all__ = ["fleet_app"]
