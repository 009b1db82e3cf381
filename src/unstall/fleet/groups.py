"""Error fingerprints: hosts that failed the same way end up in one group.

The fingerprint of a host is its most specific error line (an ``E:`` line, then a line
saying error/fatal/failed, then the last line; the executor's error message when the
output is empty) with the varying parts replaced by placeholders: timestamps, host names
and addresses, paths, hex ids and numbers. "37 hosts: E: Unable to locate package foo"
is one group whatever the hosts' names or the apt lock's pid.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from unstall.fleet.states import HostState
from unstall.fleet.store import HostRecord

_TIMESTAMP: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
    r"|\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b"
)
_UUID: Final = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-\w{12}\b")
_IPV4: Final = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
_IPV6: Final = re.compile(r"\[[0-9a-fA-F:]*:[0-9a-fA-F:]*\]")
_PATH: Final = re.compile(r"(?<![\w<])(?:~|\.{1,2})?(?:/[\w.@+%=-]+){2,}/?|(?<![\w<])/[\w.@+-]+")
# Hex with at least one digit and one letter, or long enough to be an id (commit, digest).
_HEX: Final = re.compile(
    r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{7,}\b"
)
_NUMBER: Final = re.compile(r"\d+(?:\.\d+)?")
_SPACE: Final = re.compile(r"\s+")
_ERROR_WORD: Final = re.compile(r"(?i)\b(?:error|errors|fatal|failed|failure|cannot|denied)\b")
_SPECIFIC: Final = re.compile(r"^(?:E:|ERROR\b|[Ee]rror:|fatal:|FATAL\b)")


def error_line(output_tail: str, error: str | None = None) -> str:
    """The most specific error line of an output tail (``error`` when there is no output)."""
    lines = [line.strip() for line in output_tail.splitlines() if line.strip()]
    for line in lines:
        if _SPECIFIC.match(line):
            return line  # the first "E:" line: later ones are usually consequences
    for line in reversed(lines):
        if _ERROR_WORD.search(line):
            return line
    if lines:
        return lines[-1]
    return error or ""


def normalize(line: str, hosts: Iterable[str] = ()) -> str:
    """``line`` with timestamps, host names, addresses, paths, hex ids and numbers replaced."""
    text = _TIMESTAMP.sub("<time>", line)
    text = _UUID.sub("<hex>", text)
    # Addresses first: a host whose inventory name is its address still reads "<ip>".
    text = _IPV4.sub("<ip>", text)
    text = _IPV6.sub("<ip>", text)
    # Longest names first, so that "web10" is not eaten by "web1".
    for name in sorted({h for h in hosts if h}, key=len, reverse=True):
        text = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", "<host>", text)
    text = _PATH.sub("<path>", text)
    text = _HEX.sub("<hex>", text)
    text = _NUMBER.sub("<n>", text)
    return _SPACE.sub(" ", text).strip()


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


__all__ = ["ErrorGroup", "error_line", "fingerprint", "group_hosts", "normalize"]
