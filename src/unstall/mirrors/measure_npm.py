"""Measuring an npm registry: fetch the sample's real tarball, time it, verify it.

The package document, the tarball of ``dist-tags.latest``, checked against
``dist.integrity`` (else ``dist.shasum``). Tarball URLs may name another host, as real
registries' do; only http(s) URLs are followed.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import quote, urljoin

import httpx

from unstall.mirrors.measure_fetch import (
    MeasureFailed,
    Measuring,
    as_dict,
    measured_check,
    parse_json,
)
from unstall.mirrors.model import ArtifactCheck, Candidate, Sample

# The abbreviated document has every field used here and is a fraction of the full one.
NPM_ACCEPT: Final = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"
_SRI_ALGORITHMS: Final = ("sha512", "sha384", "sha256", "sha1")  # strongest first


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


class NpmMeasurer(Measuring):
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
            document = parse_json(fetched, what)
        except MeasureFailed as failed:
            return ArtifactCheck(reason=failed.reason, cause=failed.cause)
        listed = as_dict(document.get("versions"))
        latest = as_dict(document.get("dist-tags")).get("latest")
        base = ArtifactCheck(newest=str(latest) if latest else None, versions=frozenset(listed))
        dist = as_dict(as_dict(listed.get(latest) if isinstance(latest, str) else None).get("dist"))
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
            return measured_check(base, got, None, f"{url}: no integrity or shasum for {latest}")
        served = got.digests[expected.algorithm]
        if served not in expected.accepted:
            shown = expected.show(served)
            reason = (
                f"{base.artifact}: the registry advertises {expected.advertised}, served {shown}"
            )
            return measured_check(base, got, False, reason)
        return measured_check(base, got, True, None)


__all__ = ["NPM_ACCEPT", "NpmMeasurer", "package_document_url"]
