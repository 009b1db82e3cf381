"""fetch_once against a real loopback server: statuses, size limits, Range resume, deadlines."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.faults import ResetBody, StallBody, StallHeaders, Status, Truncate
from tests.support.modfactory import FixtureModule, ModuleSet, make_module
from tests.support.routes import etag
from tests.support.upstream import FakeUpstream, UpstreamPool
from unstall.errors import (
    ConnectionFailed,
    FetchError,
    IntegrityError,
    NotFound,
    PhaseTimeout,
    TransientError,
    UpstreamBusy,
    UpstreamRejected,
)
from unstall.http.client import make_client
from unstall.http.fetch import AttemptReport, fetch_once
from unstall.http.sinks import MemorySink
from unstall.resilience.timeouts import Timeouts

MODULE = "fixture.test/fetch"
ZIP_PATH = f"/{MODULE}/@v/v1.0.0.zip"
LIMIT = 1 << 20
HANG = 10.0
TIMEOUTS = Timeouts(connect=5, tls=5, first_byte=5, stall=5, total=30)


@pytest.fixture
def module() -> FixtureModule:
    return make_module(MODULE, "v1.0.0", payload_size=8192)


@pytest.fixture
def server(upstream_factory: UpstreamPool, module: FixtureModule) -> FakeUpstream:
    return upstream_factory(ModuleSet([module]))


def _fetch(
    url: str,
    sink: MemorySink,
    *,
    timeouts: Timeouts = TIMEOUTS,
    report: AttemptReport | None = None,
) -> AttemptReport:
    async def main() -> AttemptReport:
        client = make_client(timeouts)
        try:
            async with asyncio.timeout(HANG):
                return await fetch_once(
                    client,
                    url,
                    sink,
                    timeouts=timeouts,
                    upstream="fake",
                    report=report or AttemptReport(),
                )
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_a_whole_artifact_arrives(server: FakeUpstream, module: FixtureModule) -> None:
    sink = MemorySink(LIMIT)
    report = AttemptReport()
    first_bytes: list[bool] = []

    async def main() -> AttemptReport:
        client = make_client(TIMEOUTS)
        try:
            return await fetch_once(
                client,
                server.url + ZIP_PATH,
                sink,
                timeouts=TIMEOUTS,
                upstream="fake",
                report=report,
                on_first_byte=lambda: first_bytes.append(True),
            )
        finally:
            await client.aclose()

    outcome = asyncio.run(main())

    assert outcome.status == 200
    assert sink.getvalue() == module.zip_bytes
    assert outcome.received == len(module.zip_bytes) == report.received
    assert outcome.resumed_from == 0
    assert first_bytes == [True]
    assert sink.validator == etag(module.zip_bytes)
    assert outcome.timings.total is not None
    assert report.timings.first_byte is not None


def test_404_is_not_found_with_the_upstreams_reason(server: FakeUpstream) -> None:
    server.add_fault(ZIP_PATH, Status(404, body="no such module: gone from origin"))
    sink = MemorySink(LIMIT)

    with pytest.raises(NotFound) as caught:
        _fetch(server.url + ZIP_PATH, sink)

    assert caught.value.status == 404
    assert "gone from origin" in str(caught.value)
    assert "404" in str(caught.value)
    assert caught.value.upstream == "fake"
    assert not isinstance(caught.value, TransientError)
    assert sink.offset == 0


def test_unknown_version_is_not_found(server: FakeUpstream) -> None:
    with pytest.raises(NotFound, match="not found"):
        _fetch(f"{server.url}/{MODULE}/@v/v9.9.9.info", MemorySink(LIMIT))


def test_410_is_not_found_too(server: FakeUpstream) -> None:
    server.add_fault(ZIP_PATH, Status(410, body="removed"))

    with pytest.raises(NotFound) as caught:
        _fetch(server.url + ZIP_PATH, MemorySink(LIMIT))

    assert caught.value.status == 410


def test_503_with_retry_after_is_busy(server: FakeUpstream) -> None:
    server.add_fault(ZIP_PATH, Status(503, retry_after=7, body="overloaded"))

    with pytest.raises(UpstreamBusy) as caught:
        _fetch(server.url + ZIP_PATH, MemorySink(LIMIT))

    assert caught.value.status == 503
    assert caught.value.retry_after == 7.0
    assert "overloaded" in str(caught.value)
    assert isinstance(caught.value, TransientError)


def test_429_without_retry_after_is_busy(server: FakeUpstream) -> None:
    server.add_fault(ZIP_PATH, Status(429))

    with pytest.raises(UpstreamBusy) as caught:
        _fetch(server.url + ZIP_PATH, MemorySink(LIMIT))

    assert caught.value.status == 429
    assert caught.value.retry_after is None


def test_403_is_a_definitive_rejection(server: FakeUpstream) -> None:
    server.add_fault(ZIP_PATH, Status(403, body="forbidden by policy"))

    with pytest.raises(UpstreamRejected) as caught:
        _fetch(server.url + ZIP_PATH, MemorySink(LIMIT))

    assert "forbidden by policy" in str(caught.value)
    assert caught.value.upstream == "fake"
    assert not isinstance(caught.value, TransientError)


def test_declared_size_over_the_limit_fails_before_reading(
    server: FakeUpstream, module: FixtureModule
) -> None:
    sink = MemorySink(len(module.zip_bytes) - 1)
    report = AttemptReport()

    with pytest.raises(IntegrityError) as caught:
        _fetch(server.url + ZIP_PATH, sink, report=report)

    assert caught.value.cause == "integrity-size"
    assert caught.value.upstream == "fake"
    assert sink.offset == 0
    assert report.received == 0


@pytest.mark.parametrize("with_validator", [True, False], ids=["if-range", "plain-range"])
def test_resumed_sink_is_completed_with_a_range_request(
    server: FakeUpstream, module: FixtureModule, with_validator: bool
) -> None:
    held = 1000
    sink = MemorySink(LIMIT)
    sink.write(module.zip_bytes[:held])
    if with_validator:
        sink.validator = etag(module.zip_bytes)

    outcome = _fetch(server.url + ZIP_PATH, sink)

    assert outcome.status == 206
    assert outcome.resumed_from == held
    assert outcome.received == len(module.zip_bytes) - held
    assert sink.getvalue() == module.zip_bytes
    request = server.requests[-1]
    assert request.headers["range"] == f"bytes={held}-"
    assert request.headers.get("if-range") == (etag(module.zip_bytes) if with_validator else None)


def test_server_ignoring_range_resets_the_sink(server: FakeUpstream, module: FixtureModule) -> None:
    sink = MemorySink(LIMIT)
    sink.write(b"bytes of an older response")
    sink.validator = '"an-older-etag"'  # If-Range no longer matches: the server sends 200

    outcome = _fetch(server.url + ZIP_PATH, sink)

    assert outcome.status == 200
    assert sink.getvalue() == module.zip_bytes
    assert sink.validator == etag(module.zip_bytes)


def test_range_past_the_end_resets_the_sink(server: FakeUpstream, module: FixtureModule) -> None:
    sink = MemorySink(LIMIT)
    sink.write(module.zip_bytes + b"extra")

    with pytest.raises(ConnectionFailed) as caught:
        _fetch(server.url + ZIP_PATH, sink)

    assert caught.value.cause == "transfer-truncated"
    assert sink.offset == 0


def test_reset_mid_body_keeps_bytes_for_a_resume(
    server: FakeUpstream, module: FixtureModule
) -> None:
    server.add_fault(ZIP_PATH, ResetBody(after_bytes=3000))
    sink = MemorySink(LIMIT)

    with pytest.raises(ConnectionFailed) as caught:
        _fetch(server.url + ZIP_PATH, sink)

    assert isinstance(caught.value, TransientError)
    assert 0 < sink.offset < len(module.zip_bytes)
    held = sink.offset

    outcome = _fetch(server.url + ZIP_PATH, sink)

    assert outcome.resumed_from == held
    assert sink.getvalue() == module.zip_bytes


def test_truncated_body_is_a_transient_failure(server: FakeUpstream) -> None:
    server.add_fault(ZIP_PATH, Truncate(after_bytes=100))

    with pytest.raises(FetchError) as caught:
        _fetch(server.url + ZIP_PATH, MemorySink(LIMIT))

    assert isinstance(caught.value, TransientError)
    assert caught.value.cause == "transfer-truncated"


def test_headers_that_never_come_time_out_in_first_byte(server: FakeUpstream) -> None:
    server.add_fault(ZIP_PATH, StallHeaders(seconds=5))
    timeouts = Timeouts(connect=5, tls=5, first_byte=0.2, stall=5, total=30)

    with pytest.raises(PhaseTimeout) as caught:
        _fetch(server.url + ZIP_PATH, MemorySink(LIMIT), timeouts=timeouts)

    assert caught.value.phase == "first_byte"
    assert caught.value.upstream == "fake"


def test_a_body_that_stops_times_out_as_a_stall(server: FakeUpstream) -> None:
    server.add_fault(ZIP_PATH, StallBody(after_bytes=1000, seconds=5))
    timeouts = Timeouts(connect=5, tls=5, first_byte=5, stall=0.2, total=30)
    sink = MemorySink(LIMIT)

    with pytest.raises(PhaseTimeout) as caught:
        _fetch(server.url + ZIP_PATH, sink, timeouts=timeouts)

    assert caught.value.phase == "stall"
    assert caught.value.cause == "transfer-stall"


def test_nothing_listening_is_connection_refused(upstream_factory: UpstreamPool) -> None:
    refused = upstream_factory(mode="refuse")

    with pytest.raises(ConnectionFailed) as caught:
        _fetch(refused.url + ZIP_PATH, MemorySink(LIMIT))

    assert caught.value.cause == "tcp-refused"
