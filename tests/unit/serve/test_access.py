"""Per-request accounting: endpoint labels, the JSON access log and the request metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from unstall.errors import ConfigError
from unstall.goproxy.app import RECORD_KEY
from unstall.observe.metrics import Metrics
from unstall.serve.access import AccessLog, AccessMiddleware, access_logger, endpoint_of


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/example.test/m/@v/list", "list"),
        ("/example.test/m/v2/@latest", "latest"),
        ("/example.test/m/@v/v1.2.3.info", "info"),
        ("/example.test/m/@v/v1.2.3.mod", "mod"),
        ("/example.test/m/@v/v1.2.3.zip", "zip"),
        ("/sumdb/sum.example.test/supported", "sumdb"),
        ("/sumdb/sum.example.test/lookup/example.test/m@v1.2.3.zip", "sumdb"),
        ("/sumdb/sum.example.test/tile/8/0/001", "sumdb"),
        ("/healthz", "healthz"),
        ("/readyz", "readyz"),
        ("/metrics", "metrics"),
        ("/", "other"),
        ("/favicon.ico", "other"),
        ("/healthz/", "other"),
        ("/metrics/extra", "other"),
        ("/example.test/m/@v/", "other"),
        ("/example.test/m/@v/v1.2.3.ziphash", "other"),
    ],
)
def test_endpoint_of(path: str, endpoint: str) -> None:
    assert endpoint_of(path) == endpoint


class Lines(logging.Handler):
    """Collects the formatted messages of a logger."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture
def log(request: pytest.FixtureRequest) -> Iterator[tuple[logging.Logger, Lines]]:
    logger = logging.getLogger(f"tests.access.{request.node.name}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    lines = Lines()
    logger.addHandler(lines)
    yield logger, lines
    logger.removeHandler(lines)


def _app(
    status: int = 200, chunks: tuple[bytes, ...] = (b"",), headers: dict[str, str] | None = None
) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raw = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        for n, chunk in enumerate(chunks):
            more = n < len(chunks) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    return app


async def _aget(app: ASGIApp, path: str, *, raise_app_exceptions: bool = True) -> httpx.Response:
    transport = httpx.ASGITransport(
        app=app, raise_app_exceptions=raise_app_exceptions, client=("192.0.2.7", 4321)
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy.test") as client:
        return await client.get(path)


def _get(app: ASGIApp, path: str, *, raise_app_exceptions: bool = True) -> httpx.Response:
    return asyncio.run(_aget(app, path, raise_app_exceptions=raise_app_exceptions))


def _count(metrics: Metrics, endpoint: str, status: str) -> float | None:
    return metrics.registry.get_sample_value(
        "unstall_http_requests_total", {"endpoint": endpoint, "status": status}
    )


def test_one_json_line_per_request(log: tuple[logging.Logger, Lines]) -> None:
    logger, lines = log
    metrics = Metrics()
    app = _app(
        chunks=(b"PK\x03\x04", b"x" * 96),
        headers={"X-Unstall-Cache": "miss", "X-Unstall-Upstream": "https://mirror-a.example.test"},
    )
    response = _get(AccessMiddleware(app, metrics, logger), "/example.test/m/@v/v1.0.0.zip")
    assert response.status_code == 200
    assert len(response.content) == 100
    [record] = lines.records()
    assert record["method"] == "GET"
    assert record["path"] == "/example.test/m/@v/v1.0.0.zip"
    assert record["endpoint"] == "zip"
    assert record["status"] == 200
    assert record["bytes"] == 100
    assert record["cache"] == "miss"
    assert record["upstream"] == "https://mirror-a.example.test"
    assert record["remote"] == "192.0.2.7"
    assert record["user"] is None
    assert record["duration_ms"] >= 0
    assert record["time"].endswith("Z")
    assert "\n" not in lines.lines[0]


def test_missing_cache_headers_are_logged_as_null(log: tuple[logging.Logger, Lines]) -> None:
    logger, lines = log
    _get(AccessMiddleware(_app(404, (b"not found",)), Metrics(), logger), "/m/@v/v9.info")
    [record] = lines.records()
    assert record["status"] == 404
    assert record["bytes"] == len(b"not found")
    assert record["endpoint"] == "info"
    assert record["cache"] is None
    assert record["upstream"] is None


def test_the_user_set_by_an_inner_middleware_is_logged(log: tuple[logging.Logger, Lines]) -> None:
    logger, lines = log
    inner = _app(chunks=(b"v1.0.0\n",))

    async def authenticated(scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})["user"] = "alice"
        await inner(scope, receive, send)

    _get(AccessMiddleware(authenticated, Metrics(), logger), "/m/@v/list")
    [record] = lines.records()
    assert record["user"] == "alice"
    assert record["endpoint"] == "list"


def test_requests_are_counted_in_the_metrics() -> None:
    metrics = Metrics()
    ok = AccessMiddleware(_app(chunks=(b"a" * 10,)), metrics, None)
    missing = AccessMiddleware(_app(404, (b"nope",)), metrics, None)
    _get(ok, "/m/@v/v1.0.0.mod")
    _get(ok, "/m/@v/v1.1.0.mod")
    _get(missing, "/m/@v/v9.0.0.mod")
    _get(ok, "/healthz")
    assert _count(metrics, "mod", "200") == 2.0
    assert _count(metrics, "mod", "404") == 1.0
    assert _count(metrics, "healthz", "200") == 1.0
    assert _count(metrics, "zip", "200") is None
    registry = metrics.registry
    assert registry.get_sample_value("unstall_http_response_bytes_total", {"endpoint": "mod"}) == 24
    assert (
        registry.get_sample_value(
            "unstall_http_request_duration_seconds_count", {"endpoint": "mod"}
        )
        == 3
    )


def test_an_app_that_raises_is_counted_as_500(log: tuple[logging.Logger, Lines]) -> None:
    logger, lines = log
    metrics = Metrics()

    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    middleware = AccessMiddleware(broken, metrics, logger)
    with pytest.raises(RuntimeError, match="boom"):
        _get(middleware, "/m/@latest")
    response = _get(middleware, "/m/@latest", raise_app_exceptions=False)
    assert response.status_code == 500
    assert _count(metrics, "latest", "500") == 2.0
    assert [r["status"] for r in lines.records()] == [500, 500]
    assert [r["bytes"] for r in lines.records()] == [0, 0]


def test_no_logger_still_counts() -> None:
    metrics = Metrics()
    _get(AccessMiddleware(_app(), metrics, None), "/metrics")
    assert _count(metrics, "metrics", "200") == 1.0


def test_non_http_scopes_pass_through_uncounted() -> None:
    metrics = Metrics()
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def receive() -> dict[str, str]:
        return {"type": "lifespan.startup"}

    async def send(message: object) -> None:
        raise AssertionError("nothing should be sent")

    asyncio.run(AccessMiddleware(inner, metrics, None)({"type": "lifespan"}, receive, send))
    assert seen == ["lifespan"]
    samples = [s for m in metrics.registry.collect() for s in m.samples]
    assert not [s for s in samples if s.name == "unstall_http_requests_total"]


def test_access_logger_off_is_none() -> None:
    assert access_logger("off") is None


def test_access_log_to_a_file_is_buffered_and_flushed(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    log = access_logger(str(path))
    assert log is not None
    metrics = Metrics()
    app = AccessMiddleware(_app(chunks=(b"{}",), headers={"X-Unstall-Cache": "hit"}), metrics, log)

    async def two_requests_then_wait() -> str:
        await _aget(app, "/m/@v/v1.0.0.info")
        await _aget(app, "/m/@latest")
        buffered = path.read_text(encoding="utf-8")
        await asyncio.sleep(0.8)  # past the half-second flush
        return buffered

    buffered = asyncio.run(two_requests_then_wait())
    assert buffered == ""
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["endpoint"] for line in lines] == ["info", "latest"]
    assert json.loads(lines[0])["cache"] == "hit"
    log.close()


def test_access_log_appends_and_close_writes_what_is_pending(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text('{"earlier":true}\n')
    log = access_logger(str(path))
    assert log is not None
    log.info('{"status":200}')  # no running loop: written at once
    log.close()
    assert path.read_text().splitlines() == ['{"earlier":true}', '{"status":200}']


def test_access_log_dash_writes_to_stdout(capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    log = access_logger("-")
    assert log is not None
    log.info('{"status":200}')
    log.close()
    assert capfdbinary.readouterr().out == b'{"status":200}\n'


def test_an_unwritable_access_log_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        access_logger(str(tmp_path / "missing-dir" / "access.log"))
    assert "missing-dir" in caught.value.message
    assert "--access-log" in caught.value.fix


def test_workers_sharing_a_pipe_never_interleave_inside_a_line() -> None:
    read_end, write_end = os.pipe()
    lines_per_writer, writers = 3000, 3
    children = []
    for writer in range(writers):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.close(read_end)

            async def burst(writer: int = writer) -> None:  # in a loop: 64 KiB flushes
                log = AccessLog(write_end, owned=True)
                for n in range(lines_per_writer):
                    log.info(json.dumps({"writer": writer, "n": n, "pad": "x" * 150}))
                log.close()

            asyncio.run(burst())
            os._exit(0)
        children.append(pid)
    os.close(write_end)
    received = b""
    while chunk := os.read(read_end, 1 << 16):
        received += chunk
    os.close(read_end)
    for pid in children:
        assert os.waitpid(pid, 0)[1] == 0
    records = [json.loads(line) for line in received.decode().splitlines()]
    assert len(records) == writers * lines_per_writer
    for writer in range(writers):
        assert [r["n"] for r in records if r["writer"] == writer] == list(range(lines_per_writer))


def test_an_app_that_records_its_answer_is_not_watched() -> None:
    async def recorded(scope: Scope, receive: Receive, send: Send) -> None:
        record = scope[RECORD_KEY]
        headers = [(b"content-length", b"2"), (b"x-unstall-cache", b"hit")]
        record.status, record.headers, record.sent = 203, headers, 2
        await send({"type": "http.response.start", "status": 203, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    lines: list[str] = []

    class Sink:
        def info(self, line: str) -> None:
            lines.append(line)

    metrics = Metrics()
    response = _get(AccessMiddleware(recorded, metrics, Sink(), app_records=True), "/m/@latest")
    assert response.status_code == 203
    [line] = lines
    assert json.loads(line)["status"] == 203
    assert json.loads(line)["cache"] == "hit"
    assert _count(metrics, "latest", "203") == 1.0
