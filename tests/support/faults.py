"""What the fake upstream can do wrong to one request (see :mod:`tests.support.upstream`).

Byte counts (``after_bytes``) are clamped so the fault always shows: at most one
byte short of the whole body. ``-1`` means "half of the body", which lets one
fault fit artifacts of every size (used by the random faults of benchmarks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True)
class StallHeaders:
    """Wait ``seconds`` before sending the response headers."""

    seconds: float


@dataclass(frozen=True)
class StallBody:
    """Send headers and ``after_bytes`` of the body, wait ``seconds``, then send the rest."""

    after_bytes: int
    seconds: float


@dataclass(frozen=True)
class ResetBody:
    """Send headers and ``after_bytes`` of the body, then reset the connection (ECONNRESET)."""

    after_bytes: int


@dataclass(frozen=True)
class Truncate:
    """Announce the full Content-Length, send ``after_bytes``, then close cleanly (FIN)."""

    after_bytes: int


@dataclass(frozen=True)
class Trickle:
    """Send the body ``chunk_bytes`` at a time with ``interval`` seconds between chunks."""

    chunk_bytes: int
    interval: float


@dataclass(frozen=True)
class Status:
    """Answer ``code`` with a text/plain ``body`` and, if given, ``Retry-After`` in seconds.

    A fractional ``retry_after`` is sent as is (``0.5``) so tests stay fast; real
    servers send whole seconds.
    """

    code: int
    retry_after: float | None = None
    body: str = ""


@dataclass(frozen=True)
class CorruptZip:
    """Serve the artifact with bytes flipped in its middle, so CRCs and h1 fail."""


@dataclass(frozen=True)
class WrongContent:
    """Serve ``body`` with 200 instead of the real artifact."""

    body: bytes


@dataclass(frozen=True)
class Reset:
    """Reset the connection on receipt of the request, answering nothing."""


Fault: TypeAlias = (
    StallHeaders
    | StallBody
    | ResetBody
    | Truncate
    | Trickle
    | Status
    | CorruptZip
    | WrongContent
    | Reset
)


def cut_point(after_bytes: int, size: int) -> int:
    """Where a mid-body fault strikes in a body of ``size`` bytes (see module docstring)."""
    wanted = size // 2 if after_bytes < 0 else after_bytes
    return max(0, min(wanted, size - 1))


__all__ = [
    "CorruptZip",
    "Fault",
    "Reset",
    "ResetBody",
    "StallBody",
    "StallHeaders",
    "Status",
    "Trickle",
    "Truncate",
    "WrongContent",
    "cut_point",
]
