"""`unstall fleet`: run one command on many hosts over SSH; status, retry and resume runs.

Exit codes (from :func:`unstall.fleet.report.exit_code`): 0 every host ok, 1 some host
failed, 4 the only failures are unreachable or timed-out hosts, 2 usage errors.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine
from typing import Annotated, Any, Protocol

import typer

from unstall.cli.common import (
    VersionOption,
    handle_errors,
)
from unstall.cli.fleet_options import (
    AcceptNewOption,
    CommandTimeoutOption,
    ConnectTimeoutOption,
    ForksOption,
    HostsOption,
    InventoryOption,
    JsonOption,
    JunitOption,
    KnownHostsOption,
    LimitOption,
    MaxFailOption,
    RetriesOption,
    RetryFailedOption,
    RunArgument,
    run_options,
)
from unstall.cli.fleet_output import print_status
from unstall.cli.fleet_run import ObserveValues, execute, open_store, select
from unstall.cli.observers import (
    MetricsTextfileOption,
    OtlpEndpointOption,
    PushgatewayOption,
)
from unstall.errors import UsageError
from unstall.events import EventBus
from unstall.fleet import go_command as fleet_go
from unstall.fleet.report import json_document
from unstall.fleet.runner import resume_fleet, retry_fleet, run_fleet
from unstall.fleet.store import FleetRun, FleetStore

fleet_app = typer.Typer(
    name="fleet",
    help="Run one command on many hosts over SSH; status, retry and resume stored runs.",
    no_args_is_help=True,
)


@fleet_app.callback()
def fleet_group(version: Annotated[bool, VersionOption] = False) -> None:
    """Run one command on many hosts over SSH; status, retry and resume stored runs."""


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
    inventory: InventoryOption = None,
    host_list: HostsOption = None,
    limit: LimitOption = None,
    forks: ForksOption = 50,
    connect_timeout: ConnectTimeoutOption = 10.0,
    command_timeout: CommandTimeoutOption = 600.0,
    retries: RetriesOption = 2,
    retry_failed: RetryFailedOption = False,
    max_fail_percent: MaxFailOption = None,
    known_hosts: KnownHostsOption = None,
    accept_new: AcceptNewOption = False,
    as_json: JsonOption = False,
    junit: JunitOption = None,
    metrics_textfile: MetricsTextfileOption = None,
    pushgateway: PushgatewayOption = None,
    otlp_endpoint: OtlpEndpointOption = None,
    version: Annotated[bool, VersionOption] = False,
) -> None:
    """Run COMMAND on every selected host: unstall fleet run -H a,b -- apt-get install -y foo."""
    hosts = select(inventory, host_list, limit)
    if not command:
        raise UsageError("no command given", fix="Put the command after --: ... -- uptime")
    options = run_options(
        forks, connect_timeout, command_timeout, retries, retry_failed,
        max_fail_percent, known_hosts, accept_new,
    )  # fmt: skip
    # Joined with spaces like ssh does: the remote shell parses the command.
    text = " ".join(command)
    execute(
        lambda bus, store: run_fleet(hosts, text, options, bus=bus, store=store),
        args=["run", *command],
        as_json=as_json,
        junit=junit,
        observe=ObserveValues(metrics_textfile, pushgateway, otlp_endpoint),
    )


@fleet_app.command(
    "go",
    options_metavar="[OPTIONS] -- GOARGS...",
    context_settings={"allow_interspersed_args": False},
)
@handle_errors
def go_command(
    goargs: Annotated[
        list[str] | None,
        typer.Argument(metavar="GOARGS", help="Arguments of go, e.g. mod download."),
    ] = None,
    inventory: InventoryOption = None,
    host_list: HostsOption = None,
    limit: LimitOption = None,
    chdir: Annotated[
        str | None,
        typer.Option("--chdir", metavar="DIR", help="Run go in DIR on each host (~/ is home)."),
    ] = None,
    forks: ForksOption = 50,
    connect_timeout: ConnectTimeoutOption = 10.0,
    command_timeout: CommandTimeoutOption = 600.0,
    retries: RetriesOption = 2,
    retry_failed: RetryFailedOption = False,
    max_fail_percent: MaxFailOption = None,
    known_hosts: KnownHostsOption = None,
    accept_new: AcceptNewOption = False,
    as_json: JsonOption = False,
    junit: JunitOption = None,
    metrics_textfile: MetricsTextfileOption = None,
    pushgateway: PushgatewayOption = None,
    otlp_endpoint: OtlpEndpointOption = None,
    version: Annotated[bool, VersionOption] = False,
) -> None:
    """Run `unstall go GOARGS` where unstall is installed, else `go GOARGS`, on every host."""
    hosts = select(inventory, host_list, limit)
    if not goargs:
        raise UsageError(
            "no go arguments given",
            fix="Put go's arguments after --: unstall fleet go -i hosts.ini -- mod download",
        )
    options = run_options(
        forks, connect_timeout, command_timeout, retries, retry_failed,
        max_fail_percent, known_hosts, accept_new,
    )  # fmt: skip
    script = fleet_go.remote_command(goargs, chdir)
    execute(
        lambda bus, store: run_fleet(hosts, script, options, bus=bus, store=store),
        args=["go", *goargs],
        as_json=as_json,
        junit=junit,
        observe=ObserveValues(metrics_textfile, pushgateway, otlp_endpoint),
    )


class StoredRunWork(Protocol):
    """Another pass over a stored run (:func:`retry_fleet`, :func:`resume_fleet`)."""

    def __call__(
        self, run_id: str, *, bus: EventBus, store: FleetStore
    ) -> Coroutine[Any, Any, FleetRun]: ...


def _stored_run_command(verb: str, work: StoredRunWork, summary: str) -> None:
    """Register ``fleet VERB RUN``: one more pass over a stored run (retry, resume)."""

    @fleet_app.command(verb, help=summary)
    @handle_errors
    def command(
        run_id: RunArgument,
        as_json: JsonOption = False,
        junit: JunitOption = None,
        metrics_textfile: MetricsTextfileOption = None,
        pushgateway: PushgatewayOption = None,
        otlp_endpoint: OtlpEndpointOption = None,
        version: Annotated[bool, VersionOption] = False,
    ) -> None:
        execute(
            lambda bus, store: work(run_id, bus=bus, store=store),
            args=[verb, run_id],
            as_json=as_json,
            junit=junit,
            observe=ObserveValues(metrics_textfile, pushgateway, otlp_endpoint),
        )


_stored_run_command(
    "retry", retry_fleet, "Rerun, as a new run, only the hosts of RUN that did not succeed."
)
_stored_run_command(
    "resume",
    resume_fleet,
    "Continue RUN's unfinished hosts (after the controller died); ok hosts never rerun.",
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
    store = open_store()
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
    go = fleet_go.is_go_script(run.command)
    shown = fleet_go.without_markers(run) if go else run
    if as_json:
        document = json_document(shown)
        if go:
            document["tools"] = fleet_go.tools_document(run)
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
    print_status(shown)


__all__ = ["fleet_app"]
