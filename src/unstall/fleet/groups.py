"""Error fingerprints: hosts that failed the same way end up in one group.

The fingerprint of a host is its most specific error line (an ``E:`` line, then a line
saying error/fatal/failed, then the last line; the executor's error message when the
output is empty) normalised by :func:`unstall.observe.fingerprint.normalize`, with the
inventory's host names among the parts replaced. "37 hosts: E: Unable to locate package foo"
is one group whatever the hosts' names or the apt lock's pid.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from unstall.fleet.states import HostState
from unstall.fleet.store import HostRecord
from unstall.observe.fingerprint import error_line, normalize


def fingerprint(record: HostRecord, hosts: Iterable[str] = ()) -> str:
    """The fingerprint of one host that did not end ok."""
    line = error_line(record.output_tail, record.error)
    return normalize(line, hosts) or record.state.value


@dataclass(frozen=True, slots=True)
class ErrorGroup:
    """Hosts sharing one fingerprint, with an unnormalized example line."""

    fingerprint: str
    count: int
    hosts: tuple[str, ...]
    example: str


def group_hosts(records: Sequence[HostRecord]) -> list[ErrorGroup]:
    """Group the finished, not-ok hosts by fingerprint; the largest group first."""
    names: set[str] = set()
    for record in records:
        names.update((record.name, record.target.address))
    groups: dict[str, list[HostRecord]] = {}
    for record in records:
        if record.state.final and record.state is not HostState.OK:
            groups.setdefault(fingerprint(record, names), []).append(record)
    result = [
        ErrorGroup(
            key,
            len(members),
            tuple(m.name for m in members),
            error_line(members[0].output_tail, members[0].error) or members[0].state.value,
        )
        for key, members in groups.items()
    ]
    result.sort(key=lambda g: (-g.count, g.fingerprint))
    return result


__all__ = ["ErrorGroup", "fingerprint", "group_hosts"]
