"""The transfer layer: read (part of) the body and judge how it arrived."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import h11

from unstall.doctor.probe.connect import Stream
from unstall.doctor.probe.http import CHUNK
from unstall.doctor.probe.timing import now


@dataclass(frozen=True, slots=True)
class Transfer:
    """How the body arrived: ``cause`` is ``ok``, ``transfer-slow`` (a SLOW verdict) or a
    failure (``transfer-stall``, ``transfer-truncated``, ``tcp-reset``)."""

    cause: str
    message: str
    received: int
    transfer_ms: float
    throughput_kbps: float


def _kb(count: float) -> str:
    return f"{count / 1000:.1f} kB"


async def read_body(
    stream: Stream,
    conn: h11.Connection,
    *,
    where: str,
    expected: int | None,
    sent_at: float,
    seconds: float,
    limit: int,
    min_throughput: int,
) -> Transfer:
    """Read until the body ends, ``limit`` bytes arrived, or the phase's deadline.

    The phase has one deadline, ``seconds`` long. When it runs out the body either stalled
    (nothing arrived in the last half of the phase: it stopped) or trickled (bytes were
    still coming: SLOW). Throughput counts from the moment the request was sent, as curl
    does, so a body that came in the same packet as the head gives no absurd rate.
    """
    start = now()
    deadline = start + seconds
    last_byte = start  # bytes that came with the head arrived before this phase began
    received = 0
    ended = "limit"
    cause = "ok"
    detail = ""
    try:
        while received < limit:
            event = conn.next_event()
            if isinstance(event, h11.Data):
                received += len(event.data)
                continue
            if event is not h11.NEED_DATA:
                ended = "end"  # EndOfMessage, or ConnectionClosed for a body framed by EOF
                break
            remaining = deadline - now()
            if remaining <= 0:
                ended = "deadline"
                break
            try:
                async with asyncio.timeout(remaining):
                    data = await stream.reader.read(CHUNK)
            except TimeoutError:
                ended = "deadline"
                break
            if data:
                last_byte = now()
            conn.receive_data(data)
    except h11.RemoteProtocolError as exc:
        cause, detail = "transfer-truncated", str(exc)
    except OSError as exc:
        cause, detail = "tcp-reset", str(exc) or type(exc).__name__
    finished = now()
    took = finished - start
    rate = received / max(finished - sent_at, 1e-6)
    of = f" of {_kb(expected)}" if expected is not None else ""
    got = f"{_kb(received)}{of}"
    if cause == "transfer-truncated":
        message = f"{where} closed the connection mid-body after {got} ({detail})"
    elif cause == "tcp-reset":
        message = f"{where} reset the connection mid-body after {got} ({detail})"
    elif ended == "deadline" and finished - last_byte >= seconds / 2:
        cause = "transfer-stall"
        message = (
            f"the body from {where} stopped arriving: {got}, then nothing for "
            f"{finished - last_byte:.1f} s"
        )
    elif ended == "deadline" or (took > 1.0 and rate < min_throughput):
        cause = "transfer-slow"
        if ended == "deadline":
            message = f"the body from {where} was still arriving after {seconds:g} s"
        else:
            message = f"the body from {where} took {took:.1f} s"
        message += f": {got} at {rate / 1000:.2f} kB/s"
        if rate < min_throughput:
            message += f", under the minimum of {min_throughput / 1000:g} kB/s"
    else:
        message = f"{_kb(received)} received"
    return Transfer(cause, message, received, round(took * 1000.0, 3), round(rate / 1000, 3))


__all__ = ["Transfer", "read_body"]
