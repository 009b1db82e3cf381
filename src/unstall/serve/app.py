"""The served ASGI app: the GOPROXY app plus /readyz and /metrics, auth and access log.

Layers, outermost first: access log and request metrics (so refused requests are
counted too), then authentication, then the routes.
"""

from __future__ import annotations

import os
import tempfile

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from unstall.goproxy.app import build_app
from unstall.goproxy.stash import Stash
from unstall.observe.metrics import Metrics
from unstall.serve.access import AccessMiddleware, LineSink
from unstall.serve.auth import Authenticator, AuthMiddleware


def readiness_problems(stash: Stash) -> list[str]:
    """Why this instance should not get traffic now; empty when it should."""
    problems = []
    try:
        fd, name = tempfile.mkstemp(prefix=".ready-", dir=stash.store.incoming)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        problems.append(f"the store is not writable: {exc}")
    upstreams = stash.pool.upstreams
    if upstreams and not any(u.health.available for u in upstreams):
        names = ", ".join(u.name for u in upstreams)
        problems.append(f"every upstream is assumed offline (breaker open): {names}")
    return problems


def build_serve_app(
    stash: Stash,
    metrics: Metrics,
    *,
    authenticator: Authenticator | None,
    access_log: LineSink | None,
) -> ASGIApp:
    """The whole served app for ``stash``."""

    async def readyz(_request: Request) -> Response:
        problems = readiness_problems(stash)
        if problems:
            return PlainTextResponse("".join(f"{p}\n" for p in problems), status_code=503)
        return PlainTextResponse("ready\n" if stash.pool.upstreams else "ready (offline)\n")

    async def scrape(_request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    for upstream in stash.pool.upstreams:
        metrics.upstream_known(upstream.name)
    quota = stash.quota
    if quota is not None:
        metrics.cache_zip_bytes.set(quota.used)
        quota.on_change = metrics.cache_zip_bytes.set

    app: ASGIApp = build_app(
        stash,
        extra_routes=[
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", scrape, methods=["GET"]),
        ],
    )
    if authenticator is not None:
        app = AuthMiddleware(app, authenticator)
    return AccessMiddleware(app, metrics, access_log, app_records=True)


__all__ = ["build_serve_app", "readiness_problems"]
