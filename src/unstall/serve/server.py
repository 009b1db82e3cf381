"""Running the served proxy under uvicorn until SIGTERM or Ctrl-C, then shutting down
gracefully: stop accepting, let answers in flight finish (up to ``grace`` seconds),
cancel fetches nobody waits for any more (their temporary files are removed,
resumable partials kept), close the upstream connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from unstall.config import Settings
from unstall.events import EventBus
from unstall.goproxy.engine import ProxyEngine
from unstall.goproxy.probe import describe, probe_all, probing
from unstall.goproxy.quota import ZipQuota, stored_zips
from unstall.goproxy.upstream import UpstreamSpec
from unstall.gotool.runner import QuietServer, start_serving
from unstall.http.coalesce import CoalescingHttpToolsProtocol
from unstall.observe.metrics import Metrics
from unstall.periodic import every
from unstall.serve.access import access_logger
from unstall.serve.app import build_serve_app
from unstall.serve.auth import Authenticator


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """How the proxy is exposed (what it serves comes from Settings and the upstreams)."""

    host: str = "127.0.0.1"
    port: int = 3000
    certfile: Path | None = None
    keyfile: Path | None = None
    grace: int = 30
    access_log: str = "-"
    authenticator: Authenticator | None = None
    forwarded_allow_ips: str | None = None

    def url(self, port: int) -> str:
        scheme = "https" if self.certfile else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{port}"


def is_loopback(host: str) -> bool:
    """True for names and addresses that only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def serve(
    settings: Settings,
    upstreams: Sequence[UpstreamSpec],
    options: ServeOptions,
    sock: socket.socket,
    *,
    bus: EventBus,
    private: str = "",
    announce: Callable[[str], None] = lambda _url: None,
    report: Callable[[str], None] = lambda _line: None,
    metrics_dir: Path | None = None,
    quota_rescan: float | None = None,
    periodic: Sequence[tuple[float, Callable[[], Awaitable[None]]]] = (),
) -> None:
    """Serve on ``sock`` (see :func:`bind_tcp`) until a signal asks to stop;
    ``announce`` gets the URL once listening. ``metrics_dir`` puts the metrics in
    multiprocess mode (one of several workers); ``quota_rescan`` makes the quota look at
    the store every so many seconds for zips other processes stored; ``periodic`` are
    (seconds, job) pairs run that often while serving (alerts, history upkeep)."""
    metrics = Metrics(multiprocess_dir=metrics_dir)
    bus.subscribe(metrics)
    access_log = access_logger(options.access_log)
    try:
        async with ProxyEngine(settings, upstreams, bus=bus, private=private) as engine:
            assert engine.stash is not None
            app = build_serve_app(
                engine.stash,
                metrics,
                authenticator=options.authenticator,
                access_log=access_log,
            )
            server = QuietServer(_uvicorn_config(app, options))
            upstreams_now = engine.stash.pool.upstreams
            probe = settings.probe
            checking: contextlib.AbstractAsyncContextManager[None] = contextlib.nullcontext()
            if upstreams_now and probe.samples:
                # Before listening: a blackholed mirror is known (breaker open) before
                # the first client would wait on it.
                found = await probe_all(
                    upstreams_now, samples=probe.samples, deadline=probe.timeout
                )
                for results in found:
                    report(describe(results))
                checking = probing(upstreams_now, interval=probe.interval, deadline=probe.timeout)
            rescanning: contextlib.AbstractAsyncContextManager[None] = contextlib.nullcontext()
            if quota_rescan is not None and engine.stash.quota is not None:
                rescanning = _rescanning(engine.stash.quota, quota_rescan)
            async with checking, rescanning, contextlib.AsyncExitStack() as jobs:
                for seconds, job in periodic:
                    await jobs.enter_async_context(every(seconds, job))
                with _stop_on_signals(server):
                    task = await start_serving(server, sock)
                    announce(options.url(sock.getsockname()[1]))
                    await task
    finally:
        sock.close()
        if access_log is not None:
            access_log.close()


def _rescanning(quota: ZipQuota, seconds: float) -> contextlib.AbstractAsyncContextManager[None]:
    async def once() -> None:
        found = await asyncio.to_thread(lambda: list(stored_zips(quota.root)))
        quota.rescan(found)

    return every(seconds, once)


def _uvicorn_config(app: ASGIApp, options: ServeOptions) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,  # ours is structured and counts bytes
        lifespan="off",
        http=CoalescingHttpToolsProtocol,  # one write per answer (see its docstring)
        ws="none",
        ssl_certfile=str(options.certfile) if options.certfile else None,
        ssl_keyfile=str(options.keyfile) if options.keyfile else None,
        timeout_graceful_shutdown=options.grace,
        # go keeps connections between requests of one build
        timeout_keep_alive=30,
        server_header=False,
        # X-Forwarded-For is believed only from the load balancers named here; without
        # them the header is ignored and uvicorn's middleware for it is skipped.
        proxy_headers=options.forwarded_allow_ips is not None,
        forwarded_allow_ips=options.forwarded_allow_ips,
    )


@contextlib.contextmanager
def _stop_on_signals(server: uvicorn.Server) -> Iterator[None]:
    """First SIGTERM/SIGINT: graceful shutdown. A second one: stop now."""
    loop = asyncio.get_running_loop()

    def stop() -> None:
        if server.should_exit:
            server.force_exit = True
        server.should_exit = True

    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop)
            installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


__all__ = ["ServeOptions", "is_loopback", "serve"]
