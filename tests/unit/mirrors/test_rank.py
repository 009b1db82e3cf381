"""Ranking from measurements: exclusions with reasons, flags, order by score."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx

from unstall.doctor.model import Phases, Source, SourceKind, SourceReport, Verdict
from unstall.mirrors.model import ArtifactCheck, Candidate, Ecosystem, Sample
from unstall.mirrors.rank import Ranking, Status, rank, score

SAMPLES = {Ecosystem.GO: Sample(Ecosystem.GO, "fixture.test/big")}
V1, V2 = "v1.0.0", "v1.1.0"


def ok_probe(ttfb: float) -> SourceReport:
    return SourceReport(
        url="",
        verdict=Verdict.OK,
        layer="none",
        cause="ok",
        message="200 OK",
        fix="",
        phases=Phases(dns_ms=1, connect_ms=1, ttfb_ms=ttfb, throughput_kbps=10.0),
        kind=SourceKind.GOPROXY,
    )


def failed_probe() -> SourceReport:
    return SourceReport(
        url="",
        verdict=Verdict.FAIL,
        layer="tls",
        cause="tls-timeout",
        message="no TLS handshake within 1s",
        fix="",
        phases=Phases(dns_ms=1, connect_ms=1),
    )


def check(
    digest: str = "h1:good",
    *,
    speed: float = 1000.0,
    correct: bool | None = True,
    versions: tuple[str, ...] = (V1, V2),
    sumdb: bool | None = True,
) -> ArtifactCheck:
    return ArtifactCheck(
        artifact=f"fixture.test/big@{versions[-1]}",
        size=1 << 20,
        ttfb_ms=5.0,
        throughput_kbps=speed,
        correct=correct,
        digest=digest,
        reason=None if correct is not False else "h1 differs",
        newest=versions[-1],
        versions=frozenset(versions),
        sumdb=sumdb,
    )


def run_rank(
    probes: Mapping[str, SourceReport], checks: Mapping[str, ArtifactCheck], current: str = ""
) -> dict[str, Ranking]:
    candidates = [
        Candidate(url, Ecosystem.GO, "current" if url == current else "catalogue") for url in probes
    ]
    measured: list[str] = []

    async def probe(source: Source) -> SourceReport:
        return probes[source.url]

    async def measure(
        candidate: Candidate, sample: Sample, client: httpx.AsyncClient
    ) -> ArtifactCheck:
        measured.append(candidate.url)
        return checks[candidate.url]

    async def go() -> list[Ranking]:
        async with httpx.AsyncClient() as client:
            return await rank(
                candidates, SAMPLES, {Ecosystem.GO: measure}, probe=probe, client=client
            )

    rankings = asyncio.run(go())
    assert all(url not in measured for url, p in probes.items() if p.verdict is Verdict.FAIL)
    return {r.candidate.url: r for r in rankings}


def test_fast_complete_mirrors_first_flagged_after_unreachable_and_wrong_excluded() -> None:
    probes = {
        "https://slow.example.test": ok_probe(200),
        "https://fast.example.test": ok_probe(10),
        "https://stale.example.test": ok_probe(1),
        "https://nosumdb.example.test": ok_probe(1),
        "https://corrupt.example.test": ok_probe(1),
        "https://dead.example.test": failed_probe(),
    }
    checks = {
        "https://slow.example.test": check(speed=500),
        "https://fast.example.test": check(speed=5000),
        "https://stale.example.test": check("h1:old", speed=90000, versions=(V1,)),
        "https://nosumdb.example.test": check(speed=90000, sumdb=False, correct=None),
        "https://corrupt.example.test": check("h1:bad", speed=90000, correct=False),
    }
    found = run_rank(probes, checks, current="https://slow.example.test")
    assert found["https://fast.example.test"].rank == 1
    assert found["https://slow.example.test"].rank == 2
    flagged = {found["https://stale.example.test"].rank, found["https://nosumdb.example.test"].rank}
    assert flagged == {3, 4}
    assert found["https://stale.example.test"].flags == ("stale",)
    assert found["https://nosumdb.example.test"].flags == ("no-sumdb", "unverified")
    dead = found["https://dead.example.test"]
    assert (dead.status, dead.rank, dead.cause) == (Status.EXCLUDED, None, "tls-timeout")
    assert dead.reason is not None
    assert "no TLS handshake" in dead.reason
    corrupt = found["https://corrupt.example.test"]
    assert (corrupt.status, corrupt.correct, corrupt.cause) == (
        Status.EXCLUDED,
        False,
        "checksum-mismatch",
    )


def test_content_that_disagrees_with_the_others_is_excluded_even_unverified() -> None:
    probes = {f"https://m{i}.example.test": ok_probe(5) for i in range(3)}
    checks = {
        "https://m0.example.test": check("h1:same", correct=None),
        "https://m1.example.test": check("h1:same", correct=None),
        "https://m2.example.test": check("h1:other", correct=None),
    }
    found = run_rank(probes, checks)
    odd = found["https://m2.example.test"]
    assert odd.status is Status.EXCLUDED
    assert odd.reason is not None
    assert "h1:other" in odd.reason
    assert "h1:same" in odd.reason
    assert found["https://m0.example.test"].status is Status.RANKED


def test_json_shape() -> None:
    found = run_rank({"https://a.example.test": ok_probe(5)}, {"https://a.example.test": check()})
    assert set(found["https://a.example.test"].as_dict()) == {
        "url",
        "ecosystem",
        "status",
        "rank",
        "reason",
        "cause",
        "flags",
        "ttfb_ms",
        "throughput_kbps",
        "correct",
    }


def test_score_is_time_to_first_byte_plus_a_mebibyte() -> None:
    assert score(100.0, 1048.576) == 1.1
    assert score(None, 1048.576) == 1.0
    assert score(100.0, None) is None
