"""Host states of a fleet run and the outcome of one attempt on one host."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class HostState(StrEnum):
    """Where one host is in a fleet run; the last four are final for an attempt."""

    PENDING = "pending"
    CONNECTING = "connecting"
    RUNNING = "running"
    RETRYING = "retrying"
    OK = "ok"
    FAILED = "failed"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"

    @property
    def final(self) -> bool:
        """True for the states an attempt ends in."""
        return self in _FINAL


_FINAL = frozenset({HostState.OK, HostState.FAILED, HostState.TIMEOUT, HostState.UNREACHABLE})


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt on one host ended with.

    ``output_tail`` is the combined stdout and stderr, only the last bytes up to the
    output cap, decoded and redacted. ``error`` says why a host did not end ``ok``
    (redacted); ``cause`` is a cause id where one fits (``tcp-refused``, ...).
    """

    state: HostState
    exit_code: int | None
    output_tail: str
    duration_s: float
    error: str | None
    cause: str | None


__all__ = ["HostState", "Outcome"]
