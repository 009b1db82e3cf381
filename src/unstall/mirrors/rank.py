"""Ranking candidates by what they deliver: reachable, correct, complete, then fast.

Each candidate is measured concurrently (at most ``parallel`` at once): doctor's layered
probe, ``samples`` times, for the phase timings, then the ecosystem's sample artifact
through the candidate for throughput and content. Then, across candidates: content that
disagrees with the checksum database or with the other candidates excludes a mirror;
one whose list lacks the current source's newest version is flagged "stale", a Go mirror
that does not proxy the checksum database "no-sumdb", content nobody could verify
"unverified".

The score is the estimated seconds to fetch a 1 MiB artifact: median time to first byte
plus 1 MiB at the measured throughput. Complete mirrors come first, flagged ones after
them, each group by score.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final

import httpx

from unstall.doctor.model import Source, SourceKind, SourceReport, Verdict
from unstall.mirrors.catalogue import CURRENT
from unstall.mirrors.model import ArtifactCheck, Candidate, Ecosystem, MeasurerTable, Sample

MIB_KB: Final = 1048.576  # 1 MiB in kB (1 kB = 1000 bytes), the unit of throughput_kbps
_KINDS: Final = {Ecosystem.GO: SourceKind.GOPROXY, Ecosystem.PIP: SourceKind.PIP}

Probe = Callable[[Source], Awaitable[SourceReport]]


class Status(StrEnum):
    RANKED = "ranked"
    EXCLUDED = "excluded"


@dataclass(frozen=True, slots=True)
class Ranking:
    """One candidate's place in the ranking, or why it has none."""

    candidate: Candidate
    status: Status
    rank: int | None = None
    reason: str | None = None
    cause: str | None = None
    flags: tuple[str, ...] = ()
    ttfb_ms: float | None = None
    throughput_kbps: float | None = None
    correct: bool | None = None
    score_s: float | None = None
    artifact: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "url": self.candidate.url,
            "ecosystem": self.candidate.ecosystem.value,
            "status": self.status.value,
            "rank": self.rank,
            "reason": self.reason,
            "cause": self.cause,
            "flags": list(self.flags),
            "ttfb_ms": self.ttfb_ms,
            "throughput_kbps": self.throughput_kbps,
            "correct": self.correct,
        }


@dataclass
class _Measured:
    candidate: Candidate
    probe: SourceReport | None = None
    check: ArtifactCheck = field(default_factory=ArtifactCheck)


def score(ttfb_ms: float | None, throughput_kbps: float | None) -> float | None:
    """Estimated seconds to fetch 1 MiB; None without a throughput."""
    if not throughput_kbps or throughput_kbps <= 0:
        return None
    return (ttfb_ms or 0.0) / 1000 + MIB_KB / throughput_kbps


async def _measure(
    candidate: Candidate,
    sample: Sample | None,
    measurers: MeasurerTable,
    probe: Probe,
    client: httpx.AsyncClient,
    gate: asyncio.Semaphore,
    deadline: float,
) -> _Measured:
    kind = _KINDS.get(candidate.ecosystem, SourceKind.NPM)
    found = _Measured(candidate)
    async with gate:
        found.probe = await probe(Source(candidate.url, kind, candidate.origin))
        if found.probe.verdict is Verdict.FAIL or sample is None:
            return found
        measurer = measurers.get(candidate.ecosystem)
        if measurer is None:
            return found
        try:
            async with asyncio.timeout(deadline):
                found.check = await measurer(candidate, sample, client)
        except TimeoutError:
            found.check = ArtifactCheck(
                reason=f"the sample artifact did not arrive within {deadline:g}s",
                cause="deadline-exceeded",
            )
    return found


async def rank(
    candidates: Sequence[Candidate],
    samples: Mapping[Ecosystem, Sample],
    measurers: MeasurerTable,
    *,
    probe: Probe,
    client: httpx.AsyncClient,
    parallel: int = 8,
    artifact_deadline: float = 30.0,
) -> list[Ranking]:
    """Measure every candidate and rank each ecosystem's; ranked first, then excluded."""
    gate = asyncio.Semaphore(parallel)
    measured = await asyncio.gather(
        *(
            _measure(c, samples.get(c.ecosystem), measurers, probe, client, gate, artifact_deadline)
            for c in candidates
        )
    )
    rankings: list[Ranking] = []
    for ecosystem in Ecosystem:
        group = [m for m in measured if m.candidate.ecosystem is ecosystem]
        if group:
            rankings += _rank_group(group)
    return rankings


def _rank_group(group: Sequence[_Measured]) -> list[Ranking]:
    reference = _reference_digests(group)
    newest = _current_newest(group)
    judged = [_judge(m, reference.get(m.check.artifact or ""), newest) for m in group]
    ranked = sorted(
        (j for j in judged if j.status is Status.RANKED),
        key=lambda j: (bool(j.flags), j.score_s if j.score_s is not None else float("inf")),
    )
    numbered = [replace(j, rank=i) for i, j in enumerate(ranked, start=1)]
    return numbered + [j for j in judged if j.status is Status.EXCLUDED]


def _reference_digests(group: Sequence[_Measured]) -> dict[str, str]:
    """Per artifact, the content to expect: what the checksum database confirmed, else
    what most candidates delivered."""
    reference: dict[str, str] = {}
    votes: dict[str, Counter[str]] = {}
    for m in group:
        artifact, digest = m.check.artifact, m.check.digest
        if artifact is None or digest is None or m.check.correct is False:
            continue
        if m.check.correct is True:
            reference.setdefault(artifact, digest)
        votes.setdefault(artifact, Counter())[digest] += 1
    for artifact, counter in votes.items():
        (top, count), *rest = counter.most_common()
        if artifact not in reference and (not rest or rest[0][1] < count):
            reference[artifact] = top
    return reference


def _current_newest(group: Sequence[_Measured]) -> str | None:
    """The newest version the current source lists (else the newest any candidate lists,
    by the candidates' own choice: the one most of them call newest)."""
    current = [m.check.newest for m in group if m.candidate.origin == CURRENT and m.check.newest]
    if current:
        return current[0]
    named = Counter(m.check.newest for m in group if m.check.newest)
    return named.most_common(1)[0][0] if named else None


def _judge(m: _Measured, expected: str | None, newest: str | None) -> Ranking:
    probe, check = m.probe, m.check
    ttfb = probe.phases.ttfb_ms if probe is not None else None
    if probe is None or probe.verdict is Verdict.FAIL:
        return Ranking(
            m.candidate,
            Status.EXCLUDED,
            reason=f"unreachable: {probe.message}" if probe else "not probed",
            cause=probe.cause if probe else None,
            ttfb_ms=ttfb,
        )
    throughput = check.throughput_kbps or probe.phases.throughput_kbps
    correct = check.correct
    if correct is not False and expected is not None and check.digest not in (None, expected):
        correct = False
        check = replace(
            check,
            reason=f"serves {check.artifact} as {check.digest}, other candidates as {expected}",
        )
    if correct is False:
        return Ranking(
            m.candidate,
            Status.EXCLUDED,
            reason=f"incorrect: {check.reason}",
            cause="checksum-mismatch",
            ttfb_ms=ttfb,
            throughput_kbps=throughput,
            correct=False,
            artifact=check.artifact,
        )
    if check.cause is not None and check.throughput_kbps is None:
        return Ranking(
            m.candidate,
            Status.EXCLUDED,
            reason=f"the sample artifact failed: {check.reason}",
            cause=check.cause,
            ttfb_ms=ttfb,
            correct=correct,
        )
    flags = []
    if newest is not None and check.versions and newest not in check.versions:
        flags.append("stale")
    if check.sumdb is False:
        flags.append("no-sumdb")
    if correct is None:
        flags.append("unverified")
    return Ranking(
        m.candidate,
        Status.RANKED,
        reason=check.reason if correct is None else None,
        flags=tuple(flags),
        ttfb_ms=ttfb,
        throughput_kbps=throughput,
        correct=correct,
        score_s=score(ttfb, throughput),
        artifact=check.artifact,
    )


__all__ = ["MIB_KB", "Probe", "Ranking", "Status", "rank", "score"]
