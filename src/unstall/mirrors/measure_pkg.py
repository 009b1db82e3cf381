"""Measuring a pip index or an npm registry: fetch the sample's real artifact, time it, verify it.

pip: the project's simple-index page (PEP 691 JSON preferred, PEP 503 HTML accepted), a
wheel of its newest version (``py3-none-any`` preferred, yanked files skipped), checked
against the page's sha256. npm: the package document, the tarball of ``dist-tags.latest``,
checked against ``dist.integrity`` (else ``dist.shasum``). Artifact URLs may name another
host, as real registries' do; only http(s) URLs are followed.

Every request has a deadline of ``timeout`` seconds for its response head, renewed by
each body chunk, so a slow but flowing artifact is measured and a silent one is not
waited for; the total is bounded by ``max_bytes`` and by the caller's own deadline.
Failures come back as an :class:`ArtifactCheck` with a reason and a cause id, never raised.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from typing import Any, Final
from urllib.parse import quote, unquote, urldefrag, urljoin, urlsplit

import httpx
from packaging.version import InvalidVersion, Version

from unstall.errors import PhaseTimeout
from unstall.http.errors import translate
from unstall.mirrors.model import ArtifactCheck, Candidate, Sample

Clock = Callable[[], float]

PIP_ACCEPT: Final = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
# The abbreviated document has every field used here and is a fraction of the full one.
NPM_ACCEPT: Final = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"
_SRI_ALGORITHMS: Final = ("sha512", "sha384", "sha256", "sha1")  # strongest first
_STATUS_CAUSES: Final = {404: "http-not-found", 410: "http-not-found", 418: "mirror-deprecated"}


class MeasureFailed(Exception):
    """One step of a measurement failed: what to tell the user and the cause id."""

    def __init__(self, reason: str, cause: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause


@dataclass(frozen=True, slots=True)
class Fetched:
    """A response read in full: where it came from, its body (when kept), size, timings
    (``throughput_kbps`` in kB/s, 1 kB = 1000 B) and the digests asked for."""

    url: str
    content_type: str
    body: bytes
    size: int
    ttfb_ms: float
    throughput_kbps: float | None
    digests: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TimedFetcher:
    """GETs a URL streaming under a deadline: ``timeout`` seconds for the response head,
    renewed by each body chunk; at most ``max_bytes`` of body."""

    timeout: float = 10.0
    max_bytes: int = 256 << 20
    clock: Clock = time.perf_counter

    async def get(
        self,
        client: httpx.AsyncClient,
        url: str,
        *,
        what: str,
        accept: str = "*/*",
        digests: Iterable[str] = (),
        keep: bool = False,
    ) -> Fetched:
        """Fetch ``url`` (``what`` names it in reasons); ttfb is request to first body
        byte, throughput is bytes over head-to-last-byte time. Raises :class:`MeasureFailed`."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise MeasureFailed(
                f"{what}: refusing to follow {url!r}: not http(s)", "integrity-info"
            )
        hashes = {name: hashlib.new(name) for name in digests}
        parts: list[bytes] = []
        size, first_at, phase = 0, None, "first_byte"
        loop = asyncio.get_running_loop()
        started = head_at = self.clock()
        try:
            async with (
                asyncio.timeout(self.timeout) as deadline,
                client.stream("GET", url, headers={"Accept": accept}) as response,
            ):
                _check_status(response, what)
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > self.max_bytes:
                    raise self._too_big(what)
                phase, head_at = "body", self.clock()
                deadline.reschedule(loop.time() + self.timeout)
                async for chunk in response.aiter_bytes():
                    if first_at is None:
                        first_at = self.clock()
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise self._too_big(what)
                    for digest in hashes.values():
                        digest.update(chunk)
                    if keep:
                        parts.append(chunk)
                    deadline.reschedule(loop.time() + self.timeout)
        except TimeoutError:
            late = "stall" if phase == "body" else phase  # PhaseTimeout's name for it
            timeout = PhaseTimeout(late, self.timeout, upstream=url)
            raise MeasureFailed(f"{what}: {timeout.message} from {url}", timeout.cause) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            side = "connect" if isinstance(exc, httpx.ConnectTimeout) else phase
            error = translate(exc, phase=side, upstream=url)
            raise MeasureFailed(f"{what}: {error.message}", error.cause) from None
        ended = self.clock()
        return Fetched(
            url=str(response.url),
            content_type=response.headers.get("content-type", ""),
            body=b"".join(parts),
            size=size,
            ttfb_ms=((ended if first_at is None else first_at) - started) * 1000,
            throughput_kbps=size / 1000 / max(ended - head_at, 1e-9) if size else None,
            digests={name: digest.digest() for name, digest in hashes.items()},
        )

    def _too_big(self, what: str) -> MeasureFailed:
        return MeasureFailed(f"{what}: larger than {self.max_bytes} bytes", "integrity-size")


def _check_status(response: httpx.Response, what: str) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    server_side = status >= 500 or status == 429
    cause = _STATUS_CAUSES.get(status, "http-server-error" if server_side else "http-client-error")
    raise MeasureFailed(f"{what}: {response.url} answered {status} {response.reason_phrase}", cause)


def _parse_json(fetched: Fetched, what: str) -> dict[str, Any]:
    try:
        document = json.loads(fetched.body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise MeasureFailed(f"{what}: {fetched.url} did not answer a JSON object", "integrity-info")
    return document


class _Measuring:
    """What both measurers are built with (see :class:`TimedFetcher`)."""

    def __init__(
        self, *, timeout: float = 10.0, max_bytes: int = 256 << 20, clock: Clock = time.perf_counter
    ) -> None:
        self.fetcher = TimedFetcher(timeout, max_bytes, clock)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _measured(
    base: ArtifactCheck, got: Fetched, correct: bool | None, reason: str | None
) -> ArtifactCheck:
    return replace(
        base,
        size=got.size,
        ttfb_ms=got.ttfb_ms,
        throughput_kbps=got.throughput_kbps,
        correct=correct,
        reason=reason,
        cause="checksum-mismatch" if correct is False else None,
    )


# -- pip ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _File:
    filename: str
    url: str
    sha256: str | None
    yanked: bool
    version: str | None


def normalize_project(name: str) -> str:
    """The PEP 503 normalized form of a project name (the index page's path segment)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _normal(version: str) -> str | None:
    """The PEP 440 normal form of ``version``; None when it is not a version."""
    try:
        return str(Version(version))
    except InvalidVersion:
        return None


def _version_of(filename: str) -> str | None:
    if filename.endswith(".whl"):
        parts = filename[: -len(".whl")].split("-")
        return _normal(parts[1]) if len(parts) in (5, 6) else None
    stem = re.sub(r"\.(tar\.gz|tar\.bz2|tar\.xz|tgz|zip)$", "", filename)
    # sdist names are "<name>-<version>"; names are normalized to underscores nowadays
    return _normal(stem.rpartition("-")[2]) if stem != filename else None


def _file(url: str, yanked: bool, sha256: str | None = None) -> _File:
    bare, fragment = urldefrag(url)
    algorithm, _, value = fragment.partition("=")
    if sha256 is None and algorithm == "sha256" and value:
        sha256 = value
    filename = unquote(urlsplit(bare).path.rpartition("/")[2])
    return _File(filename, bare, sha256 and sha256.lower(), yanked, _version_of(filename))


class _Anchors(HTMLParser):
    """Collects the files a PEP 503 page links to."""

    def __init__(self, page_url: str) -> None:
        super().__init__()
        self.page_url = page_url
        self.files: list[_File] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and (href := found.get("href")):
            self.files.append(_file(urljoin(self.page_url, href), "data-yanked" in found))


def _index_files(fetched: Fetched) -> list[_File]:
    """The files an index page lists (JSON or HTML, as its content type says)."""
    if "json" not in fetched.content_type:
        parser = _Anchors(fetched.url)
        parser.feed(fetched.body.decode("utf-8", errors="replace"))
        return parser.files
    document = _parse_json(fetched, "index page")
    files = []
    for entry in document.get("files") or []:
        if isinstance(entry, dict) and isinstance(entry.get("url"), str):
            hashes = _dict(entry.get("hashes"))
            yanked = entry.get("yanked") is True or isinstance(entry.get("yanked"), str)
            url = urljoin(fetched.url, entry["url"])
            files.append(_file(url, yanked, hashes.get("sha256")))
    return files


def _newest(versions: Iterable[str]) -> str | None:
    """The newest final release, as pip picks by default; else the newest pre-release."""
    parsed = [Version(v) for v in versions]
    finals = [v for v in parsed if not v.is_prerelease]
    return str(max(finals or parsed)) if parsed else None


def _is_pure(filename: str) -> bool:
    python, abi, platform = filename[: -len(".whl")].split("-")[-3:]
    return "py3" in python.split(".") and abi == "none" and platform == "any"


class PipMeasurer(_Measuring):
    """A :class:`~unstall.mirrors.model.Measurer` for a simple index: fetches a wheel of
    the sample project's newest version; ``digest`` is the sha256 hex of what it served."""

    async def __call__(
        self, candidate: Candidate, sample: Sample, client: httpx.AsyncClient
    ) -> ArtifactCheck:
        page = f"{candidate.url.rstrip('/')}/{normalize_project(sample.project)}/"
        try:
            listing = await self.fetcher.get(
                client, page, what="index page", accept=PIP_ACCEPT, keep=True
            )
            files = _index_files(listing)
        except MeasureFailed as failed:
            return ArtifactCheck(reason=failed.reason, cause=failed.cause)
        versions = {f.version for f in files if f.version}
        wheels = [f for f in files if f.filename.endswith(".whl") and f.version and not f.yanked]
        chosen = _newest(w.version for w in wheels if w.version)
        installable = {f.version for f in files if f.version and not f.yanked}
        base = ArtifactCheck(versions=frozenset(versions), newest=chosen or _newest(installable))
        if chosen is None:
            return replace(base, reason=f"{page} lists no wheel of {sample.project}")
        of_newest = sorted((w for w in wheels if w.version == chosen), key=lambda w: w.filename)
        wheel = next((w for w in of_newest if _is_pure(w.filename)), of_newest[0])
        base = replace(base, artifact=wheel.filename)
        try:
            got = await self.fetcher.get(client, wheel.url, what="wheel", digests=["sha256"])
        except MeasureFailed as failed:
            return replace(base, reason=failed.reason, cause=failed.cause)
        served = got.digests["sha256"].hex()
        base = replace(base, digest=served)
        if wheel.sha256 is None:
            return _measured(base, got, None, f"{page} gives no sha256 for {wheel.filename}")
        if served != wheel.sha256:
            reason = f"{wheel.filename}: the index lists sha256 {wheel.sha256}, served {served}"
            return _measured(base, got, False, reason)
        return _measured(base, got, True, None)


# -- npm ----------------------------------------------------------------------------


def package_document_url(registry: str, name: str) -> str:
    """The package document's URL; a scoped name's slash is escaped (``@scope%2Fname``)."""
    return f"{registry.rstrip('/')}/{quote(name, safe='@')}"


@dataclass(frozen=True, slots=True)
class _Expected:
    """What the registry advertises: the algorithm to check, its acceptable digests, and
    how to show a digest in a message (SRI, or hex for a bare ``shasum``)."""

    algorithm: str
    accepted: frozenset[bytes]
    advertised: str
    hex: bool = False

    def show(self, digest: bytes) -> str:
        return digest.hex() if self.hex else _sri(self.algorithm, digest)


def _expected(dist: Mapping[str, Any]) -> _Expected | None:
    """The strongest algorithm of ``dist.integrity`` (several may be listed), else the
    sha1 ``dist.shasum``; None when neither is usable."""
    found: dict[str, set[bytes]] = {}
    integrity = dist.get("integrity")
    for token in integrity.split() if isinstance(integrity, str) else []:
        algorithm, _, value = token.partition("-")
        try:
            decoded = base64.b64decode(value.partition("?")[0], validate=True)
        except (binascii.Error, ValueError):
            continue
        found.setdefault(algorithm, set()).add(decoded)
    for algorithm in _SRI_ALGORITHMS:
        if found.get(algorithm):
            return _Expected(algorithm, frozenset(found[algorithm]), str(integrity))
    shasum = dist.get("shasum")
    try:
        digest = bytes.fromhex(shasum) if isinstance(shasum, str) else None
    except ValueError:
        digest = None
    return _Expected("sha1", frozenset({digest}), f"shasum {shasum}", hex=True) if digest else None


def _sri(algorithm: str, digest: bytes) -> str:
    return f"{algorithm}-{base64.b64encode(digest).decode('ascii')}"


class NpmMeasurer(_Measuring):
    """A :class:`~unstall.mirrors.model.Measurer` for an npm registry: fetches the tarball
    of the sample's ``latest`` dist-tag; ``digest`` is the sha512 integrity string of what
    it served (the advertised ``dist.integrity`` when the tarball is correct)."""

    async def __call__(
        self, candidate: Candidate, sample: Sample, client: httpx.AsyncClient
    ) -> ArtifactCheck:
        url = package_document_url(candidate.url, sample.project)
        try:
            what = "package document"
            fetched = await self.fetcher.get(client, url, what=what, accept=NPM_ACCEPT, keep=True)
            document = _parse_json(fetched, what)
        except MeasureFailed as failed:
            return ArtifactCheck(reason=failed.reason, cause=failed.cause)
        listed = _dict(document.get("versions"))
        latest = _dict(document.get("dist-tags")).get("latest")
        base = ArtifactCheck(newest=str(latest) if latest else None, versions=frozenset(listed))
        dist = _dict(_dict(listed.get(latest) if isinstance(latest, str) else None).get("dist"))
        if not isinstance(dist.get("tarball"), str):
            reason = f"{url}: no tarball for dist-tags.latest {latest!r}"
            return replace(base, reason=reason, cause="integrity-info")
        base = replace(base, artifact=f"{sample.project}@{latest}")
        expected = _expected(dist)
        algorithms = {"sha512", expected.algorithm} if expected else {"sha512"}
        try:
            tarball = urljoin(url, dist["tarball"])
            got = await self.fetcher.get(client, tarball, what="tarball", digests=algorithms)
        except MeasureFailed as failed:
            return replace(base, reason=failed.reason, cause=failed.cause)
        base = replace(base, digest=_sri("sha512", got.digests["sha512"]))
        if expected is None:
            return _measured(base, got, None, f"{url}: no integrity or shasum for {latest}")
        served = got.digests[expected.algorithm]
        if served not in expected.accepted:
            shown = expected.show(served)
            reason = (
                f"{base.artifact}: the registry advertises {expected.advertised}, served {shown}"
            )
            return _measured(base, got, False, reason)
        return _measured(base, got, True, None)


__all__ = [
    "NPM_ACCEPT",
    "PIP_ACCEPT",
    "Fetched",
    "MeasureFailed",
    "NpmMeasurer",
    "PipMeasurer",
    "TimedFetcher",
    "normalize_project",
    "package_document_url",
]
