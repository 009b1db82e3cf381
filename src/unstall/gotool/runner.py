"""Serving an ASGI app on an ephemeral loopback port, and running go against it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import BinaryIO

import uvicorn
from starlette.types import ASGIApp

from unstall.http.coalesce import CoalescingHttpToolsProtocol

_STARTUP_DEADLINE = 30.0
_DRAIN_GRACE = 2.0
_CHUNK = 64 * 1024
_MAX_LINE = 64 * 1024  # longer lines are handed out in pieces


def bind_tcp(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (port 0: the kernel picks one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so,
    # and without it every small response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signals alone: the caller owns Ctrl-C and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve_on_loopback(app: ASGIApp, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve ``app`` on ``host`` with a kernel-chosen port; yield its base URL."""
    sock = bind_tcp(host, 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="error",
        access_log=False,
        lifespan="off",
        http=CoalescingHttpToolsProtocol,  # one write per answer (see its docstring)
        ws="none",
        # Once go has exited nobody waits for the answers still in flight.
        timeout_graceful_shutdown=1,
        # go opens many connections at once; the default backlog is plenty, but
        # keep-alive must outlast go's pauses between requests.
        timeout_keep_alive=30,
        proxy_headers=False,  # only go talks to it
    )
    server = QuietServer(config)
    task = await start_serving(server, sock)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        server.force_exit = True  # the caller is done with it: no need to drain
        with contextlib.suppress(Exception):
            async with asyncio.timeout(10):
                await task
        sock.close()


async def start_serving(server: uvicorn.Server, sock: socket.socket) -> asyncio.Task[None]:
    """Start ``server`` on ``sock``; return its task once it accepts connections."""
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(_STARTUP_DEADLINE):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("the server stopped during start-up")
                await asyncio.sleep(0.01)
    except BaseException:
        server.should_exit = server.force_exit = True
        with contextlib.suppress(BaseException):
            await task
        raise
    return task


async def run_go(
    go: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    on_stderr_line: Callable[[str], None] | None = None,
    stderr_tail: deque[str] | None = None,
) -> int:
    """Run go with ``args``; stdin and stdout are inherited, stderr too unless a line
    callback takes it (so a live progress display can print go's lines above itself).

    With ``stderr_tail``, go's stderr lines are also kept there (as many as its
    ``maxlen``), to explain a failure afterwards; when no callback prints them they
    are copied to our own stderr as they arrive, byte for byte, partial lines included.

    Ctrl-C and SIGTERM are forwarded to go; its exit code is returned (128 + N when
    signal N ended it)."""
    piped = on_stderr_line is not None or stderr_tail is not None
    # Our own pipe rather than asyncio's PIPE: the stdlib loop resolves wait() only
    # once the child's pipes close, and a process go leaves behind may hold stderr.
    read_end, write_end = os.pipe() if piped else (None, None)
    try:
        process = await asyncio.create_subprocess_exec(go, *args, env=dict(env), stderr=write_end)
    except BaseException:
        if read_end is not None:
            os.close(read_end)
        raise
    finally:
        if write_end is not None:
            os.close(write_end)
    loop = asyncio.get_running_loop()
    forwarded = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, _forward, process, signum)
            forwarded.append(signum)
    pump: asyncio.Task[None] | None = None
    transport: asyncio.ReadTransport | None = None
    try:
        if read_end is not None:
            reader = asyncio.StreamReader()
            pipe = os.fdopen(read_end, "rb", buffering=0)
            read_end = None  # the file object owns it now
            try:
                transport, _ = await loop.connect_read_pipe(
                    lambda: asyncio.StreamReaderProtocol(reader), pipe
                )
            except BaseException:
                pipe.close()
                raise
            echo = _own_stderr() if on_stderr_line is None else None
            show = on_stderr_line if on_stderr_line or echo else _print_line
            pump = asyncio.create_task(_pump_stderr(reader, _LineSink(show, stderr_tail), echo))
        code = await process.wait()
        if pump is not None:
            # What go wrote is in the pipe already; a process go left behind may keep
            # the pipe open, and must not keep us waiting after go has exited.
            await asyncio.wait({pump}, timeout=_DRAIN_GRACE)
            if pump.done():
                pump.result()
        # A go killed by a signal exits, as in a shell, with 128 + the signal number.
        return 128 - code if code < 0 else code
    finally:
        for signum in forwarded:
            loop.remove_signal_handler(signum)
        if pump is not None and not pump.done():
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        if transport is not None:
            transport.close()
        if process.returncode is None:
            process.kill()
            await process.wait()


class _LineSink:
    """Hands each complete stderr line to the display callback and the bounded tail."""

    def __init__(self, on_line: Callable[[str], None] | None, tail: deque[str] | None) -> None:
        self._on_line = on_line
        self._tail = tail

    def __call__(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace")
        if self._on_line is not None:
            self._on_line(line)
        if self._tail is not None:
            self._tail.append(line)


def _own_stderr() -> BinaryIO | None:
    # Text already written through sys.stderr must come out before go's bytes.
    sys.stderr.flush()
    try:
        return sys.stderr.buffer
    except AttributeError:  # replaced by a text-only stream: lines are printed instead
        return None


def _print_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def _pump_stderr(
    stream: asyncio.StreamReader, lines: _LineSink, echo: BinaryIO | None
) -> None:
    """Read go's stderr to its end: echo every chunk at once, hand out whole lines.

    Chunks rather than readline: a line longer than the stream's limit must not end
    the run, and a prompt without a newline must still show. If handing out a line
    fails, reading goes on (go would block on a full pipe) and the error is raised at
    the end.
    """
    failure: Exception | None = None
    pending = b""
    while chunk := await stream.read(_CHUNK):
        if echo is not None:
            try:
                echo.write(chunk)
                echo.flush()
            except OSError:  # our stderr is gone (a closed pipe): keep reading for go
                echo = None
        pending += chunk
        *complete, pending = pending.split(b"\n")
        if len(pending) > _MAX_LINE:
            complete.append(pending)
            pending = b""
        for raw in complete if failure is None else ():
            try:
                lines(raw)
            except Exception as exc:
                failure = exc
    if pending and failure is None:
        lines(pending)
    if failure is not None:
        raise failure


def _forward(process: asyncio.subprocess.Process, signum: int) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)


__all__ = ["QuietServer", "bind_tcp", "run_go", "serve_on_loopback", "start_serving"]
