"""Loopback servers that fail at a chosen network layer, for the doctor probes and benchmarks.

:class:`~tests.support.upstream.FakeUpstream` already fails at most layers, each a real
socket on 127.0.0.0/8:

========================  =====================================================
layer / cause             server
========================  =====================================================
tcp-refused               ``probe_upstream(mode="refuse")`` (port reserved, closed)
tcp-timeout               ``probe_upstream(mode="no-accept")`` (accept queue full)
tls- / http-timeout       ``probe_upstream(mode="blackhole")`` (accepts, never speaks)
http-server-error         ``probe_upstream(fault=Status(503))``
transfer-stall            ``probe_upstream(fault=StallBody(-1, 30.0))``
transfer-slow             ``probe_upstream(fault=Trickle(100, 0.1))``
sumdb-unsupported         ``probe_upstream()`` (``sumdb=True`` proxies it)
tls-untrusted / ok        ``probe_upstream(tls=authority.server_context())``
========================  =====================================================

This module adds what it lacks: :class:`HttpProxy` (a CONNECT and absolute-form proxy,
or one that answers every request with a scripted status, or never answers) and a test
:class:`Authority`. The DNS server is in :mod:`tests.support.dnsserver`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Final, Literal, Unpack
from urllib.parse import urlsplit

import trustme
from cryptography import x509

from tests.support.faults import Fault
from tests.support.lifecycle import StreamServer
from tests.support.modfactory import FixtureModule, ModuleSet, make_module
from tests.support.upstream import FakeUpstream, UpstreamOptions

_DEADLINE: Final = 10.0
_MAX_HEAD: Final = 64 * 1024

PROBE_MODULE: Final[FixtureModule] = make_module(
    "fixture.test/probe", "v1.0.0", payload_size=64 * 1024, seed=11
)
BODY_PATH: Final = f"/{PROBE_MODULE.path}/@v/{PROBE_MODULE.version}.zip"
"""A 64 kB body every :func:`probe_upstream` serves (a module zip)."""


def probe_upstream(fault: Fault | None = None, **options: Unpack[UpstreamOptions]) -> FakeUpstream:
    """A started :class:`FakeUpstream` serving :data:`PROBE_MODULE`; ``fault`` strikes every
    request. ``url + BODY_PATH`` is a 64 kB body; ``url + "/"`` answers 404."""
    server = FakeUpstream(ModuleSet([PROBE_MODULE]), **options)
    if fault is not None:
        server.add_fault("*", fault, times=None)
    return server.start()


@dataclass
class Authority:
    """A test CA (trustme): server contexts for ``names``, a client context trusting it."""

    names: Sequence[str] = ("127.0.0.1", "localhost", "mirror.example.test")
    ca: trustme.CA = field(default_factory=trustme.CA)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*self.names).configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Trusts this CA only (not the system store)."""
        return ssl.create_default_context(cadata=self.ca.cert_pem.bytes().decode("ascii"))

    @property
    def subject(self) -> str:
        """The CA's name as RFC 4514, i.e. the issuer of the certificates it signs."""
        cert = x509.load_pem_x509_certificate(self.ca.cert_pem.bytes())
        return cert.subject.rfc4514_string()


@dataclass(frozen=True)
class ProxyAnswer:
    """What a scripted proxy answers to every request: a status and extra headers."""

    status: int
    headers: Sequence[tuple[str, str]] = ()


ProxyBehaviour = ProxyAnswer | Literal["tunnel", "silent"]


class HttpProxy(StreamServer):
    """An HTTP proxy on ``host`` (127.x) and an ephemeral port, in its own thread.

    ``behaviour``: ``"tunnel"`` opens CONNECT tunnels and forwards absolute-form requests
    (to loopback targets only); a :class:`ProxyAnswer` answers every request with it;
    ``"silent"`` reads the request and never answers. Bytes that are not an HTTP request
    (a TLS ClientHello sent to it by mistake) get ``400 Bad Request``, as real proxies do.
    With ``tls`` it is an ``https://`` proxy. ``requests`` lists the request lines seen.
    """

    def __init__(
        self,
        behaviour: ProxyBehaviour = "tunnel",
        *,
        host: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(host, tls=tls, limit=_MAX_HEAD)
        self.behaviour = behaviour
        self._lines: list[str] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def requests(self) -> list[str]:
        """Request lines received so far ("CONNECT 127.0.0.1:443 HTTP/1.1"), in order."""
        with self._lock:
            return list(self._lines)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.readexactly(1)
        if not first.isalpha():
            await reader.read(_MAX_HEAD)  # the rest of the ClientHello: no RST for unread bytes
            await _answer(writer, ProxyAnswer(400), reader)
            return
        head = first + await reader.readuntil(b"\r\n\r\n")
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        with self._lock:
            self._lines.append(line)
        method, target, _version = line.split(" ", 2)
        if self.behaviour == "silent":
            await asyncio.Event().wait()
        if isinstance(self.behaviour, ProxyAnswer):
            await _answer(writer, self.behaviour, reader)
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            rest = b""
        else:
            parts = urlsplit(target)
            host, port = parts.hostname or "", str(parts.port or 80)
            origin = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            rest = head.replace(target.encode("latin-1"), origin.encode("latin-1"), 1)
        host = host.strip("[]")
        if not host.startswith("127."):  # a test must never reach beyond loopback
            await _answer(writer, ProxyAnswer(403), reader)
            return
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        try:
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                up_writer.write(rest)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.transport.abort()


async def _answer(
    writer: asyncio.StreamWriter, answer: ProxyAnswer, reader: asyncio.StreamReader
) -> None:
    """Send ``answer``, then wait (briefly) for the client to hang up first: closing with
    unread bytes would send a RST that can overtake the answer."""
    phrase = HTTPStatus(answer.status).phrase
    lines = [f"HTTP/1.1 {answer.status} {phrase}", *(f"{k}: {v}" for k, v in answer.headers)]
    lines += ["Content-Length: 0", "Connection: close"]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()
    with contextlib.suppress(TimeoutError, OSError):
        async with asyncio.timeout(_DEADLINE):
            while await reader.read(_MAX_HEAD):
                pass


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(64 * 1024):
            sink.write(data)
            await sink.drain()
    finally:
        if sink.can_write_eof():
            with contextlib.suppress(OSError):
                sink.write_eof()


__all__ = [
    "BODY_PATH",
    "PROBE_MODULE",
    "Authority",
    "HttpProxy",
    "ProxyAnswer",
    "ProxyBehaviour",
    "probe_upstream",
]
