"""The ASGI app go talks to: the GOPROXY protocol, /sumdb pass-through, /healthz.

Errors are answered as text/plain with the reason and a fix, as the protocol asks,
so go prints them to the user. 404/410 mean "not here" and let go move on to the
next GOPROXY entry (such as ``direct``).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from unstall.errors import FetchError, UnstallError
from unstall.goproxy.paths import parse_artifact
from unstall.goproxy.stash import Served, Stash

_STALE_HEADER = "X-Unstall-Stale"


class _ArtifactFileResponse(FileResponse):
    """Zips are read in 1 MiB chunks: Starlette's 64 KiB default costs a thread hop per
    chunk, which made serving a cached zip several times slower than downloading it."""

    chunk_size = 1 << 20


def _error_response(error: UnstallError) -> Response:
    body = f"{error.message}\nunstall: cause {error.cause}: {error.fix}\n"
    return PlainTextResponse(body, status_code=error.http_status)


def _served_response(served: Served) -> Response:
    headers = {"X-Unstall-Upstream": served.upstream or "cache"}
    if served.stale:
        headers["X-Unstall-Cache"] = "stale"
    elif served.cached or served.upstream is None:
        headers["X-Unstall-Cache"] = "hit"
    else:
        headers["X-Unstall-Cache"] = "miss"
    if served.stale:
        headers[_STALE_HEADER] = "upstreams unavailable; served from the local cache"
    if served.path is not None:
        return _ArtifactFileResponse(served.path, media_type=served.content_type, headers=headers)
    return Response(served.data or b"", media_type=served.content_type, headers=headers)


def build_app(stash: Stash, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
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
            return _served_response(await stash.sumdb(name, rest))
        except UnstallError as error:
            return _error_response(error)

    async def module(request: Request) -> Response:
        try:
            artifact = parse_artifact(request.path_params["path"])
            return _served_response(await stash.get(artifact))
        except FetchError as error:
            return _error_response(error)
        except UnstallError as error:
            return _error_response(error)

    return Starlette(
        routes=[
            *extra_routes,
            Route("/healthz", healthz, methods=["GET"]),
            Route("/sumdb/{name}/{rest:path}", sumdb, methods=["GET"]),
            Route("/{path:path}", module, methods=["GET"]),
        ]
    )


__all__ = ["build_app"]
