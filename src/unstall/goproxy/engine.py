"""Wires one proxy engine: client, upstream pool, store, stash and app, from settings."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType

import httpx

from unstall.config import Settings
from unstall.events import CacheEvicted, EventBus
from unstall.goproxy.answers import AnswerCache
from unstall.goproxy.app import ProxyApp, build_app
from unstall.goproxy.hashes import GoSum
from unstall.goproxy.pool import UpstreamPool
from unstall.goproxy.quota import ZipQuota
from unstall.goproxy.stash import Stash
from unstall.goproxy.store import DiskStore
from unstall.goproxy.upstream import UpstreamSpec
from unstall.gotool.env import match_prefix_patterns
from unstall.http.client import make_client
from unstall.resilience.backoff import Sleep
from unstall.resilience.timeouts import Timeouts


class ProxyEngine:
    """The resilient module proxy, usable in-process (``unstall go``) or served (``serve``)."""

    def __init__(
        self,
        settings: Settings,
        upstreams: Sequence[UpstreamSpec],
        *,
        bus: EventBus,
        gosum: GoSum | None = None,
        private: str = "",
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self._specs = list(upstreams)
        self._gosum = gosum or GoSum()
        self._private = private
        self._transport = transport
        self._sleep = sleep
        self._client: httpx.AsyncClient | None = None
        self.stash: Stash | None = None

    async def __aenter__(self) -> ProxyEngine:
        timeouts = Timeouts.from_settings(self.settings.timeouts)
        self._client = make_client(
            timeouts,
            max_connections=self.settings.concurrency * max(1, len(self._specs)) + 8,
            transport=self._transport,
        )
        extra = {} if self._sleep is None else {"sleep": self._sleep}
        pool = UpstreamPool(
            self._specs, client=self._client, settings=self.settings, bus=self.bus, **extra
        )
        cache = self.settings.cache
        store = DiskStore(self.settings.cache_dir)
        quota = None
        if cache.max_size is not None:
            quota = await asyncio.to_thread(
                ZipQuota,
                store.root,
                cache.max_size,
                on_evict=lambda path, size, remaining: self.bus.publish(
                    CacheEvicted(str(path), size, remaining)
                ),
            )
        self.stash = Stash(
            store,
            pool,
            gosum=self._gosum,
            bus=self.bus,
            deadline=self.settings.timeouts.artifact,
            is_private=lambda module: match_prefix_patterns(self._private, module),
            answers=AnswerCache(ttl=cache.list_ttl, negative_ttl=cache.negative_ttl),
            quota=quota,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.stash is not None:
            await self.stash.aclose()
        if self._client is not None:
            await self._client.aclose()

    @property
    def app(self) -> ProxyApp:
        """The ASGI app; only valid inside ``async with``."""
        if self.stash is None:
            raise RuntimeError("ProxyEngine used outside 'async with'")
        return build_app(self.stash)


__all__ = ["ProxyEngine"]
