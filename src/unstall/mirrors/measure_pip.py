"""Measuring a pip index: fetch the sample's real wheel, time it, verify it.

The project's simple-index page (PEP 691 JSON preferred, PEP 503 HTML accepted), a wheel
of its newest version (``py3-none-any`` preferred, yanked files skipped), checked against
the page's sha256. Wheel URLs may name another host, as real indexes' do; only http(s)
URLs are followed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from typing import Final
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import httpx
from packaging.version import InvalidVersion, Version

from unstall.mirrors.measure_fetch import (
    Fetched,
    MeasureFailed,
    Measuring,
    as_dict,
    measured_check,
    parse_json,
)
from unstall.mirrors.model import ArtifactCheck, Candidate, Sample

PIP_ACCEPT: Final = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"


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
    document = parse_json(fetched, "index page")
    files = []
    for entry in document.get("files") or []:
        if isinstance(entry, dict) and isinstance(entry.get("url"), str):
            hashes = as_dict(entry.get("hashes"))
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


class PipMeasurer(Measuring):
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
            return measured_check(base, got, None, f"{page} gives no sha256 for {wheel.filename}")
        if served != wheel.sha256:
            reason = f"{wheel.filename}: the index lists sha256 {wheel.sha256}, served {served}"
            return measured_check(base, got, False, reason)
        return measured_check(base, got, True, None)


__all__ = ["PIP_ACCEPT", "PipMeasurer", "normalize_project"]
