"""A loopback GOPROXY upstream that fails on purpose, request by request.

:class:`FakeUpstream` is a real HTTP/1.1 server (asyncio streams, so it keeps
raw control of the socket to reset, truncate or stall) running its own event
loop in a thread: synchronous tests, async tests and a ``go`` subprocess can all
talk to it. It serves a :class:`~tests.support.modfactory.ModuleSet` over the
module proxy protocol and, when ``sumdb=True``, proxies a checksum database from
files the test provides (keyed by the path below ``/sumdb/<name>/``).

Server-wide ``mode``:

* ``"normal"``: answer requests (after ``latency`` seconds, plus any fault);
* ``"blackhole"``: accept connections, never read or answer, hold them until stop;
* ``"refuse"``: nothing listens on the port (reserved, then closed): connects are refused;
* ``"no-accept"``: listen with backlog 0, never accept, with the accept queue
  pre-filled so further connects time out.

Faults added with :meth:`FakeUpstream.add_fault` apply to requests whose path
matches an fnmatch glob, first added first used; ``random_faults`` strike
matching requests with the given probabilities from a seeded generator.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import random
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Final, Literal, TypedDict, Unpack
from urllib.parse import unquote

from tests.support.faults import (
    CorruptZip,
    Fault,
    Reset,
    ResetBody,
    StallBody,
    StallHeaders,
    Status,
    Trickle,
    Truncate,
    WrongContent,
    cut_point,
)
from tests.support.lifecycle import StartStop
from tests.support.modfactory import ModuleSet
from tests.support.routes import apply_content_fault, apply_range, route

Mode = Literal["normal", "blackhole", "refuse", "no-accept"]
_MAX_HEAD: Final = 64 * 1024
_START_TIMEOUT: Final = 10.0


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it.

    ``status`` is what was (or began to be) answered, None when the fault answered
    nothing; ``fault`` is the repr of the fault applied; ``time`` is ``time.monotonic()``
    on arrival.
    """

    method: str
    path: str
    headers: dict[str, str]
    status: int | None
    fault: str | None
    time: float


@dataclass
class _Rule:
    match: str
    fault: Fault
    remaining: int | None


class FakeUpstream(StartStop):
    """A fault-injecting module proxy on 127.0.0.0/8; start/stop or use as a context manager."""

    def __init__(
        self,
        modules: ModuleSet | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        mode: Mode = "normal",
        latency: float = 0.0,
        sumdb: bool = False,
        sumdb_files: Mapping[str, bytes] | None = None,
        random_faults: Sequence[tuple[float, Fault]] = (),
        tls: ssl.SSLContext | None = None,
        random_match: str = "*",
        seed: int = 0,
    ) -> None:
        if not host.startswith("127."):
            raise ValueError(f"the fake upstream only listens on loopback, not {host!r}")
        self.modules = modules if modules is not None else ModuleSet()
        self.host = host
        self.mode: Mode = mode
        self.latency = latency
        self.sumdb = sumdb
        self.sumdb_files: dict[str, bytes] = dict(sumdb_files or {})
        self.random_faults = list(random_faults)
        self.tls = tls
        self.random_match = random_match
        self._requested_port = port
        self._port: int | None = None
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._records: list[RequestRecord] = []
        self._connections = 0
        self._in_flight = 0
        self._max_in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: list[socket.socket] = []
        self._stopped = False

    # -- public API --------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port (known once started)."""
        if self._port is None:
            raise RuntimeError("the fake upstream is not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL, usable as a GOPROXY entry: ``http(s)://127.0.0.1:PORT``."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def connections(self) -> int:
        """TCP connections accepted so far."""
        with self._lock:
            return self._connections

    @property
    def max_in_flight(self) -> int:
        """The most requests this server was answering at one moment."""
        with self._lock:
            return self._max_in_flight

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every request received, in order."""
        with self._lock:
            return list(self._records)

    def count(self, glob: str = "*", *, method: str | None = None) -> int:
        """How many requests had a path matching ``glob`` (and ``method``, if given)."""
        return sum(
            1
            for r in self.requests
            if fnmatch.fnmatchcase(r.path, glob) and (method is None or r.method == method)
        )

    def add_fault(self, match: str, fault: Fault, times: int | None = 1) -> None:
        """Apply ``fault`` to the next ``times`` requests matching ``match`` (None: forever)."""
        with self._lock:
            self._rules.append(_Rule(match, fault, times))

    def clear_faults(self) -> None:
        """Forget every pending fault added with :meth:`add_fault`."""
        with self._lock:
            self._rules.clear()

    def start(self) -> FakeUpstream:
        """Bind and start serving; returns self. A stopped server cannot start again."""
        if self._stopped:
            raise RuntimeError("a stopped fake upstream cannot be restarted; make a new one")
        if self._port is not None:
            return self
        if self.mode == "refuse":
            with socket.socket() as probe:
                probe.bind((self.host, self._requested_port))
                self._port = probe.getsockname()[1]
            return self
        if self.mode == "no-accept":
            self._start_no_accept()
            return self
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name=f"fake-upstream-{self.host}", daemon=True
        )
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start_server(), loop)
        try:
            future.result(timeout=_START_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Close the listener and every connection, blackholed and stalled ones too."""
        self._stopped = True
        for held in self._held:
            held.close()
        self._held.clear()
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return
        if loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._stop_server(), loop)
            with contextlib.suppress(Exception):
                future.result(timeout=_START_TIMEOUT)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=_START_TIMEOUT)
        if not thread.is_alive():
            loop.close()

    async def __aenter__(self) -> FakeUpstream:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- modes without a server ---------------------------------------------

    def _start_no_accept(self) -> None:
        listener = socket.socket()
        listener.bind((self.host, self._requested_port))
        listener.listen(0)
        self._held.append(listener)
        address = listener.getsockname()
        self._port = address[1]
        # Filling the accept queue makes the kernel drop further SYNs: connects time out.
        fillers = []
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(address)
            fillers.append(filler)
        self._held.extend(fillers)
        select.select([], fillers, [], 0.5)

    # -- the server, on its own loop ----------------------------------------

    async def _start_server(self) -> None:
        handler = self._hold if self.mode == "blackhole" else self._serve_connection
        self._server = await asyncio.start_server(
            handler, self.host, self._requested_port, limit=_MAX_HEAD, ssl=self.tls
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def _stop_server(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_START_TIMEOUT)
        if self._server is not None:
            await self._server.wait_closed()

    def _track(self) -> asyncio.Task[None] | None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        with self._lock:
            self._connections += 1
        return task

    def _untrack(self, task: asyncio.Task[None] | None) -> None:
        if task is not None:
            self._tasks.discard(task)

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = self._track()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            pass
        finally:
            writer.transport.abort()
            self._untrack(task)

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = self._track()
        # With no write buffering, drain() returns once bytes are in the kernel, so a
        # reset after a partial body really comes after those bytes. (Not under TLS:
        # asyncio's TLS transport never resumes a writer whose high-water mark is 0.)
        if self.tls is None:
            writer.transport.set_write_buffer_limits(0)
        try:
            while await self._serve_request(reader, writer):
                pass
            writer.close()
        except asyncio.CancelledError:
            writer.transport.abort()
        except (ConnectionError, OSError, ValueError, asyncio.IncompleteReadError):
            writer.transport.abort()
        finally:
            self._untrack(task)

    async def _serve_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; return whether the connection stays open."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        except asyncio.LimitOverrunError:
            await self._write_head(writer, 431, [], "text/plain", 0, keep_alive=False)
            return False
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            return await self._answer(head, reader, writer)
        finally:
            with self._lock:
                self._in_flight -= 1

    async def _answer(
        self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        lines = head.decode("latin-1").lstrip("\r\n").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            await self._write_head(writer, 400, [], "text/plain", 0, keep_alive=False)
            return False
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if length := int(headers.get("content-length", "0") or 0):
            await reader.readexactly(length)
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
        path = unquote(target.split("?", 1)[0])

        answer = route(self.modules, method, path, sumdb=self.sumdb, sumdb_files=self.sumdb_files)
        fault = self._take_fault(path)
        answer = apply_range(apply_content_fault(answer, fault), headers)
        self._log(method, path, headers, None if isinstance(fault, Reset) else answer.status, fault)

        if isinstance(fault, Reset):
            self._reset(writer)
            return False
        delay = self.latency + (fault.seconds if isinstance(fault, StallHeaders) else 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        body = answer.body
        await self._write_head(
            writer, answer.status, answer.headers, answer.content_type, len(body), keep_alive
        )
        if method == "HEAD" or not body:
            return keep_alive
        return await self._write_body(writer, body, fault) and keep_alive

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for rule in self._rules:
                if fnmatch.fnmatchcase(path, rule.match) and rule.remaining != 0:
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule.fault
            if self.random_faults and fnmatch.fnmatchcase(path, self.random_match):
                draw = self._rng.random()
                threshold = 0.0
                for probability, fault in self.random_faults:
                    threshold += probability
                    if draw < threshold:
                        return fault
        return None

    def _log(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        status: int | None,
        fault: Fault | None,
    ) -> None:
        record = RequestRecord(
            method, path, headers, status, None if fault is None else repr(fault), time.monotonic()
        )
        with self._lock:
            self._records.append(record)

    @staticmethod
    def _reset(writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # Linger on with a zero timeout turns close() into a RST: the peer sees ECONNRESET.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    @staticmethod
    async def _write_head(
        writer: asyncio.StreamWriter,
        status: int,
        headers: Sequence[tuple[str, str]],
        content_type: str,
        length: int,
        keep_alive: bool,
    ) -> None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"Content-Type: {content_type}",
            f"Content-Length: {length}",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
            *(f"{name}: {value}" for name, value in headers),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()

    async def _write_body(
        self, writer: asyncio.StreamWriter, body: bytes, fault: Fault | None
    ) -> bool:
        """Send the body as the fault dictates; return whether the connection is still usable."""
        if isinstance(fault, ResetBody | Truncate | StallBody):
            cut = cut_point(fault.after_bytes, len(body))
            writer.write(body[:cut])
            await writer.drain()
            if isinstance(fault, ResetBody):
                self._reset(writer)
                return False
            if isinstance(fault, Truncate):
                writer.close()
                return False
            await asyncio.sleep(fault.seconds)
            writer.write(body[cut:])
        elif isinstance(fault, Trickle):
            step = max(1, fault.chunk_bytes)
            for offset in range(0, len(body), step):
                if offset:
                    await asyncio.sleep(fault.interval)
                writer.write(body[offset : offset + step])
                await writer.drain()
        else:
            writer.write(body)
        await writer.drain()
        return True


class UpstreamOptions(TypedDict, total=False):
    """Keyword options of :class:`FakeUpstream`, for factories that forward them."""

    host: str
    port: int
    mode: Mode
    latency: float
    sumdb: bool
    sumdb_files: Mapping[str, bytes] | None
    random_faults: Sequence[tuple[float, Fault]]
    random_match: str
    seed: int
    tls: ssl.SSLContext | None


class UpstreamPool:
    """Starts fake upstreams on demand and stops all of them at the end (fixture teardown)."""

    def __init__(self) -> None:
        self._servers: list[FakeUpstream] = []

    def __call__(
        self, modules: ModuleSet | None = None, **options: Unpack[UpstreamOptions]
    ) -> FakeUpstream:
        """Create and start one :class:`FakeUpstream`."""
        server = FakeUpstream(modules, **options)
        self._servers.append(server)
        return server.start()

    def stop_all(self) -> None:
        """Stop every server this pool started (idempotent)."""
        for server in self._servers:
            server.stop()
        self._servers.clear()


__all__ = [
    "CorruptZip",
    "FakeUpstream",
    "Fault",
    "Mode",
    "RequestRecord",
    "Reset",
    "ResetBody",
    "StallBody",
    "StallHeaders",
    "Status",
    "Trickle",
    "Truncate",
    "UpstreamOptions",
    "UpstreamPool",
    "WrongContent",
]
