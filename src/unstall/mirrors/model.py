"""What `unstall mirrors` works with: candidates, what measuring one found, rankings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import httpx


class Ecosystem(StrEnum):
    GO = "go"
    PIP = "pip"
    NPM = "npm"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A source to rank. ``origin``: "catalogue", "config", "--candidate" or "current"
    (the source the toolchain is configured with now)."""

    url: str
    ecosystem: Ecosystem
    origin: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Sample:
    """Which artifact of an ecosystem to fetch from every candidate.

    Go: ``project`` is a module path (its newest listed version is used; the zip should
    be at least 1 MiB); pip: a project name (a wheel of its newest version); npm: a
    package name (the tarball of its ``latest`` dist-tag).
    """

    ecosystem: Ecosystem
    project: str


@dataclass(frozen=True, slots=True)
class ArtifactCheck:
    """What fetching the sample artifact through one candidate found.

    ``digest`` is what the candidate delivered (Go: "h1:... h1:..." of .mod and .zip;
    pip: sha256 hex; npm: the integrity string), compared across candidates by the
    ranking. ``correct`` is None when the content could not be checked at all.
    ``versions`` is the candidate's version list (freshness is judged against the
    current source's newest version by the ranking).
    """

    artifact: str | None = None
    size: int = 0
    ttfb_ms: float | None = None
    throughput_kbps: float | None = None
    correct: bool | None = None
    digest: str | None = None
    reason: str | None = None
    cause: str | None = None
    newest: str | None = None
    versions: frozenset[str] = field(default_factory=frozenset)
    sumdb: bool | None = None


@dataclass(frozen=True, slots=True)
class GoChecksumDb:
    """The checksum database to compare Go hashes with: its name (as in GOSUMDB) and the
    URL to ask when a mirror does not proxy it (None: ``https://<name>``)."""

    name: str
    url: str | None = None

    @property
    def direct_url(self) -> str:
        return (self.url or f"https://{self.name}").rstrip("/")


class Measurer(Protocol):
    """Fetches an ecosystem's sample artifact through one candidate and checks it."""

    async def __call__(
        self, candidate: Candidate, sample: Sample, client: httpx.AsyncClient
    ) -> ArtifactCheck: ...


MeasurerTable = Mapping[Ecosystem, Measurer]

__all__ = [
    "ArtifactCheck",
    "Candidate",
    "Ecosystem",
    "GoChecksumDb",
    "Measurer",
    "MeasurerTable",
    "Sample",
]
