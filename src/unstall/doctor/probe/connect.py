"""The TCP layer: connect to every address of a host at once, keep the first that answers."""

from __future__ import annotations

import asyncio
import errno
from dataclasses import dataclass

from unstall.doctor.model import ProbeFailure
from unstall.doctor.probe.timing import elapsed_ms, now

_UNREACHABLE = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH})
# When every address fails, the most telling failure names the cause: a refusal proves
# the host is up, while an unreachable IPv6 address is common noise next to IPv4.
_PRECEDENCE = ("tcp-refused", "tcp-reset", "tcp-timeout", "tcp-unreachable")


def host_port(host: str, port: int) -> str:
    """``host:port``, with brackets around an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(slots=True)
class Stream:
    """One open connection: asyncio streams and the address they lead to."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    ip: str
    port: int

    @property
    def address(self) -> str:
        return host_port(self.ip, self.port)

    def abort(self) -> None:
        """Drop the connection at once: a probe needs no graceful (TLS) shutdown."""
        self.writer.transport.abort()


@dataclass(frozen=True, slots=True)
class Connected:
    """The connection kept, the time it took, and what every address did."""

    stream: Stream
    connect_ms: float
    attempts: tuple[tuple[str, str], ...]


async def open_stream(address: str, port: int, seconds: float) -> Stream:
    """Connect to one address within ``seconds`` (raises TimeoutError or OSError)."""
    async with asyncio.timeout(seconds):
        reader, writer = await asyncio.open_connection(address, port)
    return Stream(reader, writer, address, port)


def classify_connect_error(exc: BaseException, seconds: float) -> tuple[str, str]:
    """(cause id, short text) for a failed connection attempt."""
    # TimeoutError and ConnectionError are OSErrors too: test the specific ones first.
    if isinstance(exc, TimeoutError):
        return "tcp-timeout", f"timed out (no answer within {seconds:g} s)"
    if isinstance(exc, ConnectionRefusedError):
        return "tcp-refused", "refused"
    if isinstance(exc, ConnectionResetError):
        return "tcp-reset", "reset"
    if isinstance(exc, OSError):
        text = exc.strerror or str(exc) or type(exc).__name__
        if exc.errno in _UNREACHABLE:
            return "tcp-unreachable", f"unreachable ({text})"
        # EADDRNOTAVAIL, EAFNOSUPPORT...: this machine cannot reach that address either.
        return "tcp-unreachable", f"failed ({text})"
    return "tcp-reset", f"failed ({type(exc).__name__}: {exc})"


async def connect_first(
    host: str, addresses: tuple[str, ...], port: int, seconds: float
) -> Connected:
    """Race connections to all ``addresses``; the first to connect wins, the rest are closed.

    Raises :class:`ProbeFailure` (``tcp-*``) naming each address's failure when none connects.
    """
    unique = tuple(dict.fromkeys(addresses))
    if not unique:
        raise ProbeFailure("dns-error", f"no address to connect to for {host}")
    start = now()
    tasks = {asyncio.create_task(open_stream(a, port, seconds)): a for a in unique}
    outcome: dict[str, str] = {}
    causes: dict[str, str] = {}
    winner: Stream | None = None
    pending: set[asyncio.Task[Stream]] = set(tasks)
    try:
        while pending and winner is None:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                address = tasks[task]
                exc = task.exception()
                if exc is not None:
                    causes[address], outcome[address] = classify_connect_error(exc, seconds)
                elif winner is None:
                    winner = task.result()
                    outcome[address] = f"connected in {elapsed_ms(start):.1f} ms"
                else:
                    task.result().abort()
                    outcome[address] = "connected as well (not used)"
    finally:
        for task in pending:
            task.cancel()
            outcome[tasks[task]] = "abandoned: another address connected first"
        for late in await asyncio.gather(*pending, return_exceptions=True):
            if isinstance(late, Stream):
                late.abort()
    attempts = tuple((f"tcp {host_port(a, port)}", outcome[a]) for a in unique if a in outcome)
    if winner is not None:
        return Connected(winner, elapsed_ms(start), attempts)
    cause = next(c for c in _PRECEDENCE if c in causes.values())
    if len(unique) == 1:
        message = f"connection to {host_port(unique[0], port)} {outcome[unique[0]]}"
    else:
        each = "; ".join(f"{host_port(a, port)} {outcome[a]}" for a in unique)
        message = f"no address of {host_port(host, port)} accepted a connection: {each}"
    raise ProbeFailure(cause, message)


__all__ = [
    "Connected",
    "Stream",
    "classify_connect_error",
    "connect_first",
    "host_port",
    "open_stream",
]
