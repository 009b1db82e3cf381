"""GoMeasurer against fake Go mirrors on loopback: what `unstall mirrors rank` learns of each.

Every mirror and checksum database is a real HTTP server on 127.0.0.0/8
(tests/support/mirrors.py); the client ignores proxy variables, so nothing leaves
the machine. Assertions are on the ArtifactCheck the ranking receives.
"""

from __future__ import annotations

import asyncio
import io
import time
import zipfile

import httpx
import pytest

from tests.support.faults import CorruptZip, Status, WrongContent
from tests.support.mirrors import (
    SUMDB_NAME,
    GoMirrors,
    GoSample,
    go_candidate,
    make_go_sample,
    sumdb_answer,
)
from tests.support.modfactory import make_module
from tests.support.upstream import FakeUpstream, UpstreamPool
from unstall.goproxy.paths import escape
from unstall.mirrors.measure_go import GoMeasurer
from unstall.mirrors.model import ArtifactCheck, Ecosystem, GoChecksumDb, Measurer, Sample

TIMEOUT = 1.0  # per request: short, so failures show fast
HANG = 15.0  # a generous "did not hang" bound
LOOKUPS = f"/sumdb/{SUMDB_NAME}/lookup/*"
TIMEOUT_CAUSES = {"http-timeout", "tcp-timeout", "tls-timeout"}


@pytest.fixture(scope="module")
def sample() -> GoSample:
    """Three 1 MiB versions of fixture.test/mirror/Sample (built once: random bytes cost)."""
    return make_go_sample()


@pytest.fixture
def mirrors(upstream_factory: UpstreamPool, sample: GoSample) -> GoMirrors:
    return GoMirrors(upstream_factory, sample)


@pytest.fixture
def database(mirrors: GoMirrors) -> tuple[FakeUpstream, GoChecksumDb]:
    """The checksum database asked directly (a loopback server, never a real host)."""
    return mirrors.checksum_db()


def measure(
    server: FakeUpstream,
    checksum_db: GoChecksumDb | None,
    sample: Sample,
    *,
    timeout: float = TIMEOUT,
    max_zip_bytes: int = 64 << 20,
) -> ArtifactCheck:
    measurer: Measurer = GoMeasurer(checksum_db, timeout=timeout, max_zip_bytes=max_zip_bytes)

    async def run() -> ArtifactCheck:
        async with httpx.AsyncClient(trust_env=False) as client:
            return await measurer(go_candidate(server), sample, client)

    return asyncio.run(run())


def zip_path(sample: GoSample, version: str) -> str:
    return f"/{escape(sample.path)}/@v/{version}.zip"


def test_healthy_mirror_delivers_the_newest_version_verified_through_its_sumdb(
    mirrors: GoMirrors, database: tuple[FakeUpstream, GoChecksumDb], sample: GoSample
) -> None:
    mirror = mirrors.healthy()
    db_server, db = database

    check = measure(mirror, db, sample.sample)

    newest = sample.newest
    assert (check.correct, check.reason, check.cause) == (True, None, None)
    assert check.sumdb is True
    assert check.newest == newest.version == "v1.2.0"
    assert check.versions == frozenset(sample.versions)
    assert check.artifact == f"{sample.path}@{newest.version}"
    assert check.digest == f"{newest.h1_mod} {newest.h1_zip}"
    assert check.size == len(newest.zip_bytes) > 1 << 20
    assert check.ttfb_ms is not None
    assert check.ttfb_ms > 0
    assert check.throughput_kbps is not None
    assert check.throughput_kbps > 0
    # Case-escaped path, one zip download, the lookup through the mirror, as go does.
    assert mirror.count(zip_path(sample, newest.version)) == 1
    assert mirror.count(LOOKUPS) == 1
    assert db_server.count("*") == 0


def test_mirror_without_sumdb_is_checked_against_the_database_directly(
    mirrors: GoMirrors, database: tuple[FakeUpstream, GoChecksumDb], sample: GoSample
) -> None:
    mirror = mirrors.without_sumdb()
    db_server, db = database

    check = measure(mirror, db, sample.sample)

    assert (check.correct, check.sumdb, check.cause) == (True, False, None)
    assert check.newest == sample.newest.version
    assert mirror.count(f"/sumdb/{SUMDB_NAME}/supported") == 1
    assert db_server.count("/sumdb/*/lookup/*") == 1


def test_mirror_serving_a_different_zip_is_incorrect_and_the_reason_names_both_hashes(
    mirrors: GoMirrors, database: tuple[FakeUpstream, GoChecksumDb], sample: GoSample
) -> None:
    mirror = mirrors.corrupted()
    served = sample.tampered()
    assert served.h1_zip != sample.newest.h1_zip

    check = measure(mirror, database[1], sample.sample)

    assert (check.correct, check.cause) == (False, "checksum-mismatch")
    assert check.reason is not None
    assert sample.newest.h1_zip in check.reason
    assert served.h1_zip in check.reason
    assert "go.mod" not in check.reason  # the go.mod is the real one
    assert check.digest == f"{sample.newest.h1_mod} {served.h1_zip}"
    assert check.newest == sample.newest.version


def test_database_disagreeing_on_both_files_names_the_zip_and_the_gomod(
    mirrors: GoMirrors, database: tuple[FakeUpstream, GoChecksumDb], sample: GoSample
) -> None:
    mirror = mirrors.healthy()
    other = make_module(
        sample.path,
        sample.newest.version,
        requires=[("fixture.test/other", "v1.0.0")],
        import_requires=False,
    )
    mirror.add_fault(LOOKUPS, WrongContent(sumdb_answer(7, other)))

    check = measure(mirror, database[1], sample.sample)

    assert (check.correct, check.cause) == (False, "checksum-mismatch")
    assert check.reason is not None
    for expected in (other.h1_zip, other.h1_mod, sample.newest.h1_zip, sample.newest.h1_mod):
        assert expected in check.reason
    assert "go.mod" in check.reason


def test_stale_mirror_offers_an_older_newest_version(
    mirrors: GoMirrors, database: tuple[FakeUpstream, GoChecksumDb], sample: GoSample
) -> None:
    mirror = mirrors.stale()

    check = measure(mirror, database[1], sample.sample)

    assert check.newest == sample.previous.version == "v1.1.0"
    assert sample.newest.version not in check.versions
    assert check.versions == frozenset(sample.versions[:-1])
    assert check.correct is True  # what it has is right, only old
    assert check.digest == f"{sample.previous.h1_mod} {sample.previous.h1_zip}"


def test_slow_mirror_within_the_deadline_is_measured(
    mirrors: GoMirrors, database: tuple[FakeUpstream, GoChecksumDb], sample: GoSample
) -> None:
    mirror = mirrors.slow(0.2)

    check = measure(mirror, database[1], sample.sample)

    assert (check.correct, check.cause) == (True, None)
    assert check.ttfb_ms is not None
    assert check.throughput_kbps is not None
    assert check.size == len(sample.newest.zip_bytes)


def test_mirror_slower_than_the_deadline_times_out(
    mirrors: GoMirrors, database: tuple[FakeUpstream, GoChecksumDb], sample: GoSample
) -> None:
    mirror = mirrors.slow(3.0)

    started = time.monotonic()
    check = measure(mirror, database[1], sample.sample, timeout=0.5)

    assert time.monotonic() - started < HANG
    assert check.cause == "http-timeout"
    assert (check.correct, check.digest, check.newest) == (None, None, None)


def test_blackholed_mirror_returns_with_a_timeout_cause(
    mirrors: GoMirrors, database: tuple[FakeUpstream, GoChecksumDb], sample: GoSample
) -> None:
    mirror = mirrors.blackholed()

    started = time.monotonic()
    check = measure(mirror, database[1], sample.sample, timeout=0.5)

    assert time.monotonic() - started < HANG
    assert check.cause in TIMEOUT_CAUSES
    assert (check.correct, check.digest, check.ttfb_ms, check.throughput_kbps) == (
        None,
        None,
        None,
        None,
    )
    assert check.reason is not None
    assert f"{sample.path} list" in check.reason
    assert check.versions == frozenset()


def test_refused_mirror_reports_tcp_refused(
    mirrors: GoMirrors, database: tuple[FakeUpstream, GoChecksumDb], sample: GoSample
) -> None:
    check = measure(mirrors.refused(), database[1], sample.sample)

    assert check.cause == "tcp-refused"
    assert (check.correct, check.digest) == (None, None)


def test_zip_that_is_not_a_valid_zip_is_incorrect(
    mirrors: GoMirrors, database: tuple[FakeUpstream, GoChecksumDb], sample: GoSample
) -> None:
    mirror = mirrors.healthy()
    mirror.add_fault("*.zip", CorruptZip())

    check = measure(mirror, database[1], sample.sample)

    assert (check.correct, check.cause, check.digest) == (False, "integrity-zip", None)
    assert check.reason is not None
    assert "corrupt zip" in check.reason
    assert mirror.count(LOOKUPS) == 0


def test_zip_with_entries_outside_the_module_is_incorrect(
    mirrors: GoMirrors, database: tuple[FakeUpstream, GoChecksumDb], sample: GoSample
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("fixture.test/elsewhere@v1.2.0/go.mod", b"module fixture.test/elsewhere\n")
    mirror = mirrors.healthy()
    mirror.add_fault("*.zip", WrongContent(buffer.getvalue()))

    check = measure(mirror, database[1], sample.sample)

    assert (check.correct, check.cause, check.digest) == (False, "integrity-zip", None)
    assert check.reason is not None
    assert "outside" in check.reason


def test_zip_over_the_size_limit_is_abandoned_unchecked(
    mirrors: GoMirrors, database: tuple[FakeUpstream, GoChecksumDb], sample: GoSample
) -> None:
    check = measure(mirrors.healthy(), database[1], sample.sample, max_zip_bytes=64 * 1024)

    assert (check.correct, check.cause, check.digest) == (None, "integrity-size", None)
    assert check.reason is not None
    assert "65536 byte limit" in check.reason
    assert check.newest == sample.newest.version


def test_pseudo_versions_and_junk_in_the_list_are_ignored(
    mirrors: GoMirrors, database: tuple[FakeUpstream, GoChecksumDb], sample: GoSample
) -> None:
    mirror = mirrors.healthy()
    listing = (
        b"v1.0.0\n"
        b"v1.1.0 2024-01-02T03:04:05Z\n"
        b"v1.3.1-0.20240102030405-abcdefabcdef\n"
        b"not-a-version\n"
        b"\n"
    )
    mirror.add_fault("*/@v/list", WrongContent(listing))

    check = measure(mirror, database[1], sample.sample)

    assert check.versions == frozenset({"v1.0.0", "v1.1.0"})
    assert check.newest == "v1.1.0"
    assert check.correct is True


def test_empty_list_falls_back_to_latest(
    mirrors: GoMirrors, database: tuple[FakeUpstream, GoChecksumDb], sample: GoSample
) -> None:
    mirror = mirrors.healthy()
    mirror.add_fault("*/@v/list", WrongContent(b""))

    check = measure(mirror, database[1], sample.sample)

    assert check.versions == frozenset()
    assert check.newest == sample.newest.version
    assert mirror.count("*/@latest") == 1
    assert check.correct is True


def test_info_naming_another_version_is_incorrect(
    mirrors: GoMirrors, database: tuple[FakeUpstream, GoChecksumDb], sample: GoSample
) -> None:
    mirror = mirrors.healthy()
    mirror.add_fault("*.info", WrongContent(b'{"Version":"v1.1.0"}'))

    check = measure(mirror, database[1], sample.sample)

    assert (check.correct, check.cause) == (False, "integrity-info")
    assert check.reason is not None
    assert "v1.1.0" in check.reason


@pytest.mark.parametrize(
    ("status", "cause"), [(503, "http-server-error"), (403, "http-client-error")]
)
def test_error_status_on_the_zip_carries_its_cause(
    mirrors: GoMirrors,
    database: tuple[FakeUpstream, GoChecksumDb],
    sample: GoSample,
    status: int,
    cause: str,
) -> None:
    mirror = mirrors.healthy()
    mirror.add_fault("*.zip", Status(status, body="mirror says no"))

    check = measure(mirror, database[1], sample.sample)

    assert (check.cause, check.correct, check.digest) == (cause, None, None)
    assert check.reason is not None
    assert str(status) in check.reason
    assert "mirror says no" in check.reason
    assert check.newest == sample.newest.version


def test_unknown_module_is_not_found(
    mirrors: GoMirrors, database: tuple[FakeUpstream, GoChecksumDb]
) -> None:
    check = measure(mirrors.healthy(), database[1], Sample(Ecosystem.GO, "fixture.test/absent"))

    assert (check.cause, check.correct, check.newest) == ("http-not-found", None, None)


def test_unreachable_database_leaves_the_artifact_unverified(
    mirrors: GoMirrors, sample: GoSample
) -> None:
    gone = mirrors.refused()
    db = GoChecksumDb(SUMDB_NAME, url=f"{gone.url}/sumdb/{SUMDB_NAME}")

    check = measure(mirrors.without_sumdb(), db, sample.sample)

    assert (check.correct, check.sumdb, check.cause) == (None, False, "tcp-refused")
    assert check.reason is not None
    assert SUMDB_NAME in check.reason
    assert check.digest == f"{sample.newest.h1_mod} {sample.newest.h1_zip}"
    assert check.throughput_kbps is not None


def test_failing_sumdb_proxy_leaves_the_artifact_unverified(
    mirrors: GoMirrors, database: tuple[FakeUpstream, GoChecksumDb], sample: GoSample
) -> None:
    mirror = mirrors.healthy()
    mirror.add_fault(LOOKUPS, Status(500, body="sumdb backend down"))
    db_server, db = database

    check = measure(mirror, db, sample.sample)

    assert (check.correct, check.sumdb, check.cause) == (None, True, "sumdb-proxy-error")
    assert check.reason is not None
    assert "sumdb backend down" in check.reason
    assert db_server.count("*") == 0  # go would not ask the database itself either


def test_malformed_lookup_answer_leaves_the_artifact_unverified(
    mirrors: GoMirrors, database: tuple[FakeUpstream, GoChecksumDb], sample: GoSample
) -> None:
    mirror = mirrors.healthy()
    mirror.add_fault(LOOKUPS, WrongContent(b"not a lookup answer\n"))

    check = measure(mirror, database[1], sample.sample)

    assert (check.correct, check.cause) == (None, "sumdb-proxy-error")
    assert check.reason is not None
    assert "record id" in check.reason


def test_without_a_checksum_database_nothing_is_compared(
    mirrors: GoMirrors, sample: GoSample
) -> None:
    mirror = mirrors.healthy()

    check = measure(mirror, None, sample.sample)

    assert (check.correct, check.sumdb) == (None, None)
    assert check.reason is not None
    assert "no checksum database" in check.reason
    assert check.digest == f"{sample.newest.h1_mod} {sample.newest.h1_zip}"
    assert mirror.count("/sumdb/*") == 0
