"""Active health checks: what a probe records in an upstream's health, against real
loopback servers (answering, refusing, silent)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.support.engine import fast_settings
from tests.support.upstream import UpstreamPool
from unstall.events import BreakerChanged, Event, EventBus
from unstall.goproxy.probe import describe, probe, probe_all, probing
from unstall.goproxy.upstream import Upstream, UpstreamSpec
from unstall.http.client import make_client
from unstall.resilience.health import BreakerState
from unstall.resilience.timeouts import Timeouts

DEADLINE = 0.5


def _with_upstream(
    tmp: Path, url: str, work: Callable[[Upstream, list[Event]], Awaitable[None]]
) -> None:
    async def run() -> None:
        settings = fast_settings(tmp)
        bus = EventBus()
        events: list[Event] = []
        bus.subscribe(events.append)
        async with make_client(Timeouts.from_settings(settings.timeouts)) as client:
            upstream = Upstream(UpstreamSpec(url), client=client, settings=settings, bus=bus)
            await work(upstream, events)

    asyncio.run(run())


def test_an_answering_upstream_gives_ttfb_samples(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    server = upstream_factory()

    async def work(upstream: Upstream, _events: list[Event]) -> None:
        [results] = await probe_all([upstream], samples=5, deadline=DEADLINE)
        assert all(r.answered and r.cause == "ok" for r in results)
        assert upstream.health.p95_ttfb() is not None  # five samples: hedging knows it
        assert upstream.health.state is BreakerState.CLOSED
        assert "answered 5/5 probes" in describe(results)

    _with_upstream(tmp_path, server.url, work)
    assert server.count("/") == 5


def test_a_refusing_upstream_opens_the_breaker(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    server = upstream_factory(mode="refuse")

    async def work(upstream: Upstream, events: list[Event]) -> None:
        [results] = await probe_all([upstream], samples=3, deadline=DEADLINE)
        assert {r.cause for r in results} == {"tcp-refused"}
        assert not upstream.health.available
        assert [e.state for e in events if isinstance(e, BreakerChanged)] == ["open"]
        assert "assumed offline until it answers" in describe(results)

    _with_upstream(tmp_path, server.url, work)


def test_a_silent_upstream_times_out_within_the_deadline(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    server = upstream_factory(mode="blackhole")

    async def work(upstream: Upstream, _events: list[Event]) -> None:
        async with asyncio.timeout(DEADLINE * 10):  # did not hang
            [results] = await probe_all([upstream], samples=3, deadline=DEADLINE)
        assert {r.cause for r in results} == {"http-timeout"}
        assert not upstream.health.available
        assert "no answer" in describe(results)

    _with_upstream(tmp_path, server.url, work)


def test_an_answer_closes_an_open_breaker(tmp_path: Path, upstream_factory: UpstreamPool) -> None:
    server = upstream_factory()

    async def work(upstream: Upstream, _events: list[Event]) -> None:
        for _ in range(3):
            upstream.health.record_failure(offline=True)
        assert not upstream.health.available
        result = await probe(upstream, DEADLINE)
        assert result.answered
        assert upstream.health.available
        assert upstream.health.state is BreakerState.CLOSED

    _with_upstream(tmp_path, server.url, work)


def test_probing_repeats_until_the_block_ends(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    server = upstream_factory()

    async def work(upstream: Upstream, _events: list[Event]) -> None:
        async with probing([upstream], interval=0.05, deadline=DEADLINE):
            for _ in range(200):
                if server.count("/") >= 3:
                    break
                await asyncio.sleep(0.02)
        seen = server.count("/")
        await asyncio.sleep(0.2)
        assert server.count("/") == seen  # stopped with the block

    _with_upstream(tmp_path, server.url, work)
    assert server.count("/") >= 3
