"""Per-request accounting: one JSON access-log line and the request metrics.

A plain ASGI middleware (not Starlette's BaseHTTPMiddleware, which adds a task
and a stream per request) that watches the response messages go by: status and
headers from the start message, bytes from the body messages.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import select
import sys
import time
from typing import Final, Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from unstall.errors import ConfigError
from unstall.goproxy.app import RECORD_KEY, ResponseRecord, recording
from unstall.observe.metrics import Metrics

_FLUSH_SECONDS: Final = 0.5
_FLUSH_BYTES: Final = 64 << 10


class LineSink(Protocol):
    """Where access-log lines go: an :class:`AccessLog`, or any logging.Logger."""

    def info(self, msg: str, /) -> object: ...


_FIXED: Final = {
    "/healthz": "healthz",
    "/readyz": "readyz",
    "/metrics": "metrics",
}
_SUFFIXES: Final = (
    ("/@v/list", "list"),
    ("/@latest", "latest"),
    (".info", "info"),
    (".mod", "mod"),
    (".zip", "zip"),
)


def endpoint_of(path: str) -> str:
    """A bounded label for ``path``: the GOPROXY request kind or the service endpoint."""
    fixed = _FIXED.get(path)
    if fixed is not None:
        return fixed
    if path.startswith("/sumdb/"):
        return "sumdb"
    for suffix, name in _SUFFIXES:
        if path.endswith(suffix):
            return name
    return "other"


class AccessMiddleware:
    """Logs every request as one JSON line and counts it in the metrics."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        logger: LineSink | None,
        *,
        app_records: bool = False,
    ) -> None:
        """``app_records``: the app fills the ResponseRecord it finds in the scope
        (ProxyApp and AuthMiddleware do), so ``send`` need not be watched."""
        self._app = app
        self._metrics = metrics
        self._log = logger
        self._app_records = app_records

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        record = ResponseRecord()
        if self._app_records:
            scope[RECORD_KEY] = record
        else:
            send = recording(send, record)
        try:
            await self._app(scope, receive, send)
        finally:
            seconds = time.perf_counter() - started
            path: str = scope["path"]
            endpoint = endpoint_of(path)
            self._metrics.observe_request(endpoint, record.status, seconds, record.sent)
            if self._log is not None:
                self._log.info(_line(scope, path, endpoint, record, seconds))


def _line(scope: Scope, path: str, endpoint: str, record: ResponseRecord, seconds: float) -> str:
    # Written by hand rather than json.dumps(dict): a third of the cost, for a line per
    # request. Every value that is not a number goes through _json (escaping).
    client = scope.get("client")
    state = scope.get("state")
    return (
        f'{{"time":"{_now()}","remote":{_json(client[0] if client else None)}'
        f',"user":{_json(state.get("user") if state else None)}'
        f',"method":{_json(scope["method"])},"path":{_json(path)},"endpoint":"{endpoint}"'
        f',"status":{record.status},"bytes":{record.sent}'
        f',"duration_ms":{round(seconds * 1000, 3)}'
        f',"cache":{_json(record.header(b"x-unstall-cache"))}'
        f',"upstream":{_json(record.header(b"x-unstall-upstream"))}}}'
    )


def _json(value: str | bytes | None) -> str:
    if value is None:
        return "null"
    return _json_text(value.decode("latin-1") if isinstance(value, bytes) else value)


@functools.lru_cache(maxsize=8192)
def _json_text(value: str) -> str:
    """A JSON string; remembered, since the same paths and names come again and again."""
    if _PLAIN.fullmatch(value):  # nearly always: module paths need no escaping
        return f'"{value}"'
    return json.dumps(value)


_PLAIN: Final = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII except " and \


_clock: list[tuple[int, str]] = [(0, "")]


def _now() -> str:
    """UTC time to the second, formatted once per second."""
    second = int(time.time())
    cached_second, text = _clock[0]
    if second != cached_second:
        text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        _clock[0] = (second, text)
    return text


class AccessLog:
    """Lines to a file or stdout, buffered and written at most every half second (or per
    64 KiB): a write per request would cost more than the request; a crash loses at
    most the last half second of lines.

    Writes go straight to the file descriptor in pieces of whole lines of at most
    PIPE_BUF bytes, so several worker processes sharing stdout (a pipe) or a file
    (opened O_APPEND) never interleave inside a line.
    """

    def __init__(self, fd: int, *, owned: bool) -> None:
        self._fd = fd
        self._owned = owned
        self._pending: list[str] = []
        self._size = 0
        self._scheduled = False

    def info(self, line: str) -> None:
        """Record one line (the name matches logging.Logger, which also fits here)."""
        self._pending.append(line)
        self._size += len(line) + 1
        if self._size >= _FLUSH_BYTES:
            self.flush()
        elif not self._scheduled:
            try:
                asyncio.get_running_loop().call_later(_FLUSH_SECONDS, self.flush)
                self._scheduled = True
            except RuntimeError:  # no loop (a synchronous caller): write now
                self.flush()

    def flush(self) -> None:
        self._scheduled = False
        piece: list[bytes] = []
        size = 0
        for line in self._pending:
            data = line.encode() + b"\n"
            if piece and size + len(data) > select.PIPE_BUF:
                _write_all(self._fd, b"".join(piece))
                piece, size = [], 0
            piece.append(data)
            size += len(data)
        if piece:
            _write_all(self._fd, b"".join(piece))
        self._pending.clear()
        self._size = 0

    def close(self) -> None:
        self.flush()
        if self._owned:
            os.close(self._fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def access_logger(destination: str) -> AccessLog | None:
    """The access log writing to ``-`` (stdout), a file path (appended), or nowhere (``off``)."""
    if destination == "off":
        return None
    if destination == "-":
        sys.stdout.flush()
        return AccessLog(sys.stdout.fileno(), owned=False)
    try:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        return AccessLog(os.open(destination, flags, 0o644), owned=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot open the access log {destination}: {exc.strerror or exc}",
            fix="Pass --access-log with a writable file, '-' for stdout, or 'off'.",
        ) from exc


__all__ = ["AccessLog", "AccessMiddleware", "LineSink", "access_logger", "endpoint_of"]
