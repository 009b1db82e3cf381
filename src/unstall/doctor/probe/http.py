"""The HTTP layer: one GET framed by h11, its response head, and how its status is judged."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import h11

from unstall.doctor.model import ProbeFailure, SourceKind
from unstall.doctor.probe.connect import Stream
from unstall.doctor.probe.timing import elapsed_ms, now
from unstall.http.client import USER_AGENT

CHUNK = 64 * 1024

# A module proxy's root (and a URL given to probe) often answers 404: the server answers.
_ANSWERING_404 = frozenset({SourceKind.GOPROXY, SourceKind.URL})


async def read_head(conn: h11.Connection, reader: asyncio.StreamReader) -> h11.Response:
    """The final response head (1xx skipped); EOFError if the peer closes before one."""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(CHUNK)
            if not data:
                raise EOFError("the connection was closed before a response head")
            conn.receive_data(data)
        elif isinstance(event, h11.Response):
            return event
        elif not isinstance(event, h11.InformationalResponse):
            raise h11.RemoteProtocolError(f"unexpected {type(event).__name__} before a head")


def request_bytes(
    conn: h11.Connection, method: str, target: str, headers: Sequence[tuple[str, str]]
) -> bytes:
    """A whole request without body, framed by ``conn``."""
    head = conn.send(h11.Request(method=method, target=target, headers=list(headers)))
    return head + conn.send(h11.EndOfMessage())


def header_values(response: h11.Response, name: str) -> list[str]:
    """Every value of header ``name`` (case-insensitive), in order."""
    wanted = name.lower().encode("ascii")
    return [value.decode("latin-1") for key, value in response.headers if key == wanted]


def auth_schemes(response: h11.Response, header: str) -> str:
    """The schemes a 401/407 offers, one per challenge header: "NTLM, Basic"."""
    schemes = [value.split(None, 1)[0] for value in header_values(response, header) if value]
    return ", ".join(dict.fromkeys(schemes)) or "no scheme named"


def status_text(response: h11.Response) -> str:
    reason = response.reason.decode("latin-1", errors="replace")
    return f"{response.status_code} {reason}".rstrip()


@dataclass(frozen=True, slots=True)
class Head:
    """A response head, how long it took to arrive and when the request had gone out."""

    response: h11.Response
    ttfb_ms: float
    sent_at: float


async def get_head(
    stream: Stream,
    conn: h11.Connection,
    target: str,
    headers: Sequence[tuple[str, str]],
    *,
    where: str,
    seconds: float,
) -> Head:
    """Send ``GET target`` and wait for its head; ``where`` names the server in messages."""
    request = request_bytes(
        conn,
        "GET",
        target,
        [*headers, ("User-Agent", USER_AGENT), ("Accept", "*/*"), ("Connection", "close")],
    )
    try:
        async with asyncio.timeout(seconds):
            stream.writer.write(request)
            await stream.writer.drain()
            sent_at = now()
            response = await read_head(conn, stream.reader)
    except TimeoutError as exc:
        raise ProbeFailure(
            "http-timeout",
            f"{where} accepted the request but sent no response within {seconds:g} s",
        ) from exc
    except EOFError as exc:
        raise ProbeFailure("tcp-reset", f"{where} closed the connection before answering") from exc
    except h11.RemoteProtocolError as exc:
        # No cause fits a server that answers with something else than HTTP better than
        # "the server failed"; the message says what it sent.
        raise ProbeFailure("http-server-error", f"{where} sent no valid HTTP: {exc}") from exc
    except OSError as exc:
        raise ProbeFailure(
            "tcp-reset", f"{where} reset the connection before answering ({exc})"
        ) from exc
    return Head(response, elapsed_ms(sent_at), sent_at)


def judge(kind: SourceKind, response: h11.Response, where: str) -> ProbeFailure | None:
    """The failure a status means for a source of ``kind``, or None when it is an answer."""
    status = response.status_code
    said = f"{where} answered {status_text(response)}"
    if kind is SourceKind.SUMDB and status in (404, 410):
        return ProbeFailure(
            "sumdb-unsupported", f"{said}: this proxy does not proxy the checksum database"
        )
    if status >= 500 or status == 429:
        return ProbeFailure("http-server-error", said)
    if status == 407:
        schemes = auth_schemes(response, "proxy-authenticate")
        return ProbeFailure("proxy-auth-required", f"{said}; the proxy offers {schemes}")
    if status in (404, 410) and kind in _ANSWERING_404:
        return None
    if status >= 400:
        return ProbeFailure("http-client-error", said)
    return None


__all__ = [
    "CHUNK",
    "Head",
    "auth_schemes",
    "get_head",
    "header_values",
    "judge",
    "read_head",
    "request_bytes",
    "status_text",
]
