"""Serving an ASGI app on an ephemeral loopback port, and running go against it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence

import uvicorn
from starlette.types import ASGIApp

from unstall.http.coalesce import CoalescingHttpToolsProtocol

_STARTUP_DEADLINE = 30.0


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
) -> int:
    """Run go with ``args``; stdin and stdout are inherited, stderr too unless a line
    callback takes it (so a live progress display can print go's lines above itself).
    Ctrl-C and SIGTERM are forwarded to go; its exit code is returned (128 + N when
    signal N ended it)."""
    process = await asyncio.create_subprocess_exec(
        go,
        *args,
        env=dict(env),
        stderr=asyncio.subprocess.PIPE if on_stderr_line else None,
    )
    loop = asyncio.get_running_loop()
    forwarded = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, _forward, process, signum)
            forwarded.append(signum)
    try:
        if on_stderr_line is not None and process.stderr is not None:
            async for raw in process.stderr:
                on_stderr_line(raw.decode("utf-8", "replace").rstrip("\n"))
        code = await process.wait()
        # A go killed by a signal exits, as in a shell, with 128 + the signal number.
        return 128 - code if code < 0 else code
    finally:
        for signum in forwarded:
            loop.remove_signal_handler(signum)
        if process.returncode is None:
            process.kill()
            await process.wait()


def _forward(process: asyncio.subprocess.Process, signum: int) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)


__all__ = ["QuietServer", "bind_tcp", "run_go", "serve_on_loopback", "start_serving"]
