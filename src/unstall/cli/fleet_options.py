"""The options of `unstall fleet` commands, declared once: `run` and `go` share the host
and run options, every command that runs hosts shares --json and --junit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from unstall.fleet.runner import RunOptions

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
JunitOption = Annotated[
    Path | None, typer.Option("--junit", metavar="FILE", help="Also write JUnit XML to FILE.")
]
RunArgument = Annotated[str, typer.Argument(metavar="RUN", help="A run id (see fleet status).")]
InventoryOption = Annotated[
    str | None, typer.Option("-i", "--inventory", help="Ansible inventory or plain hosts file.")
]
HostsOption = Annotated[
    str | None, typer.Option("-H", "--hosts", metavar="LIST", help="host1,user@host2:2222,...")
]
LimitOption = Annotated[
    str | None, typer.Option("--limit", metavar="PATTERN", help="Select hosts or groups.")
]
ForksOption = Annotated[int, typer.Option("--forks", min=1, help="Hosts at once.")]
ConnectTimeoutOption = Annotated[
    float, typer.Option("--connect-timeout", min=0.1, help="TCP + SSH + auth, s.")
]
CommandTimeoutOption = Annotated[
    float, typer.Option("--command-timeout", min=0.1, help="The command on a host, s.")
]
RetriesOption = Annotated[
    int, typer.Option("--retries", min=0, help="Extra attempts for unreachable/timeout.")
]
RetryFailedOption = Annotated[
    bool, typer.Option("--retry-failed", help="Also retry a non-zero exit.")
]
MaxFailOption = Annotated[
    float | None,
    typer.Option("--max-fail-percent", min=0, max=100, help="Stop starting hosts above."),
]
KnownHostsOption = Annotated[
    Path | None, typer.Option("--known-hosts", metavar="FILE", help="Default: ~/.ssh/known_hosts.")
]
AcceptNewOption = Annotated[
    bool, typer.Option("--accept-new", help="Record unknown host keys (never changed ones).")
]


def run_options(
    forks: int,
    connect_timeout: float,
    command_timeout: float,
    retries: int,
    retry_failed: bool,
    max_fail_percent: float | None,
    known_hosts: Path | None,
    accept_new: bool,
) -> RunOptions:
    """The runner's options from the command-line values (``~`` in a path expanded)."""
    return RunOptions(
        forks=forks,
        connect_timeout=connect_timeout,
        command_timeout=command_timeout,
        retries=retries,
        retry_failed=retry_failed,
        max_fail_percent=max_fail_percent,
        known_hosts=known_hosts.expanduser() if known_hosts else None,
        accept_new=accept_new,
    )


__all__ = [
    "AcceptNewOption",
    "CommandTimeoutOption",
    "ConnectTimeoutOption",
    "ForksOption",
    "HostsOption",
    "InventoryOption",
    "JsonOption",
    "JunitOption",
    "KnownHostsOption",
    "LimitOption",
    "MaxFailOption",
    "RetriesOption",
    "RetryFailedOption",
    "RunArgument",
    "run_options",
]
