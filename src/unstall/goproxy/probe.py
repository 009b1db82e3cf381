"""Active health checks of upstreams, for a long-running server.

A served proxy should not learn that a mirror is a blackhole from its clients'
first requests, each waiting out a hedge delay. So ``serve`` asks every upstream
for ``/`` a few times before it listens (any HTTP answer, even a 404, is a sign
of life and a time-to-first-byte sample; silence or a refused connection counts
towards the breaker), and once per interval afterwards, which also closes the
breaker of an upstream that came back without risking a client's request on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from unstall.errors import FetchError
from unstall.goproxy.upstream import OFFLINE_CAUSES, Upstream
from unstall.http.errors import translate
from unstall.periodic import every


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe of one upstream: its status and time to first byte, or why it failed."""

    upstream: str
    status: int | None
    ttfb: float | None
    cause: str
    error: str = ""

    @property
    def answered(self) -> bool:
        return self.status is not None


async def probe(upstream: Upstream, deadline: float) -> ProbeResult:
    """Ask ``upstream`` for ``/`` once; record the outcome in its health."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(deadline):
            request = upstream.client.build_request("GET", f"{upstream.base}/")
            response = await upstream.client.send(request, stream=True)
            ttfb = time.monotonic() - started
            await response.aclose()  # the headers are the answer; no need for the body
    except TimeoutError:
        upstream.health.record_failure(offline=True)
        return ProbeResult(
            upstream.name, None, None, "http-timeout", f"no answer within {deadline:g}s"
        )
    except httpx.HTTPError as exc:
        error: FetchError = translate(exc, phase="connect", upstream=upstream.name)
        upstream.health.record_failure(offline=error.cause in OFFLINE_CAUSES)
        return ProbeResult(upstream.name, None, None, error.cause, error.message)
    upstream.health.record_success(ttfb)
    return ProbeResult(upstream.name, response.status_code, ttfb, "ok")


async def probe_all(
    upstreams: Sequence[Upstream], *, samples: int, deadline: float
) -> list[list[ProbeResult]]:
    """``samples`` concurrent probes of every upstream at once; results per upstream."""

    async def several(upstream: Upstream) -> list[ProbeResult]:
        return list(await asyncio.gather(*(probe(upstream, deadline) for _ in range(samples))))

    return list(await asyncio.gather(*(several(u) for u in upstreams)))


def probing(
    upstreams: Sequence[Upstream], *, interval: float, deadline: float
) -> contextlib.AbstractAsyncContextManager[None]:
    """Probe every upstream once per ``interval`` seconds while the block runs."""

    async def once() -> None:
        await probe_all(upstreams, samples=1, deadline=deadline)

    return every(interval, once)


def describe(results: Sequence[ProbeResult]) -> str:
    """One line about an upstream's start-up probes, for the operator."""
    name = results[0].upstream
    answered = [r for r in results if r.answered and r.ttfb is not None]
    if answered:
        fastest = min(r.ttfb for r in answered if r.ttfb is not None)
        statuses = sorted({str(r.status) for r in answered})
        return (
            f"upstream {name}: answered {len(answered)}/{len(results)} probes, "
            f"fastest in {fastest * 1000:.0f} ms (HTTP {', '.join(statuses)})"
        )
    failure = results[0]
    return (
        f"upstream {name}: no answer ({failure.cause}: {failure.error}); "
        "assumed offline until it answers"
    )


__all__ = ["ProbeResult", "describe", "probe", "probe_all", "probing"]
