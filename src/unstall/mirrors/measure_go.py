"""Measure one Go module proxy: fetch its newest version of a sample module, time it, check it.

The measurer asks a candidate mirror what go would: ``@v/list`` (or ``@latest`` when
the list is empty), then ``.info``, ``.mod`` and ``.zip`` of the newest version. The
zip is timed (time to first body byte, throughput of the body), its layout checked
and both h1 hashes compared with the checksum database, asked through the mirror's
``/sumdb/<name>/`` when the mirror proxies it (as go does) and directly otherwise.

Every request runs under its own deadline (:class:`~unstall.resilience.timeouts.PhaseGuard`
via :func:`~unstall.http.fetch.fetch_once`), and every failure comes back as an
:class:`ArtifactCheck` with a reason and a cause id from the doctor's catalogue.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

import httpx

from unstall.errors import (
    FetchError,
    GoSumError,
    IntegrityError,
    NotFound,
    PhaseTimeout,
    UnstallError,
)
from unstall.goproxy.hashes import GoSum, parse_gosum_line
from unstall.goproxy.paths import Artifact, Kind, check_module_path, escape
from unstall.goproxy.verify import max_bytes, verify_info, verify_mod, verify_zip
from unstall.http.errors import translate
from unstall.http.fetch import AttemptReport, fetch_once
from unstall.http.sinks import FileSink, MemorySink
from unstall.mirrors.model import ArtifactCheck, Candidate, Ecosystem, GoChecksumDb, Sample
from unstall.resilience.timeouts import Timeouts

# go's own shape of a pseudo-version (module.IsPseudoVersion): never a tagged release.
_PSEUDO: Final = re.compile(
    r"^v\d+\.(?:0\.0-|\d+\.\d+-(?:[^+]*\.)?0\.)\d{14}-[A-Za-z0-9]+(?:\+[0-9A-Za-z.-]+)?$"
)
_SEMVER: Final = re.compile(r"^v\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_SUMDB_LIMIT: Final = 1 << 20  # a lookup answer is a few hundred bytes


def _semver_key(version: str) -> tuple[tuple[int, ...], int, tuple[tuple[int, int, str], ...]]:
    core, _, pre = version[1:].partition("+")[0].partition("-")
    numbers = tuple(int(part) for part in core.split("."))
    if not pre:
        return (numbers, 1, ())
    # Numeric identifiers sort numerically and before alphanumeric ones (semver 11.4).
    return (
        numbers,
        0,
        tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")),
    )


def parse_version_list(body: bytes) -> frozenset[str]:
    """The tagged versions of a ``@v/list`` answer: pseudo-versions and junk lines dropped."""
    versions = set()
    for line in body.decode("utf-8", "replace").splitlines():
        fields = line.split()
        if fields and _SEMVER.match(fields[0]) and not _PSEUDO.match(fields[0]):
            versions.add(fields[0])
    return frozenset(versions)


def newest_version(versions: frozenset[str]) -> str | None:
    """The highest version by semantic-version precedence, or None for an empty set."""
    return max(versions, key=_semver_key) if versions else None


def parse_lookup(answer: bytes, module: str, version: str, source: str) -> tuple[str, str]:
    """The (zip h1, go.mod h1) of ``module@version`` in a checksum database lookup answer.

    The answer is ``<record id>\\n<go.sum lines>\\n\\n<signed note>``; the note is not
    checked. Raises :class:`GoSumError` for a malformed answer or one without both lines.
    """
    head = answer.decode("utf-8", "replace").partition("\n\n")[0]
    lines = head.split("\n")
    if not lines[0].strip().isdigit():
        raise GoSumError(source, 1, f"record id {lines[0][:40]!r} is not a number")
    found = GoSum()
    for number, text in enumerate(lines[1:], start=2):
        parsed = parse_gosum_line(text, number, source)
        if parsed is not None:
            found.add(parsed)
    zip_hash, mod_hash = found.zip_hash(module, version), found.mod_hash(module, version)
    if zip_hash is None or mod_hash is None:
        raise GoSumError(source, 1, f"no go.sum lines for {module}@{version} in the answer")
    return zip_hash, mod_hash


class _TimedFileSink(FileSink):
    """A :class:`FileSink` that notes when the first and the last body bytes arrived."""

    def __init__(self, path: Path, max_bytes: int, clock: Callable[[], float]) -> None:
        super().__init__(path, max_bytes)
        self._clock = clock
        self.first: float | None = None
        self.first_size = 0
        self.last: float | None = None

    def write(self, chunk: bytes) -> None:
        now = self._clock()
        super().write(chunk)
        if self.first is None:
            self.first, self.first_size = now, len(chunk)
        self.last = now


@dataclass(slots=True)
class _Found:
    """What one measurement learned so far; kept when a later step fails."""

    versions: frozenset[str] = frozenset()
    newest: str | None = None
    artifact: str | None = None
    size: int = 0
    ttfb_ms: float | None = None
    throughput_kbps: float | None = None
    digest: str | None = None
    sumdb: bool | None = None

    def check(
        self, *, correct: bool | None = None, reason: str | None = None, cause: str | None = None
    ) -> ArtifactCheck:
        return ArtifactCheck(**asdict(self), correct=correct, reason=reason, cause=cause)


class GoMeasurer:
    """Implements :class:`~unstall.mirrors.model.Measurer` for Go module proxies.

    ``checksum_db`` is the database the hashes are compared with (None: not compared,
    ``correct`` stays None). ``timeout`` bounds every request; a zip over
    ``max_zip_bytes`` is abandoned. ``clock`` times the zip (seconds, monotonic).

    The lookup answer's signed note is NOT verified: the database's public key is not
    available (GOSUMDB's default value names only the database), so the go.sum lines
    are taken as delivered. ``cause`` is set whenever ``reason`` is, also when only the
    checksum database could not be asked (``correct`` None, ``digest`` set).
    """

    def __init__(
        self,
        checksum_db: GoChecksumDb | None,
        *,
        timeout: float = 10.0,
        max_zip_bytes: int = 64 << 20,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.checksum_db = checksum_db
        # One deadline for every phase and for the whole request; no throughput floor:
        # a slow mirror is measured, not cut off.
        self.timeouts = Timeouts(
            connect=timeout,
            tls=timeout,
            first_byte=timeout,
            stall=timeout,
            min_throughput=0.0,
            total=timeout,
        )
        self.max_zip_bytes = max_zip_bytes
        self.clock = clock

    async def __call__(
        self, candidate: Candidate, sample: Sample, client: httpx.AsyncClient
    ) -> ArtifactCheck:
        """Fetch ``sample``'s newest version through ``candidate``; never raises for I/O."""
        return await _Run(self, candidate, client).measure(sample)


class _Run:
    """One measurement of one candidate: the steps, and what they found so far."""

    def __init__(
        self, measurer: GoMeasurer, candidate: Candidate, client: httpx.AsyncClient
    ) -> None:
        self.m = measurer
        self.client = client
        self.base = candidate.url.rstrip("/")
        self.upstream = candidate.name or candidate.url
        self.found = _Found()
        self.step = "sample"

    async def measure(self, sample: Sample) -> ArtifactCheck:
        found = self.found
        try:
            if sample.ecosystem is not Ecosystem.GO:
                raise UnstallError(f"not a Go sample: {sample}", cause="bad-request")
            module = check_module_path(sample.project)
            version = found.newest = await self.newest(module)
            found.artifact = f"{module}@{version}"
            h1_mod, h1_zip = await self.download(module, version)
            found.digest = f"{h1_mod} {h1_zip}"
        except IntegrityError as error:
            # Too big to check is not wrong; anything else that fails a check is.
            correct = None if error.cause == "integrity-size" else False
            return found.check(correct=correct, reason=self.reason(error), cause=error.cause)
        except UnstallError as error:
            return found.check(reason=self.reason(error), cause=error.cause)
        except OSError as error:  # the temporary zip file, not the network
            return found.check(reason=f"{self.step}: {error}", cause="internal")
        return await self.compare(module, version, h1_mod, h1_zip)

    def reason(self, error: UnstallError) -> str:
        """The error's message, naming the step unless it already does."""
        text = error.message
        return text if text.startswith(self.step) else f"{self.step}: {text}"

    async def get(self, url: str, sink: MemorySink | FileSink, upstream: str = "") -> None:
        report = AttemptReport()
        try:
            await fetch_once(
                self.client,
                url,
                sink,
                timeouts=self.m.timeouts,
                upstream=upstream or self.upstream,
                report=report,
            )
        except PhaseTimeout as error:
            # Every phase shares the request's one deadline, so the guard blames "total"
            # even when no answer ever came: that is the server not answering.
            if error.phase == "total" and report.status is None:
                raise PhaseTimeout("first_byte", error.seconds, upstream=error.upstream) from error
            raise
        except httpx.InvalidURL as exc:  # raised before any I/O, outside fetch_once's net
            raise translate(exc, phase="connect", upstream=upstream or self.upstream) from exc

    async def body(self, url: str, limit: int, upstream: str = "") -> bytes:
        sink = MemorySink(limit)
        await self.get(url, sink, upstream)
        return sink.getvalue()

    async def artifact(self, artifact: Artifact) -> bytes:
        self.step = str(artifact)
        return await self.body(f"{self.base}/{artifact.escaped_path}", max_bytes(artifact.kind))

    async def newest(self, module: str) -> str:
        self.found.versions = parse_version_list(await self.artifact(Artifact(module, Kind.LIST)))
        newest = newest_version(self.found.versions)
        if newest is not None:
            return newest
        latest = Artifact(module, Kind.LATEST)
        data = await self.artifact(latest)
        verify_info(latest, data)
        return str(json.loads(data)["Version"])

    async def download(self, module: str, version: str) -> tuple[str, str]:
        info = Artifact(module, Kind.INFO, version)
        verify_info(info, await self.artifact(info))
        mod = Artifact(module, Kind.MOD, version)
        h1_mod = verify_mod(mod, await self.artifact(mod), GoSum())
        archive = Artifact(module, Kind.ZIP, version)
        self.step = str(archive)
        with tempfile.TemporaryDirectory(prefix="unstall-measure-") as directory:
            sink = _TimedFileSink(Path(directory) / "zip", self.m.max_zip_bytes, self.m.clock)
            try:
                await self.timed(f"{self.base}/{archive.escaped_path}", sink)
                sink.sync()
                # Hashing a large zip takes a while: keep the event loop free for other mirrors.
                h1_zip = await asyncio.to_thread(verify_zip, archive, sink.path, GoSum())
            finally:
                sink.close(keep=False)
        return h1_mod, h1_zip

    async def timed(self, url: str, sink: _TimedFileSink) -> None:
        """ttfb: from the request to the first body byte; throughput: the bytes after the
        first chunk over the time from the first to the last chunk (1 kB = 1000 B)."""
        started = self.m.clock()
        try:
            await self.get(url, sink)
        finally:
            self.found.size = sink.offset
            if sink.first is not None:
                self.found.ttfb_ms = (sink.first - started) * 1000.0
        if sink.first is not None and sink.last is not None and sink.last > sink.first:
            after_first = sink.offset - sink.first_size
            self.found.throughput_kbps = after_first / 1000.0 / (sink.last - sink.first)

    async def compare(self, module: str, version: str, h1_mod: str, h1_zip: str) -> ArtifactCheck:
        db, found = self.m.checksum_db, self.found
        if db is None:
            return found.check(reason="no checksum database to compare the hashes with")
        supported = f"{self.base}/sumdb/{db.name}/supported"
        try:
            await self.body(supported, _SUMDB_LIMIT)
            found.sumdb = True
        except NotFound:
            found.sumdb = False
        except UnstallError as error:
            return found.check(reason=f"{supported}: {error.message}", cause="sumdb-proxy-error")
        lookup = f"lookup/{escape(module)}@{escape(version)}"
        url = (
            f"{self.base}/sumdb/{db.name}/{lookup}" if found.sumdb else f"{db.direct_url}/{lookup}"
        )
        try:
            answer = await self.body(url, _SUMDB_LIMIT, "" if found.sumdb else db.name)
            want_zip, want_mod = parse_lookup(answer, module, version, url)
        except UnstallError as error:
            if found.sumdb:
                cause = "sumdb-proxy-error"
            else:
                cause = error.cause if isinstance(error, FetchError) else "http-server-error"
            return found.check(
                reason=f"no usable answer from checksum database {db.name} ({url}): "
                f"{error.message}",
                cause=cause,
            )
        problems = [
            f"{what}: {db.name} has {want}, the mirror served {got}"
            for what, want, got in (("zip", want_zip, h1_zip), ("go.mod", want_mod, h1_mod))
            if want != got
        ]
        if problems:
            return found.check(
                correct=False,
                reason=f"{module}@{version} differs from the checksum database: "
                + "; ".join(problems),
                cause="checksum-mismatch",
            )
        return found.check(correct=True)


__all__ = ["GoMeasurer", "newest_version", "parse_lookup", "parse_version_list"]
