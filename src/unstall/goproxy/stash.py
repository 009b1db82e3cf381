"""Single-flight access to artifacts: the store first, then the upstream pool, verified.

Concurrent requests for one artifact share one fetch. That fetch runs as its
own task under its own deadline, so a client that disconnects does not cancel it
for the others (and a finished download is still cached).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, TypeVar

from unstall.errors import ArtifactFailed, FetchError, InputError, NotFound
from unstall.events import ArtifactFinished, EventBus
from unstall.goproxy.answers import AnswerCache
from unstall.goproxy.hashes import GoSum
from unstall.goproxy.paths import Artifact, Kind
from unstall.goproxy.pool import UpstreamPool
from unstall.goproxy.quota import ZipQuota
from unstall.goproxy.store import DiskStore
from unstall.goproxy.upstream import Fetched, Resource, Upstream
from unstall.goproxy.verify import (
    max_bytes,
    verify_info,
    verify_list,
    verify_mod,
    verify_zip,
)
from unstall.http.sinks import FileSink, MemorySink

T = TypeVar("T")

CONTENT_TYPES: Final = {
    Kind.LIST: "text/plain; charset=utf-8",
    Kind.INFO: "application/json",
    Kind.LATEST: "application/json",
    Kind.MOD: "text/plain; charset=utf-8",
    Kind.ZIP: "application/zip",
}
_SUMDB_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9.-]*(:[0-9]+)?$")
_SUMDB_REST: Final = re.compile(r"^(latest|lookup/[A-Za-z0-9._~+!@/-]+|tile/[0-9a-z./]+)$")
_SUMDB_MAX_BYTES: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class Served:
    """An answer for go: bytes or a stored file, and where it came from."""

    content_type: str
    data: bytes | None = None
    path: Path | None = None
    upstream: str | None = None
    stale: bool = False
    cached: bool = False


class Stash:
    """Serves artifacts from the store or, once per artifact at a time, from upstreams."""

    def __init__(
        self,
        store: DiskStore,
        pool: UpstreamPool,
        *,
        gosum: GoSum,
        bus: EventBus,
        deadline: float,
        is_private: Callable[[str], bool],
        answers: AnswerCache[Served] | None = None,
        quota: ZipQuota | None = None,
    ) -> None:
        self.store = store
        self.pool = pool
        self.quota = quota
        self._gosum = gosum
        self._bus = bus
        self._deadline = deadline
        self._is_private = is_private
        self._answers: AnswerCache[Served] = (
            answers if answers is not None else AnswerCache(ttl=0, negative_ttl=0)
        )
        self._inflight: dict[object, asyncio.Task[Served]] = {}
        self._sumdb_support: dict[tuple[str, str], tuple[float, asyncio.Task[bool]]] = {}

    @property
    def offline(self) -> bool:
        """No upstreams: answers come from the store only (``serve --offline``)."""
        return not self.pool.upstreams

    async def aclose(self) -> None:
        """Cancel fetches still in flight (shutdown): their temp files are removed and
        resumable partials kept, so nothing half-written is ever served."""
        tasks = [*self._inflight.values(), *(t for _, t in self._sumdb_support.values())]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _shared(self, key: object, work: Callable[[], Coroutine[Any, Any, Served]]) -> Served:
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(work())
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(task)

    def _forget(self, key: object, task: asyncio.Task[Served]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved here so an abandoned failure logs no warning

    async def _bounded(self, work: Awaitable[T]) -> T:
        """``work`` under the per-artifact deadline, detached from any one client."""
        try:
            async with asyncio.timeout(self._deadline):
                return await work
        except TimeoutError as exc:
            raise FetchError(
                f"no upstream delivered within the {self._deadline:g}s artifact deadline",
                cause="deadline-exceeded",
            ) from exc

    async def get(self, artifact: Artifact) -> Served:
        """The artifact for go; raises ArtifactFailed/NotFound/InputError with reasons."""
        if self._is_private(artifact.module):
            raise NotFound(
                f"{artifact.module} matches GOPRIVATE/GONOPROXY: not sent to any proxy; "
                "go fetches it directly",
                status=404,
            )
        # A stored artifact is answered on the spot: no task, no thread (the hot path of
        # a warm server).
        return self._hit(artifact) or await self._shared(artifact, lambda: self._load(artifact))

    @staticmethod
    def hit_event(artifact: Artifact, size: int) -> ArtifactFinished:
        """The event of one more hit on ``artifact``: the same every time, so the app can
        keep it with the answer and publish it without building it again."""
        return ArtifactFinished(
            artifact=str(artifact),
            module=artifact.module,
            version=artifact.version,
            kind=artifact.kind.value,
            outcome="ok",
            upstream=None,
            attempts=0,
            hedges=0,
            bytes=size,
            duration=0.0,
            cause="ok",
            cached=True,
        )

    def count_hit(self, event: ArtifactFinished, path: Path | None) -> None:
        """An answer was served from memory by the app: count it like any other hit (and
        keep a zip's place in the quota's recency order)."""
        if path is not None and self.quota is not None:
            self.quota.touch(path)
        self._bus.publish(event)

    def _hit(self, artifact: Artifact) -> Served | None:
        """The stored copy of an immutable artifact, or None. (Hot answers are kept in
        memory one level up, by the app, headers included.)"""
        if not artifact.immutable:
            return None
        started = time.monotonic()
        cached = self.store.get(artifact)
        if cached is None:
            return None
        if artifact.kind is Kind.ZIP:
            if self.quota is not None:
                self.quota.touch(cached)
            served = Served(CONTENT_TYPES[Kind.ZIP], path=cached, cached=True)
            size = cached.stat().st_size
            self._finished(artifact, started, None, 0, 0, size, cached=True)
            return served
        served = Served(CONTENT_TYPES[artifact.kind], data=cached.read_bytes(), cached=True)
        self._finished(artifact, started, None, 0, 0, len(served.data or b""), cached=True)
        return served

    async def _load(self, artifact: Artifact) -> Served:
        started = time.monotonic()
        stored = self._hit(artifact)  # stored since get() looked
        if stored is not None:
            return stored
        remembered = self._answers.fresh(artifact)
        if isinstance(remembered, NotFound):
            self._finished(artifact, started, None, 0, 0, 0, error=remembered, cached=True)
            raise remembered
        if remembered is not None:
            self._finished(artifact, started, remembered.upstream, 0, 0, 0, cached=True)
            return replace(remembered, cached=True)
        if self.offline:
            return self._offline(artifact, started)
        resource = Resource(str(artifact), artifact.escaped_path, artifact)
        try:
            served, fetched = await self._bounded(self._fetch_alone(artifact, resource))
        except FetchError as failure:
            stale = self._stale(artifact)
            self._finished(
                artifact, started, None, 0, 0, 0, error=failure, outcome="stale" if stale else None
            )
            if stale is not None:
                return stale
            if isinstance(failure, ArtifactFailed) and failure.not_found:
                self._answers.remember_missing(
                    artifact, NotFound(failure.message, status=failure.http_status)
                )
            raise
        if fetched is None:  # another process stored it while this one waited
            return served
        if not artifact.immutable:
            self._answers.remember(artifact, served)
        self._finished(
            artifact,
            started,
            fetched.upstream,
            fetched.attempts,
            fetched.hedges,
            fetched.received,
            won_by=fetched.won_by,
        )
        return served

    def _offline(self, artifact: Artifact, started: float) -> Served:
        """Offline: list and @latest from the stored versions, everything else is 404
        so go can fall through to its next GOPROXY entry."""
        stale = self._stale(artifact)
        if stale is not None:
            self._finished(artifact, started, None, 0, 0, 0, cached=True, outcome="stale")
            return stale
        missing = NotFound(
            f"{artifact}: not in this cache, and the server is offline (--offline)", status=404
        )
        self._finished(artifact, started, None, 0, 0, 0, error=missing)
        raise missing

    async def _fetch_alone(
        self, artifact: Artifact, resource: Resource
    ) -> tuple[Served, Fetched[Served] | None]:
        """Fetch an immutable artifact while holding its lock in the store, so that other
        processes on this store (serve's workers, other instances, `unstall go`) wait and
        then find it stored instead of fetching it again (None: that happened here)."""
        if not artifact.immutable:
            return await self._fetch(artifact, resource)
        async with self.store.exclusive(artifact):
            stored = self._hit(artifact)
            if stored is not None:
                return stored, None
            return await self._fetch(artifact, resource)

    async def _fetch(
        self, artifact: Artifact, resource: Resource
    ) -> tuple[Served, Fetched[Served]]:
        limit = max_bytes(artifact.kind)
        content_type = CONTENT_TYPES[artifact.kind]
        if artifact.kind is Kind.ZIP:

            async def verify_file(sink: FileSink, upstream: str) -> Served:
                path = await asyncio.to_thread(self._store_zip, artifact, sink)
                if self.quota is not None:
                    self.quota.added(path)
                return Served(content_type, path=path, upstream=upstream)

            def new_file(upstream: str) -> FileSink:
                partial, meta = self.store.partial(artifact, upstream)
                resumable = FileSink.open(partial, limit, meta=meta)
                return resumable or FileSink(self.store.temp_file(artifact), limit)

            zipped = await self.pool.fetch(resource, new_file, verify_file)
            self.store.drop_partials(artifact)
            return zipped.value, zipped

        async def verify_memory(sink: MemorySink, upstream: str) -> Served:
            data = sink.getvalue()
            if artifact.kind is Kind.MOD:
                verify_mod(artifact, data, self._gosum)
            elif artifact.kind is Kind.LIST:
                verify_list(artifact, data)
            else:
                verify_info(artifact, data)
            if artifact.immutable:
                await asyncio.to_thread(self._store_bytes, artifact, data)
            return Served(content_type, data=data, upstream=upstream)

        fetched = await self.pool.fetch(
            resource, lambda _upstream: MemorySink(limit), verify_memory
        )
        return fetched.value, fetched

    # The two below run in a worker thread: each does several fsyncs, and an fsync on
    # the event loop would hold up every other request of the process meanwhile.

    def _store_zip(self, artifact: Artifact, sink: FileSink) -> Path:
        """Verify a downloaded zip and publish it in the store."""
        h1 = verify_zip(artifact, sink.sync(), self._gosum)
        return self.store.commit_file(artifact, sink.path, h1=h1)

    def _store_bytes(self, artifact: Artifact, data: bytes) -> None:
        """Store a verified .info or .mod."""
        self.store.commit_bytes(artifact, data)
        if artifact.kind is Kind.MOD:
            # keeps the layout a complete file:// GOPROXY, as go keeps its cache
            self.store.write_list(artifact.module)

    def _stale(self, artifact: Artifact) -> Served | None:
        """When every upstream failed: the last upstream answer, else the versions this
        cache holds, for list and @latest (stale-if-error). Immutable artifacts never
        get here from the cache."""
        last = self._answers.last_good(artifact)
        if last is not None:
            return replace(last, stale=True)
        versions = self.store.versions(artifact.module)
        if not versions or artifact.kind not in (Kind.LIST, Kind.LATEST):
            return None
        if artifact.kind is Kind.LIST:
            text = "".join(f"{v}\n" for v in versions)
            return Served(CONTENT_TYPES[Kind.LIST], data=text.encode(), stale=True)
        newest = self.store.get(Artifact(artifact.module, Kind.INFO, versions[-1]))
        if newest is None:
            return None
        return Served(CONTENT_TYPES[Kind.LATEST], data=newest.read_bytes(), stale=True)

    def _finished(
        self,
        artifact: Artifact,
        started: float,
        upstream: str | None,
        attempts: int,
        hedges: int,
        received: int,
        *,
        cached: bool = False,
        error: FetchError | None = None,
        outcome: str | None = None,
        won_by: str = "",
    ) -> None:
        self._bus.publish(
            ArtifactFinished(
                artifact=str(artifact),
                module=artifact.module,
                version=artifact.version,
                kind=artifact.kind.value,
                outcome=outcome or ("failed" if error else "ok"),
                upstream=upstream,
                attempts=attempts,
                hedges=hedges,
                bytes=received,
                duration=time.monotonic() - started,
                cause=error.cause if error else "ok",
                error=error.message if error else "",
                cached=cached,
                won_by=won_by,
            )
        )

    async def sumdb(self, name: str, rest: str) -> Served:
        """Pass a checksum-database request through upstreams that proxy it."""
        if not _SUMDB_NAME.match(name) or ".." in rest or not _SUMDB_REST.match(rest):
            raise InputError(f"not a checksum database request: sumdb/{name}/{rest}")
        supporting = await self._supporting(name)
        if not supporting:
            raise NotFound(f"no upstream proxies the checksum database {name}", status=404)
        resource = Resource(f"sumdb/{name}/{rest}", f"sumdb/{name}/{rest}")

        async def work() -> Served:
            async def keep(sink: MemorySink, upstream: str) -> Served:
                return Served("text/plain; charset=utf-8", data=sink.getvalue(), upstream=upstream)

            fetched = await self._bounded(
                self.pool.fetch(
                    resource, lambda _upstream: MemorySink(_SUMDB_MAX_BYTES), keep, among=supporting
                )
            )
            return fetched.value

        return await self._shared(("sumdb", name, rest), work)

    async def sumdb_supported(self, name: str) -> bool:
        """True when at least one upstream proxies checksum database ``name``."""
        if not _SUMDB_NAME.match(name):
            raise InputError(f"not a checksum database name: {name!r}")
        return bool(await self._supporting(name))

    async def _supporting(self, name: str) -> list[Upstream]:
        checks = [self._supports(upstream, name) for upstream in self.pool.upstreams]
        answers = await asyncio.gather(*checks)
        return [u for u, ok in zip(self.pool.upstreams, answers, strict=True) if ok]

    async def _supports(self, upstream: Upstream, name: str) -> bool:
        # "Supported" is remembered for good; "not supported" only for the negative TTL,
        # since a server runs for weeks and an upstream may gain or regain support.
        key = (upstream.name, name)
        at, task = self._sumdb_support.get(key, (0.0, None))
        if task is None or (task.done() and not self._still_valid(task, at)):
            at, task = time.monotonic(), asyncio.create_task(self._probe_sumdb(upstream, name))
            self._sumdb_support[key] = (at, task)
        return await asyncio.shield(task)

    def _still_valid(self, probe: asyncio.Task[bool], at: float) -> bool:
        if probe.cancelled() or probe.exception() is not None:
            return False
        return probe.result() or time.monotonic() - at < self._answers.negative_ttl

    async def _probe_sumdb(self, upstream: Upstream, name: str) -> bool:
        resource = Resource(f"sumdb/{name}/supported", f"sumdb/{name}/supported")

        async def accept(_sink: MemorySink, _upstream: str) -> bool:
            return True

        try:
            await self.pool.fetch(
                resource, lambda _upstream: MemorySink(4096), accept, among=[upstream]
            )
        except ArtifactFailed:
            return False
        return True


__all__ = ["CONTENT_TYPES", "Served", "Stash"]
