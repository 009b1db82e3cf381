"""Running a fleet command: hosts selected, the run recorded, observed, shown and ended.

Shared by `unstall fleet run`, `go`, `retry` and `resume` (cli/fleet_cmd.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NamedTuple

import typer

from unstall.cli.common import RunRecorder, err_console, run_async, settings_from
from unstall.cli.fleet_live import REFRESH_SECONDS, FleetLive
from unstall.cli.fleet_output import print_summary
from unstall.cli.observers import start_observers
from unstall.config import Settings
from unstall.errors import UsageError
from unstall.events import EventBus
from unstall.fleet import go_command as fleet_go
from unstall.fleet.inventory import Host, hosts_from_list, load_inventory, select_hosts
from unstall.fleet.report import exit_code, json_document, junit_xml
from unstall.fleet.store import FleetRun, FleetStore
from unstall.periodic import every


class ObserveValues(NamedTuple):
    """The observation options a fleet command was given."""

    metrics_textfile: Path | None
    pushgateway: str | None
    otlp_endpoint: str | None


def open_store(settings: Settings | None = None) -> FleetStore:
    """The fleet run store in the history database of ``settings`` (default: loaded)."""
    return FleetStore((settings or settings_from({})).history_path)


def select(inventory: str | None, host_list: str | None, limit: str | None) -> list[Host]:
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


def execute(
    work: Callable[[EventBus, FleetStore], Coroutine[Any, Any, FleetRun]],
    *,
    args: list[str],
    as_json: bool,
    junit: Path | None,
    observe: ObserveValues,
) -> None:
    """Run ``work`` with a fresh bus and store, print the result, exit with its code.

    The run is recorded like every command's (its failures join the history's error
    groups) and observed (metrics, traces, alerts). A ``fleet go`` run (also when
    retried or resumed) has the go markers taken out of its output and reports which
    tool each host used.
    """
    bus = EventBus()
    settings = settings_from({})
    recorder = RunRecorder(settings, bus, "fleet", args)
    observers = start_observers(bus, settings, recorder, command="fleet", **observe._asdict())
    live: FleetLive | None = None
    if not as_json and err_console.is_terminal:
        # Whether a retried or resumed run is a go run is known only later; a marker line
        # is never worth showing.
        live = FleetLive(err_console, tail_filter=fleet_go.strip_marker)
        bus.subscribe(live.board)
    store = open_store(settings)
    run: FleetRun | None = None
    try:
        run = run_async(_with_live(live, work(bus, store)))
    finally:
        store.close()
        code = exit_code(run) if run is not None else 1
        recorder.finish(code)
        observers.finish(code, run_id=recorder.run_id, fleet_run_id=run.run_id if run else None)
    go = fleet_go.is_go_script(run.command)
    shown = fleet_go.without_markers(run) if go else run
    if junit is not None:
        junit.write_text(junit_xml(shown), encoding="utf-8")
    if as_json:
        document = json_document(shown)
        if go:
            document["tools"] = fleet_go.tools_document(run)
        typer.echo(json.dumps(document, ensure_ascii=False))
    else:
        print_summary(shown, fleet_go.tools_summary(run) if go else None)
    raise typer.Exit(code)


async def _with_live(live: FleetLive | None, work: Coroutine[Any, Any, FleetRun]) -> FleetRun:
    if live is None:
        return await work
    with live:
        async with every(REFRESH_SECONDS, live.tick):
            return await work


__all__ = ["ObserveValues", "execute", "open_store", "select"]
