"""The ASGI app go talks to: the GOPROXY protocol, /sumdb pass-through, /healthz.

Errors are answered as text/plain with the reason and a fix, as the protocol asks,
so go prints them to the user. 404/410 mean "not here" and let go move on to the
next GOPROXY entry (such as ``direct``).

Module requests, the hot path of a warm server, are answered by a plain ASGI
callable that sends pre-encoded headers and whole bodies; Starlette's routing,
request and response objects cost more per request than the rest of the answer.
Everything else (health, sumdb, what ``serve`` adds) is a Starlette app behind it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send

from unstall.errors import UnstallError
from unstall.events import ArtifactFinished
from unstall.goproxy.answers import ByteBoundedLru
from unstall.goproxy.paths import Artifact, parse_artifact
from unstall.goproxy.stash import Served, Stash

STALE_HEADER: Final = b"x-unstall-stale"
_STALE_TEXT: Final = b"upstreams unavailable; served from the local cache"
_CHUNK: Final = 1 << 20
# Answers of stored artifacts are kept in memory up to this total (zips up to
# _MEMORY_ITEM each): a hot zip is one write from memory, with no thread hop to read it.
MEMORY_BYTES: Final = 256 << 20
_MEMORY_ITEM: Final = 16 << 20
_SERVICE_PREFIXES: Final = ("/sumdb/",)
_SERVICE_PATHS: Final = frozenset({"/healthz", "/readyz", "/metrics"})


RECORD_KEY: Final = "unstall.response"


class ResponseRecord:
    """What was answered (for the access log and metrics). Apps that know put it in the
    scope under RECORD_KEY themselves; wrapping ``send`` to watch every message costs
    more than the rest of a warm answer."""

    __slots__ = ("headers", "sent", "status")

    def __init__(self) -> None:
        self.status = 500  # what the client sees if the app fails before answering
        self.sent = 0
        self.headers: list[tuple[bytes, bytes]] = []

    def header(self, name: bytes) -> bytes | None:
        return next((v for k, v in self.headers if k == name), None)


def recording(send: Send, record: ResponseRecord) -> Send:
    """``send`` that also fills ``record``, for apps that do not fill it themselves."""

    async def watch(message: Message) -> None:
        if message["type"] == "http.response.start":
            record.status = message["status"]
            record.headers = [(k.lower(), v) for k, v in message.get("headers", ())]
        elif message["type"] == "http.response.body":
            record.sent += len(message.get("body", b""))
        await send(message)

    return watch


def _error_body(error: UnstallError) -> bytes:
    return f"{error.message}\nunstall: cause {error.cause}: {error.fix}\n".encode()


def _error_response(error: UnstallError) -> Response:
    return PlainTextResponse(_error_body(error), status_code=error.http_status)


def served_headers(served: Served, length: int) -> list[tuple[bytes, bytes]]:
    """Response headers of an answer: type, length, and where it came from."""
    if served.stale:
        cache = b"stale"
    elif served.cached or served.upstream is None:
        cache = b"hit"
    else:
        cache = b"miss"
    headers = [
        (b"content-type", served.content_type.encode()),
        (b"content-length", str(length).encode()),
        (b"x-unstall-upstream", (served.upstream or "cache").encode()),
        (b"x-unstall-cache", cache),
    ]
    if served.stale:
        headers.append((STALE_HEADER, _STALE_TEXT))
    return headers


@dataclass(frozen=True, slots=True)
class _Ready:
    """A whole answer for a stored, immutable artifact: sent again as it is."""

    event: ArtifactFinished
    headers: list[tuple[bytes, bytes]]
    body: bytes
    path: Path | None


class ProxyApp:
    """GOPROXY module requests directly; every other path to ``service`` (Starlette).

    Answers for stored artifacts (which never change) are kept whole, headers included,
    by request path, up to MEMORY_BYTES: a warm hit is a dictionary look-up and a
    write, and a hot zip is not read from disk again.
    """

    def __init__(self, stash: Stash, service: Starlette) -> None:
        self._stash = stash
        self._service = service
        self._ready: ByteBoundedLru[str, _Ready] = ByteBoundedLru(MEMORY_BYTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or path in _SERVICE_PATHS
            or path.startswith(_SERVICE_PREFIXES)
            or scope["method"] not in ("GET", "HEAD")
        ):
            record = scope.get(RECORD_KEY)
            await self._service(scope, receive, send if record is None else recording(send, record))
            return
        head = scope["method"] == "HEAD"
        ready = self._ready.get(path)
        if ready is not None:
            self._stash.count_hit(ready.event, ready.path)
            await send_whole(scope, send, 200, ready.headers, b"" if head else ready.body)
            return
        try:
            artifact = parse_artifact(path[1:])
            served = await self._stash.get(artifact)
        except UnstallError as error:
            body = _error_body(error)
            await send_whole(scope, send, error.http_status, plain_headers(len(body)), body)
            return
        if served.path is None:
            data = served.data or b""
            headers = served_headers(served, len(data))
            if served.cached and artifact.immutable:
                event = self._stash.hit_event(artifact, len(data))
                self._ready.put(path, _Ready(event, headers, data, None), len(data) + 256)
            await send_whole(scope, send, 200, headers, b"" if head else data)
            return
        await self._send_file(scope, send, path, artifact, served, head=head)

    async def _send_file(
        self,
        scope: Scope,
        send: Send,
        path: str,
        artifact: Artifact,
        served: Served,
        *,
        head: bool,
    ) -> None:
        assert served.path is not None
        size = served.path.stat().st_size
        if size > _MEMORY_ITEM:
            record = scope.get(RECORD_KEY)
            await self._stream_file(
                send if record is None else recording(send, record), served, size, head=head
            )
            return
        data = await asyncio.to_thread(served.path.read_bytes)
        headers = served_headers(served, len(data))
        if served.cached:
            event = self._stash.hit_event(artifact, len(data))
            self._ready.put(path, _Ready(event, headers, data, served.path), len(data) + 256)
        await send_whole(scope, send, 200, headers, b"" if head else data)

    @staticmethod
    async def _stream_file(send: Send, served: Served, size: int, *, head: bool) -> None:
        assert served.path is not None
        await send(
            {"type": "http.response.start", "status": 200, "headers": served_headers(served, size)}
        )
        if head:
            await send({"type": "http.response.body", "body": b""})
            return
        # Opened once: a zip evicted meanwhile stays readable through this handle.
        with served.path.open("rb") as handle:
            while True:
                chunk = await asyncio.to_thread(handle.read, _CHUNK)
                more = len(chunk) == _CHUNK
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
                if not more:
                    return


def plain_headers(length: int) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(length).encode()),
    ]


async def send_whole(
    scope: Scope, send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    """One answer in two messages, recorded for the access log when a ResponseRecord is
    in the scope; ``headers`` include content-length."""
    record: ResponseRecord | None = scope.get(RECORD_KEY)
    if record is not None:
        record.status, record.headers, record.sent = status, headers, len(body)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def build_app(stash: Stash, extra_routes: Sequence[BaseRoute] = ()) -> ProxyApp:
    """An app serving ``stash`` over the GOPROXY protocol (``extra_routes`` go first)."""

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def sumdb(request: Request) -> Response:
        name = request.path_params["name"]
        rest = request.path_params["rest"]
        try:
            if rest == "supported":
                if await stash.sumdb_supported(name):
                    return PlainTextResponse("")
                return PlainTextResponse(
                    f"no upstream proxies the checksum database {name}\n", status_code=404
                )
            served = await stash.sumdb(name, rest)
        except UnstallError as error:
            return _error_response(error)
        data = served.data or b""
        return Response(
            data, headers={k.decode(): v.decode() for k, v in served_headers(served, len(data))}
        )

    async def not_allowed(request: Request) -> Response:
        return PlainTextResponse(
            f"{request.method} is not part of the module proxy protocol: use GET\n",
            status_code=405,
            headers={"Allow": "GET, HEAD"},
        )

    service = Starlette(
        routes=[
            *extra_routes,
            Route("/healthz", healthz, methods=["GET"]),
            Route("/sumdb/{name}/{rest:path}", sumdb, methods=["GET"]),
            Route("/{path:path}", not_allowed, methods=["POST", "PUT", "DELETE", "PATCH"]),
        ]
    )
    return ProxyApp(stash, service)


__all__ = [
    "RECORD_KEY",
    "STALE_HEADER",
    "ProxyApp",
    "ResponseRecord",
    "build_app",
    "plain_headers",
    "recording",
    "send_whole",
    "served_headers",
]
