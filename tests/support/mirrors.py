"""Fake mirrors for `unstall mirrors` tests and benchmarks, all on 127.0.0.0/8.

Go (this file): one sample module with several versions of at least 1 MiB each, the
checksum database files that vouch for it, and :class:`GoMirrors`, which starts
:class:`~tests.support.upstream.FakeUpstream` mirrors that are healthy, do not proxy
the checksum database, serve a different zip, lag behind, are slow, or never answer.

pip and npm: the fake package indexes live in ``tests/support/mirrors_pkg.py``,
kept apart so both can change independently.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, TypedDict, Unpack

from tests.support.faults import Fault
from tests.support.modfactory import FixtureModule, ModuleSet, make_module
from tests.support.upstream import FakeUpstream, UpstreamPool
from unstall.goproxy.paths import escape
from unstall.mirrors.model import Candidate, Ecosystem, GoChecksumDb, Sample

# ---------------------------------------------------------------------------
# Go
# ---------------------------------------------------------------------------

# An upper-case letter makes every request exercise case-escaping.
GO_SAMPLE_MODULE: Final = "fixture.test/mirror/Sample"
GO_SAMPLE_VERSIONS: Final = ("v1.0.0", "v1.1.0", "v1.2.0")
GO_SAMPLE_PAYLOAD: Final = 1 << 20
SUMDB_NAME: Final = "sum.example.test"
_NOTE_SIGNATURE: Final = "\u2014 sum.example.test c3VtLmV4YW1wbGUudGVzdCBpcyBub3QgcmVhbA==\n"


def lookup_key(module: str, version: str) -> str:
    """The path of a lookup below ``/sumdb/<name>/``: ``lookup/<module>@<version>``, escaped."""
    return f"lookup/{escape(module)}@{escape(version)}"


def sumdb_answer(record_id: int, module: FixtureModule) -> bytes:
    """A lookup answer as a checksum database gives it: id, go.sum lines, blank, note.

    The note's signature is made up: the measurer does not verify it.
    """
    lines = "".join(f"{line}\n" for line in module.gosum_lines())
    return f"{record_id}\n{lines}\n{_NOTE_SIGNATURE}".encode()


def sumdb_files(modules: Iterable[FixtureModule]) -> dict[str, bytes]:
    """``sumdb_files`` for :class:`FakeUpstream`: ``supported`` plus a lookup per version."""
    files = {"supported": b""}
    for record_id, module in enumerate(modules, start=1):
        files[lookup_key(module.path, module.version)] = sumdb_answer(record_id, module)
    return files


@dataclass(frozen=True)
class GoSample:
    """The sample module every Go mirror serves (or should serve), with all its versions."""

    modules: ModuleSet
    path: str
    payload_size: int
    seed: int

    @property
    def sample(self) -> Sample:
        """What the measurer is asked to fetch."""
        return Sample(Ecosystem.GO, self.path)

    @property
    def versions(self) -> list[str]:
        """Every version, in semantic-version order."""
        return self.modules.versions(self.path)

    @property
    def newest(self) -> FixtureModule:
        """The highest version: what a fresh mirror should deliver."""
        newest = self.modules.latest(self.path)
        assert newest is not None
        return newest

    @property
    def previous(self) -> FixtureModule:
        """The second-highest version: what a stale mirror delivers instead."""
        found = self.modules.get(self.path, self.versions[-2])
        assert found is not None
        return found

    def without_newest(self) -> ModuleSet:
        """The set a stale mirror holds: the newest version was never fetched."""
        return ModuleSet(m for m in self.modules.modules() if m is not self.newest)

    def tampered(self) -> FixtureModule:
        """The newest version with other payload bytes: a valid zip, a different h1, the
        same go.mod (so only the zip hash differs)."""
        newest = self.newest
        return make_module(
            newest.path, newest.version, payload_size=self.payload_size, seed=self.seed + 1
        )

    def with_tampered_newest(self) -> ModuleSet:
        """The set a corrupted mirror holds: the newest version's zip replaced."""
        tampered = ModuleSet(self.modules.modules())
        tampered.add(self.tampered())
        return tampered


def make_go_sample(
    path: str = GO_SAMPLE_MODULE,
    versions: Iterable[str] = GO_SAMPLE_VERSIONS,
    *,
    payload_size: int = GO_SAMPLE_PAYLOAD,
    seed: int = 0,
) -> GoSample:
    """Build the sample module: each version gets ``payload_size`` incompressible bytes."""
    listed = list(versions)
    if len(listed) < 2:
        raise ValueError("a Go sample needs at least two versions (stale mirrors drop one)")
    modules = ModuleSet(make_module(path, v, payload_size=payload_size, seed=seed) for v in listed)
    return GoSample(modules, path, payload_size, seed)


def go_candidate(server: FakeUpstream, name: str = "") -> Candidate:
    """A ``--candidate`` Go mirror at ``server``."""
    return Candidate(server.url, Ecosystem.GO, "--candidate", name)


class MirrorOptions(TypedDict, total=False):
    """:class:`FakeUpstream` options a fake mirror passes on (content and mode are its own)."""

    host: str
    port: int
    random_faults: Sequence[tuple[float, Fault]]
    random_match: str
    seed: int
    tls: ssl.SSLContext | None


class GoMirrors:
    """Starts fake Go mirrors of one :class:`GoSample` through ``pool`` (which stops them).

    Every mirror that proxies the checksum database serves lookups vouching for the
    real sample (never for a tampered zip). ``latency`` delays every answer's headers.
    """

    def __init__(self, pool: UpstreamPool, sample: GoSample) -> None:
        self.pool = pool
        self.sample = sample
        self.sumdb_files = sumdb_files(sample.modules.modules())

    def healthy(self, *, latency: float = 0.0, **options: Unpack[MirrorOptions]) -> FakeUpstream:
        """Serves every version and proxies the checksum database."""
        return self._mirror(self.sample.modules, True, latency, options)

    def without_sumdb(
        self, *, latency: float = 0.0, **options: Unpack[MirrorOptions]
    ) -> FakeUpstream:
        """Serves every version; ``/sumdb/`` answers 404, so go asks the database directly."""
        return self._mirror(self.sample.modules, False, latency, options)

    def corrupted(self, *, latency: float = 0.0, **options: Unpack[MirrorOptions]) -> FakeUpstream:
        """Serves a different (valid) zip for the newest version; proxies the real database."""
        return self._mirror(self.sample.with_tampered_newest(), True, latency, options)

    def stale(self, *, latency: float = 0.0, **options: Unpack[MirrorOptions]) -> FakeUpstream:
        """Its list (and store) lacks the newest version."""
        return self._mirror(self.sample.without_newest(), True, latency, options)

    def slow(self, latency: float, **options: Unpack[MirrorOptions]) -> FakeUpstream:
        """Healthy, but every answer waits ``latency`` seconds before its headers."""
        return self._mirror(self.sample.modules, True, latency, options)

    def blackholed(self, **options: Unpack[MirrorOptions]) -> FakeUpstream:
        """Accepts connections and never answers."""
        return self.pool(self.sample.modules, mode="blackhole", **options)

    def refused(self, **options: Unpack[MirrorOptions]) -> FakeUpstream:
        """Nothing listens on its port: connections are refused."""
        return self.pool(self.sample.modules, mode="refuse", **options)

    def checksum_db(self, **options: Unpack[MirrorOptions]) -> tuple[FakeUpstream, GoChecksumDb]:
        """The checksum database itself, asked directly; returns the server and its
        :class:`GoChecksumDb` (``/lookup/...`` right below its URL, as a real database)."""
        server = self.pool(ModuleSet(), sumdb=True, sumdb_files=self.sumdb_files, **options)
        return server, GoChecksumDb(SUMDB_NAME, url=f"{server.url}/sumdb/{SUMDB_NAME}")

    def _mirror(
        self, modules: ModuleSet, sumdb: bool, latency: float, options: MirrorOptions
    ) -> FakeUpstream:
        return self.pool(
            modules, sumdb=sumdb, sumdb_files=self.sumdb_files, latency=latency, **options
        )


__all__ = [
    "GO_SAMPLE_MODULE",
    "GO_SAMPLE_PAYLOAD",
    "GO_SAMPLE_VERSIONS",
    "SUMDB_NAME",
    "GoMirrors",
    "GoSample",
    "MirrorOptions",
    "go_candidate",
    "lookup_key",
    "make_go_sample",
    "sumdb_answer",
    "sumdb_files",
]

# ---------------------------------------------------------------------------
# pip and npm: see tests/support/mirrors_pkg.py (another engineer's file).
# ---------------------------------------------------------------------------
