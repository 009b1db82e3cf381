"""`unstall fleet go`: the remote command that runs ``unstall go`` or plain ``go`` on a host.

A fleet go run is an ordinary fleet run whose command is the script built by
:func:`remote_command`: it runs ``unstall go GOARGS`` where ``unstall`` is on the host's
PATH, plain ``go GOARGS`` otherwise, and prints a marker line naming the tool before and
after it (the last line survives the output cap, which keeps the tail). The script is
one readable line of POSIX shell, stored as the run's command, so ``fleet retry`` and
``fleet resume`` rerun it unchanged. :func:`tool_of` reads the marker back;
:func:`strip_marker` takes it out of what a user reads.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Sequence
from typing import Final, Literal

from unstall.fleet.states import HostState
from unstall.fleet.store import FleetRun

Tool = Literal["unstall", "go"]

MARKER: Final = "unstall-fleet-go: tool="
_MARKER_LINE: Final = re.compile(r"^unstall-fleet-go: tool=(?P<tool>\w+)\r?$", re.MULTILINE)
_MARKER_WHOLE_LINE: Final = re.compile(r"^unstall-fleet-go: tool=\w+\r?(?:\n|\Z)", re.MULTILINE)
_NOTICE: Final = "unstall-fleet-go: "
# Hosts that never ran the script have no tool to tell.
_RAN: Final = frozenset({HostState.OK, HostState.FAILED, HostState.TIMEOUT})


def _directory(chdir: str) -> str:
    # "~/src" must mean the remote user's home, which shlex.quote alone would prevent.
    if chdir == "~":
        return '"$HOME"'
    if chdir.startswith("~/"):
        return '"$HOME"/' + shlex.quote(chdir[2:])
    return shlex.quote(chdir)


def remote_command(goargs: Sequence[str], chdir: str | None = None) -> str:
    """The shell line a fleet go run executes on each host.

    Each of ``goargs`` is quoted (the remote shell parses the line, so spaces, quotes and
    ``$`` arrive as typed). ``chdir`` is entered first (``~/`` is the remote home); if it
    does not exist the host fails with cd's message. The exit status is the tool's; with
    neither tool on PATH it is 127.
    """
    args = " ".join(shlex.quote(arg) for arg in goargs)
    steps = []
    if chdir:
        steps.append(f"cd -- {_directory(chdir)} || exit")
    steps += [
        "if command -v unstall >/dev/null 2>&1; then t=unstall;"
        " elif command -v go >/dev/null 2>&1; then t=go; else t=none; fi",
        f'echo "{MARKER}$t"',
        f"case $t in unstall) unstall go {args};; go) go {args};;"
        f' *) echo "{_NOTICE}neither unstall nor go is on PATH" >&2; (exit 127);; esac',
        "s=$?",
        f'echo "{MARKER}$t"',
        "exit $s",
    ]
    return "; ".join(steps)


def is_go_script(command: str) -> bool:
    """True when ``command`` (a stored run's command) was built by :func:`remote_command`."""
    return f'echo "{MARKER}$t"' in command


def tool_of(output_tail: str) -> Tool | None:
    """Which tool the script ran, from the last marker line; None when it cannot be told."""
    found = _MARKER_LINE.findall(output_tail)
    if not found:
        return None
    tool = found[-1]
    if tool == "unstall":
        return "unstall"
    if tool == "go":
        return "go"
    return None


def strip_marker(output_tail: str) -> str:
    """``output_tail`` without the marker lines (what the tool itself printed)."""
    return _MARKER_WHOLE_LINE.sub("", output_tail)


def without_markers(run: FleetRun) -> FleetRun:
    """``run`` with the marker lines taken out of every host's output tail.

    Error grouping reads the last line of a tail; without this every failure would be
    fingerprinted by the marker instead of by the tool's own message.
    """
    hosts = tuple(
        dataclasses.replace(h, output_tail=strip_marker(h.output_tail)) for h in run.hosts
    )
    return dataclasses.replace(run, hosts=hosts)


def tools_by_host(run: FleetRun) -> dict[str, Tool | None]:
    """For each host that ran the script (ok, failed or timed out): its tool, or None."""
    return {h.name: tool_of(h.output_tail) for h in run.hosts if h.state in _RAN}


def tools_document(run: FleetRun) -> dict[str, list[str]]:
    """The ``tools`` member of ``fleet go --json``: host names per tool."""
    tools = tools_by_host(run)
    return {
        "unstall": [name for name, tool in tools.items() if tool == "unstall"],
        "go": [name for name, tool in tools.items() if tool == "go"],
    }


def _part(label: str, hosts: Sequence[str]) -> str:
    noun = "host" if len(hosts) == 1 else "hosts"
    shown = ", ".join(hosts[:10]) + (" ..." if len(hosts) > 10 else "")
    return f"{label} on {len(hosts)} {noun}: {shown}"


def tools_summary(run: FleetRun) -> str | None:
    """ "unstall go on 2 hosts: a, b; plain go on 1 host: c" (None when no host ran it)."""
    tools = tools_by_host(run)
    parts = [
        _part(label, [name for name, tool in tools.items() if tool == wanted])
        for label, wanted in (("unstall go", "unstall"), ("plain go", "go"), ("tool unknown", None))
        if any(tool == wanted for tool in tools.values())
    ]
    return "; ".join(parts) or None


__all__ = [
    "MARKER",
    "Tool",
    "is_go_script",
    "remote_command",
    "strip_marker",
    "tool_of",
    "tools_by_host",
    "tools_document",
    "tools_summary",
    "without_markers",
]
