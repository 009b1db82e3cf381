"""Per-request accounting: one JSON access-log line and the request metrics.

A plain ASGI middleware (not Starlette's BaseHTTPMiddleware, which adds a task
and a stream per request) that watches the response messages go by: status and
headers from the start message, bytes from the body messages.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from unstall.observe.metrics import Metrics

ACCESS_LOGGER: Final = "unstall.access"
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

    def __init__(self, app: ASGIApp, metrics: Metrics, logger: logging.Logger | None) -> None:
        self._app = app
        self._metrics = metrics
        self._log = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app fails before answering
        sent = 0
        headers: dict[bytes, bytes] = {}

        async def watch(message: Message) -> None:
            nonlocal status, sent, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = {k.lower(): v for k, v in message.get("headers", ())}
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self._app(scope, receive, watch)
        finally:
            seconds = time.perf_counter() - started
            path: str = scope["path"]
            endpoint = endpoint_of(path)
            self._metrics.observe_request(endpoint, status, seconds, sent)
            if self._log is not None:
                self._log.info(_line(scope, path, endpoint, status, sent, seconds, headers))


def _line(
    scope: Scope,
    path: str,
    endpoint: str,
    status: int,
    sent: int,
    seconds: float,
    headers: dict[bytes, bytes],
) -> str:
    client = scope.get("client")
    record = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
        "remote": client[0] if client else None,
        "user": scope.get("state", {}).get("user"),
        "method": scope["method"],
        "path": path,
        "endpoint": endpoint,
        "status": status,
        "bytes": sent,
        "duration_ms": round(seconds * 1000, 3),
        "cache": _header(headers, b"x-unstall-cache"),
        "upstream": _header(headers, b"x-unstall-upstream"),
    }
    return json.dumps(record, separators=(",", ":"))


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return None if value is None else value.decode("latin-1")


def access_logger(destination: str) -> logging.Logger | None:
    """The access logger writing to ``-`` (stdout), a file path, or nowhere (``off``)."""
    if destination == "off":
        return None
    logger = logging.getLogger(ACCESS_LOGGER)
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler: logging.Handler
    if destination == "-":
        handler = logging.StreamHandler(sys.stdout)
    else:
        handler = logging.FileHandler(destination, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    return logger


__all__ = ["ACCESS_LOGGER", "AccessMiddleware", "access_logger", "endpoint_of"]
