"""The pip and npm measurers against fake registries on loopback: what each check reports.

Every server is a real HTTP/1.1 server on 127.0.0.0/8 (tests/support/mirrors_pkg.py); URLs
are IP literals and the client is built with an explicit transport, so no proxy from the
environment and no resolver is involved.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import httpx
import pytest

from tests.support.lifecycle import StartStop
from tests.support.mirrors_pkg import (
    SIMPLE_HTML,
    SIMPLE_JSON,
    FakeNpmRegistry,
    FakePipIndex,
    FixturePackage,
    IntegrityStyle,
    flipped,
    make_package,
    sri_sha512,
)
from unstall.http.client import make_client
from unstall.mirrors.measure_npm import NPM_ACCEPT, NpmMeasurer
from unstall.mirrors.measure_pip import PIP_ACCEPT, PipMeasurer
from unstall.mirrors.model import ArtifactCheck, Candidate, Ecosystem, MeasurerTable, Sample
from unstall.resilience.timeouts import Timeouts

TIMEOUT = 1.0  # each request's deadline: ample on loopback, short for the blackhole cases
HANG = 10.0  # "did not hang": far below the client's own backstop timeouts (21 s)
MIB = 1 << 20
ALL_VERSIONS = frozenset({"1.2.0", "1.9.0", "1.10.0", "1.11.0"})  # 1.11.0 is yanked
WHEEL = "fixturepkg-1.10.0-py3-none-any.whl"

# mypy checks here that both implement the Measurer protocol the ranking calls.
MEASURERS: MeasurerTable = {Ecosystem.PIP: PipMeasurer(), Ecosystem.NPM: NpmMeasurer()}

S = TypeVar("S", bound=StartStop)


class Starter:
    """``start(server)`` starts a fake; the fixture stops every one it started."""

    def __init__(self) -> None:
        self.started: list[StartStop] = []

    def __call__(self, server: S) -> S:
        self.started.append(server)
        return server.start()


@pytest.fixture
def start() -> Iterator[Starter]:
    starter = Starter()
    yield starter
    for server in starter.started:
        server.stop()


def pip(url: str, project: str = "fixturepkg", max_bytes: int = 256 * MIB) -> ArtifactCheck:
    """Measure the simple index at ``url`` (the fake's ``/simple``) as ``unstall mirrors`` does."""
    measurer = PipMeasurer(timeout=TIMEOUT, max_bytes=max_bytes)
    return _measure(measurer, Ecosystem.PIP, url, project)


def npm(url: str, package: str = "fixturepkg") -> ArtifactCheck:
    return _measure(NpmMeasurer(timeout=TIMEOUT), Ecosystem.NPM, url, package)


def _measure(
    measurer: PipMeasurer | NpmMeasurer, ecosystem: Ecosystem, url: str, project: str
) -> ArtifactCheck:
    async def run() -> ArtifactCheck:
        async with make_client(Timeouts(), transport=httpx.AsyncHTTPTransport()) as client:
            candidate = Candidate(url, ecosystem, "--candidate")
            return await measurer(candidate, Sample(ecosystem, project), client)

    return asyncio.run(run())


def sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def assert_measured(check: ArtifactCheck, size: int) -> None:
    """A healthy transfer: the whole artifact arrived, with a time to first byte and a rate."""
    assert check.size == size
    assert (check.ttfb_ms or 0) > 0
    assert (check.throughput_kbps or 0) > 0


# -- pip ---------------------------------------------------------------------------------


@pytest.mark.parametrize("html_only", [False, True], ids=["json", "html"])
def test_pip_healthy_index_gives_the_newest_pure_wheel_verified(
    start: Starter, html_only: bool
) -> None:
    index = start(FakePipIndex(html_only=html_only))
    check = pip(f"{index.url}/simple")
    assert check.artifact == WHEEL
    assert (check.correct, check.reason, check.cause) == (True, None, None)
    assert check.digest == sha256(index.package.artifacts["1.10.0"])
    assert_measured(check, MIB)
    assert check.newest == "1.10.0"  # not "1.9.0" (string order) nor the yanked 1.11.0
    assert check.versions == ALL_VERSIONS
    page, wheel = index.requests
    assert (page.target, page.accept) == ("/simple/fixturepkg/", PIP_ACCEPT)
    assert page.content_type == (SIMPLE_HTML if html_only else SIMPLE_JSON)
    assert wheel.target == f"/files/{WHEEL}"  # the relative link, resolved against the page


def test_pip_project_name_is_normalized(start: Starter) -> None:
    index = start(FakePipIndex(make_package("Fixture_Pkg", size=4096)))
    check = pip(f"{index.url}/simple/", project="fixture.PKG")
    assert check.artifact == "fixture_pkg-1.10.0-py3-none-any.whl"
    assert check.correct is True
    assert index.requests[0].target == "/simple/fixture-pkg/"


def test_pip_corrupt_wheel_is_incorrect_naming_both_digests(start: Starter) -> None:
    index = start(FakePipIndex(corrupt=True))
    check = pip(f"{index.url}/simple")
    true, served = index.package.artifacts["1.10.0"], flipped(index.package.artifacts["1.10.0"])
    assert (check.artifact, check.correct, check.cause) == (WHEEL, False, "checksum-mismatch")
    assert sha256(true) in (check.reason or "")
    assert sha256(served) in (check.reason or "")
    assert check.digest == sha256(served)
    assert_measured(check, MIB)


def test_pip_stale_index_reports_its_own_newest(start: Starter) -> None:
    index = start(FakePipIndex(stale=True))
    check = pip(f"{index.url}/simple")
    assert check.artifact == "fixturepkg-1.9.0-py3-none-any.whl"
    assert (check.newest, check.correct) == ("1.9.0", True)
    assert check.versions == ALL_VERSIONS - {"1.10.0"}


def test_pip_without_wheels_reports_why_and_checks_nothing(start: Starter) -> None:
    index = start(FakePipIndex(wheels=False))
    check = pip(f"{index.url}/simple")
    assert "no wheel" in (check.reason or "")
    assert (check.correct, check.artifact, check.cause, check.ttfb_ms) == (None, None, None, None)
    assert (check.newest, check.versions) == ("1.10.0", ALL_VERSIONS)
    assert len(index.requests) == 1  # the page only: nothing to download


def test_pip_wheel_on_another_host_is_fetched_there(start: Starter) -> None:
    files = start(FakePipIndex(host="127.0.0.2"))
    index = start(FakePipIndex(artifact_base=files.url))
    check = pip(f"{index.url}/simple")
    assert (check.artifact, check.correct) == (WHEEL, True)
    assert [r.target for r in index.requests] == ["/simple/fixturepkg/"]
    assert [r.target for r in files.requests] == [f"/files/{WHEEL}"]


def test_pip_refuses_artifact_urls_that_are_not_http(start: Starter) -> None:
    index = start(FakePipIndex(artifact_base="file:///etc"))
    check = pip(f"{index.url}/simple")
    assert (check.artifact, check.correct, check.cause) == (WHEEL, None, "integrity-info")
    assert "not http(s)" in (check.reason or "")
    assert len(index.requests) == 1


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_pip_wheel_over_max_bytes_is_refused(start: Starter, chunked: bool) -> None:
    index = start(FakePipIndex(chunked=chunked))
    check = pip(f"{index.url}/simple", max_bytes=MIB // 2)
    assert (check.artifact, check.correct, check.cause) == (WHEEL, None, "integrity-size")
    assert check.digest is None


# -- npm ---------------------------------------------------------------------------------


@pytest.mark.parametrize("integrity", ["sha512", "multi", "shasum"])
def test_npm_healthy_registry_gives_the_latest_tarball_verified(
    start: Starter, integrity: IntegrityStyle
) -> None:
    registry = start(FakeNpmRegistry(integrity=integrity))
    check = npm(registry.url)
    assert check.artifact == "fixturepkg@1.10.0"
    assert (check.correct, check.reason, check.cause) == (True, None, None)
    assert check.digest == sri_sha512(registry.package.artifacts["1.10.0"])
    assert_measured(check, MIB)
    assert (check.newest, check.versions) == ("1.10.0", ALL_VERSIONS - {"1.11.0"})
    document, tarball = registry.requests
    assert (document.target, document.accept) == ("/fixturepkg", NPM_ACCEPT)
    assert tarball.target == "/fixturepkg/-/fixturepkg-1.10.0.tgz"


def test_npm_scoped_name_escapes_its_slash(start: Starter) -> None:
    registry = start(FakeNpmRegistry(make_package("@fixture/scopedpkg", size=4096)))
    check = npm(registry.url, "@fixture/scopedpkg")
    assert (check.artifact, check.correct) == ("@fixture/scopedpkg@1.10.0", True)
    assert [r.target for r in registry.requests] == [
        "/@fixture%2Fscopedpkg",
        "/@fixture/scopedpkg/-/scopedpkg-1.10.0.tgz",
    ]


@pytest.mark.parametrize("integrity", ["sha512", "shasum"])
def test_npm_corrupt_tarball_is_incorrect_naming_both_digests(
    start: Starter, integrity: IntegrityStyle
) -> None:
    registry = start(FakeNpmRegistry(corrupt=True, integrity=integrity))
    check = npm(registry.url)
    true, served = (
        registry.package.artifacts["1.10.0"],
        flipped(registry.package.artifacts["1.10.0"]),
    )
    assert (check.correct, check.cause) == (False, "checksum-mismatch")
    assert check.reason is not None
    if integrity == "shasum":
        named = [hashlib.sha1(true).hexdigest(), hashlib.sha1(served).hexdigest()]
    else:
        named = [sri_sha512(true), sri_sha512(served)]
    assert all(digest in check.reason for digest in named), check.reason
    assert check.digest == sri_sha512(served)
    assert_measured(check, MIB)


def test_npm_stale_registry_reports_its_own_latest(start: Starter) -> None:
    registry = start(FakeNpmRegistry(stale=True))
    check = npm(registry.url)
    assert (check.artifact, check.newest, check.correct) == ("fixturepkg@1.9.0", "1.9.0", True)
    assert check.versions == frozenset({"1.2.0", "1.9.0"})


def test_npm_tarball_on_another_host_is_fetched_there(start: Starter) -> None:
    files = start(FakeNpmRegistry(host="127.0.0.2"))
    registry = start(FakeNpmRegistry(artifact_base=files.url))
    check = npm(registry.url)
    assert check.correct is True
    assert [r.target for r in registry.requests] == ["/fixturepkg"]
    assert [r.target for r in files.requests] == ["/fixturepkg/-/fixturepkg-1.10.0.tgz"]


# -- failures common to both -----------------------------------------------------------

Measure = Callable[[str, str], ArtifactCheck]
Kind = Callable[..., FakePipIndex | FakeNpmRegistry]
# (the fake, the path of its index below its URL, how to measure it)
MEASURE: dict[str, tuple[Kind, str, Measure]] = {
    "pip": (FakePipIndex, "/simple", pip),
    "npm": (FakeNpmRegistry, "", npm),
}


@pytest.mark.parametrize("ecosystem", ["pip", "npm"])
def test_blackholed_registry_times_out_without_hanging(start: Starter, ecosystem: str) -> None:
    kind, path, measure = MEASURE[ecosystem]
    server = start(kind(mode="blackhole"))
    began = time.monotonic()
    check = measure(server.url + path, "fixturepkg")
    assert time.monotonic() - began < HANG
    assert (check.cause, check.correct, check.ttfb_ms, check.artifact) == (
        "http-timeout",
        None,
        None,
        None,
    )
    assert "timeout" in (check.reason or "")


@pytest.mark.parametrize("ecosystem", ["pip", "npm"])
def test_slow_answer_beyond_the_deadline_times_out(start: Starter, ecosystem: str) -> None:
    kind, path, measure = MEASURE[ecosystem]
    server = start(kind(latency=TIMEOUT * 3))
    check = measure(server.url + path, "fixturepkg")
    assert (check.cause, check.correct) == ("http-timeout", None)


@pytest.mark.parametrize("ecosystem", ["pip", "npm"])
def test_slow_answer_within_the_deadline_is_measured(start: Starter, ecosystem: str) -> None:
    kind, path, measure = MEASURE[ecosystem]
    server = start(kind(latency=TIMEOUT / 4))
    check = measure(server.url + path, "fixturepkg")
    assert (check.correct, check.cause) == (True, None)
    assert_measured(check, MIB)


@pytest.mark.parametrize("ecosystem", ["pip", "npm"])
def test_slow_but_flowing_artifact_is_measured_past_one_deadline(
    start: Starter, ecosystem: str
) -> None:
    kind, path, measure = MEASURE[ecosystem]
    # Four 64 KiB chunks, half a deadline apart: the body takes longer than one deadline.
    server = start(kind(make_package(size=4 * 64 * 1024), trickle=TIMEOUT / 2))
    check = measure(server.url + path, "fixturepkg")
    assert (check.correct, check.cause) == (True, None)
    assert_measured(check, 4 * 64 * 1024)


@pytest.mark.parametrize("ecosystem", ["pip", "npm"])
def test_artifact_stalling_mid_body_is_cut_off(start: Starter, ecosystem: str) -> None:
    kind, path, measure = MEASURE[ecosystem]
    server = start(kind(stall=HANG))
    began = time.monotonic()
    check = measure(server.url + path, "fixturepkg")
    assert time.monotonic() - began < HANG
    assert (check.cause, check.correct, check.digest) == ("transfer-stall", None, None)
    assert "stall" in (check.reason or "")


@pytest.mark.parametrize("ecosystem", ["pip", "npm"])
def test_unknown_project_is_not_found(start: Starter, ecosystem: str) -> None:
    kind, path, measure = MEASURE[ecosystem]
    server = start(kind())
    check = measure(server.url + path, "otherfixturepkg")
    assert (check.cause, check.correct, check.artifact, check.versions) == (
        "http-not-found",
        None,
        None,
        frozenset(),
    )
    assert "404" in (check.reason or "")


@pytest.mark.parametrize("ecosystem", ["pip", "npm"])
def test_nothing_listening_is_refused(ecosystem: str) -> None:
    _kind, path, measure = MEASURE[ecosystem]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check = measure(f"http://127.0.0.1:{port}{path}", "fixturepkg")
    assert (check.cause, check.correct) == ("tcp-refused", None)


def test_fixture_package_newest_is_not_the_string_maximum() -> None:
    """Guards the fixture itself: a string sort must pick the wrong version."""
    package: FixturePackage = make_package(size=16)
    assert max(package.versions) != package.newest == "1.10.0"
