"""`unstall serve`: the resilient module proxy as a shared, long-running service."""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

import typer

from unstall.cli.common import (
    RunRecorder,
    VersionOption,
    err_console,
    handle_errors,
    run_async,
)
from unstall.cli.observers import alert_once
from unstall.config import Settings, load_settings
from unstall.errors import ConfigError, UsageError
from unstall.events import EventBus
from unstall.goproxy.upstream import UpstreamSpec
from unstall.gotool.env import go_env_or_environ, parse_goproxy
from unstall.gotool.runner import bind_tcp
from unstall.serve.auth import Authenticator, load_users
from unstall.serve.server import ServeOptions, is_loopback, serve
from unstall.serve.workers import run_workers

# With several workers, how often the first one (which enforces --max-cache-size) looks
# at the store for zips the others stored.
_QUOTA_RESCAN = 60.0
# How often a long-running server asks whether the daily history prune is due (cheap:
# one row of history_meta), so a server up for months stays within its retention.
_PRUNE_CHECK = 3600.0


def _upstreams(
    given: list[str], go_env: dict[str, str], mirrors: tuple[str, ...]
) -> tuple[UpstreamSpec, ...]:
    if given:
        # Every configured upstream is tried on any error: a shared proxy should
        # survive one of them failing, not pass the failure on.
        return parse_goproxy("|".join(given), mirrors=mirrors).proxies
    return parse_goproxy(go_env.get("GOPROXY", ""), mirrors=mirrors).proxies


def _private(given: str | None, go_env: dict[str, str]) -> str:
    parts = [given, go_env.get("GOPRIVATE"), go_env.get("GONOPROXY")]
    return ",".join(p for p in parts if p)


def _check_tls(certfile: Path | None, keyfile: Path | None) -> None:
    if keyfile is not None and certfile is None:
        raise UsageError("--keyfile needs --certfile", fix="Pass both, or neither.")
    if certfile is None:
        return
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot use the TLS certificate {certfile}"
            + (f" with key {keyfile}" if keyfile else "")
            + f": {exc}",
            fix="Pass a PEM certificate chain with --certfile and its private key with --keyfile.",
        ) from exc


def _authenticator(token: str | None, users: Path | None) -> Authenticator | None:
    if not token and users is None:
        return None
    return Authenticator(token=token or None, users=load_users(users) if users else None)


# Requests in flight per upstream and worker when the configuration sets none; Athens
# runs 30 protocol workers by default for the same job.
SERVE_CONCURRENCY = 32


def with_serve_defaults(settings: Settings) -> Settings:
    """``settings`` with serve's own defaults where the configuration set nothing."""
    if "concurrency" in settings.model_fields_set:
        return settings
    # A shared server forwards the misses of many clients at once: 8 requests in flight
    # per upstream (right for one `unstall go`) queued them behind each other.
    return settings.model_copy(update={"concurrency": SERVE_CONCURRENCY})


@handle_errors
def serve_command(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port to listen on; 0 picks one.")
    ] = 3000,
    cache: Annotated[
        Path | None,
        typer.Option(
            "--cache",
            help="Store directory, in the module cache's cache/download layout "
            "(also usable as GOPROXY=file://DIR). Default: the unstall cache directory.",
        ),
    ] = None,
    upstream: Annotated[
        list[str] | None,
        typer.Option(
            "--upstream",
            help="Upstream module proxy URL; repeat for several, tried in order with "
            "hedging. Default: the proxies in `go env GOPROXY`.",
        ),
    ] = None,
    private: Annotated[
        str | None,
        typer.Option(
            "--private",
            help="Module path patterns never sent upstream (as GOPRIVATE), in addition "
            "to GOPRIVATE and GONOPROXY.",
        ),
    ] = None,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="Serve only what the store holds; never go upstream."),
    ] = False,
    max_cache_size: Annotated[
        str | None,
        typer.Option(
            "--max-cache-size",
            help="Keep stored zips under SIZE (e.g. 20GiB); least recently used go first.",
        ),
    ] = None,
    list_ttl: Annotated[
        float | None,
        typer.Option("--list-ttl", min=0, help="Seconds an upstream's list/@latest is reused."),
    ] = None,
    negative_ttl: Annotated[
        float | None,
        typer.Option("--negative-ttl", min=0, help="Seconds a not-found answer is reused."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="UNSTALL_TOKEN",
            help="Require this secret as a bearer token or as the Basic password "
            "(prefer the UNSTALL_TOKEN variable: arguments show in ps).",
        ),
    ] = None,
    users: Annotated[
        Path | None,
        typer.Option("--users", help="Require a user from this htpasswd file (bcrypt, -B)."),
    ] = None,
    allow_anonymous: Annotated[
        bool,
        typer.Option(
            "--allow-anonymous",
            help="Allow a non-loopback --host without --token or --users.",
        ),
    ] = False,
    certfile: Annotated[
        Path | None, typer.Option("--certfile", help="Serve HTTPS with this PEM certificate.")
    ] = None,
    keyfile: Annotated[
        Path | None, typer.Option("--keyfile", help="The private key of --certfile.")
    ] = None,
    access_log: Annotated[
        str,
        typer.Option("--access-log", help="JSON access log: '-' (stdout), a file, or 'off'."),
    ] = "-",
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            "--forwarded-allow-ips",
            help="Comma-separated addresses of load balancers whose X-Forwarded-For "
            "names the client (in the access log); '*' trusts any.",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Serving processes on the one port (use the number of cores). Each keeps "
            "its own caches in memory; the store is shared.",
        ),
    ] = 1,
    grace: Annotated[
        int,
        typer.Option("--grace", min=0, help="Seconds to finish answers in flight on SIGTERM."),
    ] = 30,
    version: Annotated[bool, VersionOption] = False,
) -> None:
    """Serve a caching GOPROXY for a team or a fleet, surviving its upstreams.

    Example: unstall serve --port 3000 --cache /srv/goproxy --max-cache-size 50GiB
    """
    overrides: dict[str, object] = {}
    if cache is not None:
        overrides["cache_dir"] = cache
    cache_table: dict[str, object] = {}
    if max_cache_size is not None:
        cache_table["max_size"] = max_cache_size
    if list_ttl is not None:
        cache_table["list_ttl"] = list_ttl
    if negative_ttl is not None:
        cache_table["negative_ttl"] = negative_ttl
    if cache_table:
        overrides["cache"] = cache_table
    settings = with_serve_defaults(load_settings(overrides=overrides))

    authenticator = _authenticator(token, users)
    if authenticator is None and not allow_anonymous and not is_loopback(host):
        raise UsageError(
            f"--host {host} exposes the proxy beyond this machine without authentication",
            fix="Set UNSTALL_TOKEN (or --users FILE), or pass --allow-anonymous if a "
            "network boundary already restricts who can reach it.",
        )
    _check_tls(certfile, keyfile)
    go_env = go_env_or_environ()
    if offline:
        if upstream:
            raise UsageError("--offline and --upstream contradict each other", fix="Pass one.")
        specs: tuple[UpstreamSpec, ...] = ()
    else:
        specs = _upstreams(upstream or [], go_env, settings.mirrors)
        if not specs:
            raise UsageError(
                f"no upstream proxy: GOPROXY={go_env.get('GOPROXY', '')!r} names none",
                cause="upstream-none",
                fix="Pass --upstream URL (repeatable), or --offline to serve only the cache.",
            )
    options = ServeOptions(
        host=host,
        port=port,
        certfile=certfile,
        keyfile=keyfile,
        grace=grace,
        access_log=access_log,
        authenticator=authenticator,
        forwarded_allow_ips=forwarded_allow_ips,
    )

    def announce(url: str) -> None:
        where = "offline, " if offline else f"{len(specs)} upstream(s), "
        err_console.print(
            f"unstall serve: listening on {url} ({where}store {settings.cache_dir})",
            markup=False,
        )

    try:
        sock = bind_tcp(host, port)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            fix="Pick another --port (or stop what uses it), or a --host of this machine.",
        ) from exc

    def say(line: str) -> None:
        err_console.print(f"unstall serve: {line}", markup=False)

    def serve_here(worker: int | None = None, metrics_dir: Path | None = None) -> int:
        """One serving process: the only one, or worker ``worker`` of several."""
        mine = settings
        if worker:
            # The first worker enforces the quota (rescanning for the others' zips).
            mine = settings.model_copy(
                update={"cache": settings.cache.model_copy(update={"max_size": None})}
            )
        bus = EventBus()
        recorder = RunRecorder(mine, bus, "serve", [host, str(port)], record_hits=False)
        periodic: list[tuple[float, Callable[[], Awaitable[None]]]] = []
        if not worker:
            # One process keeps the history (pruning is daily, from any process) and
            # evaluates the alerts (cool-downs would stop a second sender anyway).
            periodic.append((_PRUNE_CHECK, _prune_job(recorder)))
            if mine.alerts.targets and mine.history.enabled:
                periodic.append((mine.alerts.interval, _alert_job(mine, recorder)))
        exit_code = 1
        try:
            run_async(
                serve(
                    mine,
                    specs,
                    options,
                    sock,
                    bus=bus,
                    private=_private(private, go_env),
                    announce=announce if not worker else lambda _url: None,
                    report=say if not worker else lambda _line: None,
                    metrics_dir=metrics_dir,
                    quota_rescan=_QUOTA_RESCAN if worker == 0 else None,
                    periodic=periodic,
                )
            )
            exit_code = 0
        finally:
            recorder.finish(exit_code)
        return exit_code

    if workers == 1:
        serve_here()
    else:
        metrics_dir = Path(tempfile.mkdtemp(prefix="unstall-metrics-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        try:
            code = run_workers(
                workers,
                lambda index: serve_here(index, metrics_dir),
                metrics_dir=metrics_dir,
                report=say,
            )
        finally:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        if code:
            raise typer.Exit(code)
    say("stopped")


def _prune_job(recorder: RunRecorder) -> Callable[[], Awaitable[None]]:
    """What serve runs every ``_PRUNE_CHECK``: the daily prune, when it is due."""

    async def prune() -> None:
        await asyncio.to_thread(recorder.prune_if_due)

    return prune


def _alert_job(settings: Settings, recorder: RunRecorder) -> Callable[[], Awaitable[None]]:
    """What serve runs every ``alerts.interval``: the history flushed (on the loop, which
    owns its connection), then the rules evaluated and delivered in a thread."""

    async def evaluate() -> None:
        recorder.flush()
        await asyncio.to_thread(alert_once, settings, run_id=recorder.run_id, command="serve")

    return evaluate


__all__ = ["serve_command"]
