"""Sentry and OTLP tracing against loopback receivers that speak the real protocols.

The OTLP receiver accepts ``POST /v1/traces`` and parses the protobuf request; the
Sentry receiver accepts envelopes at ``/api/<project>/envelope/``. Events are fed to the
bus as the engine, doctor and fleet publish them; what reaches the receivers is what a
user would see in Jaeger or Sentry.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from unstall.errors import ConfigError
from unstall.events import (
    ArtifactFinished,
    AttemptFinished,
    AttemptStarted,
    DoctorVerdict,
    Event,
    EventBus,
    FleetHostChanged,
    HedgeStarted,
    PhaseTimings,
    RetryScheduled,
    RunFinished,
    RunStarted,
    Sink,
)
from unstall.observe.history import History
from unstall.observe.schema import connect
from unstall.observe.sentry_sink import SentrySink
from unstall.observe.tracing import attach_tracing

MODULE = "example.test/lib"
VERSION = "v1.4.2"
ARTIFACT = f"{MODULE}@{VERSION}.zip"
SECRET = "hunter2-s3cret"
# Both upstreams are mirrors under example.test; the first one's name carries a password.
MIRROR_A = f"https://ci:{SECRET}@mirror-a.example.test"
MIRROR_B = "https://mirror-b.example.test"
# Export and flush are synchronous on close; this only proves nothing hangs.
CLOSE_LIMIT_S = 30.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


@dataclass
class Receiver:
    """A loopback HTTP server recording every POST (bodies decompressed)."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


def _decode(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    assert encoding in ("", "identity"), f"unexpected Content-Encoding {encoding}"
    return body


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    requests: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            body = _decode(raw, self.headers.get("Content-Encoding", "").lower())
            requests.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            if self.path == "/v1/traces":
                answer = ExportTraceServiceResponse().SerializeToString()
                kind = "application/x-protobuf"
            else:
                answer, kind = b"{}", "application/json"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Receiver(server, requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _close_in_time(close: Any) -> None:
    started = time.monotonic()
    close()
    assert time.monotonic() - started < CLOSE_LIMIT_S, "closing the tracing sinks hung"


# --- OTLP ---------------------------------------------------------------------------


def _spans(receiver: Receiver) -> list[tuple[dict[str, Any], Span]]:
    """Every exported span with its resource's attributes."""
    found: list[tuple[dict[str, Any], Span]] = []
    for request in receiver.requests:
        assert request.path == "/v1/traces"
        assert request.headers["content-type"] == "application/x-protobuf"
        message = ExportTraceServiceRequest()
        message.ParseFromString(request.body)
        for resource_spans in message.resource_spans:
            resource = _attrs(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                found.extend((resource, span) for span in scope_spans.spans)
    return found


def _attrs(pairs: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        which = pair.value.WhichOneof("value")
        values[pair.key] = getattr(pair.value, which)
    return values


def _at(span_ns: int, seconds: float) -> bool:
    # Nanosecond integers from float seconds: equal up to float rounding.
    return abs(span_ns - seconds * 1e9) < 1_000


def _fetch_events(t: float) -> list[Event]:
    """One artifact: a reset on mirror A, a retry there that is slow, a hedge to mirror B
    that wins (the retry is then cancelled); a cache hit of another artifact."""
    reset = PhaseTimings(connect=0.01, tls=0.02, first_byte=0.10, transfer=0.20, total=0.30)
    won = PhaseTimings(connect=0.01, tls=0.03, first_byte=0.08, transfer=0.10, total=0.18)
    return [
        RunStarted("run-1", "go", ("mod", "download"), at=t - 0.1),
        AttemptStarted(ARTIFACT, MIRROR_A, 1, at=t),
        AttemptFinished(
            ARTIFACT,
            MODULE,
            VERSION,
            "zip",
            upstream=MIRROR_A,
            attempt=1,
            outcome="error",
            cause="tcp-reset",
            timings=reset,
            bytes=4096,
            error=f"read from {MIRROR_A}/example.test/lib: connection reset by peer",
            at=t + 0.30,
        ),
        RetryScheduled(ARTIFACT, MIRROR_A, 2, 0.05, "tcp-reset"),
        AttemptStarted(ARTIFACT, MIRROR_A, 2, at=t + 0.35),
        HedgeStarted(ARTIFACT, MIRROR_B, 0.5, "slow"),
        AttemptStarted(ARTIFACT, MIRROR_B, 1, hedge=True, at=t + 0.85),
        AttemptFinished(
            ARTIFACT,
            MODULE,
            VERSION,
            "zip",
            upstream=MIRROR_B,
            attempt=1,
            outcome="ok",
            cause="ok",
            timings=won,
            bytes=8192,
            at=t + 1.03,
        ),
        AttemptFinished(
            ARTIFACT,
            MODULE,
            VERSION,
            "zip",
            upstream=MIRROR_A,
            attempt=2,
            outcome="cancelled",
            cause="ok",
            timings=PhaseTimings(total=0.68),
            bytes=0,
            at=t + 1.03,
        ),
        ArtifactFinished(
            ARTIFACT,
            MODULE,
            VERSION,
            "zip",
            outcome="ok",
            upstream=MIRROR_B,
            attempts=3,
            hedges=1,
            bytes=8192,
            duration=1.05,
            cause="ok",
            won_by="hedge",
        ),
        ArtifactFinished(
            "example.test/other@v0.1.0.mod",
            "example.test/other",
            "v0.1.0",
            "mod",
            "ok",
            None,
            0,
            0,
            120,
            0.0,
            "ok",
            cached=True,
        ),
        RunFinished("run-1", 0),
    ]


def test_otlp_exports_a_span_tree_per_fetch(receiver: Receiver) -> None:
    bus = EventBus()
    close = attach_tracing(bus, otlp_endpoint=receiver.base, environ={})
    # In the past, so that the fetch ends (when ArtifactFinished arrives) after its attempts.
    t = time.time() - 2.0
    for event in _fetch_events(t):
        bus.publish(event)
    _close_in_time(close)

    spans = _spans(receiver)
    assert spans, "nothing reached the OTLP receiver"
    assert {r["service.name"] for r, _ in spans} == {"unstall"}
    by_name = {s.name: s for _, s in spans}
    names = sorted(by_name)
    fetch = by_name[f"fetch zip {MODULE}@{VERSION}"]
    # Upstream names are redacted in span names and attributes.
    mirror_a = "https://***@mirror-a.example.test"
    first = by_name[f"attempt 1 {mirror_a}"]
    retry = by_name[f"attempt 2 {mirror_a}"]
    hedge = by_name[f"attempt 1 {MIRROR_B}"]
    phases = [s for _, s in spans if s.name in ("connect", "tls", "first_byte", "transfer")]
    # The cache hit has no span; nothing else was exported.
    assert len(spans) == 4 + len(phases), names
    assert len(phases) == 8  # four each for the two attempts that got a response
    assert not any("other" in n for n in names)

    # One trace; the fetch is the root, the attempts its children, the phases theirs.
    assert len({s.trace_id for _, s in spans}) == 1
    assert fetch.parent_span_id == b""
    for attempt in (first, retry, hedge):
        assert attempt.parent_span_id == fetch.span_id
    assert {p.parent_span_id for p in phases} == {first.span_id, hedge.span_id}

    assert _attrs(fetch.attributes) == {
        "module": MODULE,
        "version": VERSION,
        "kind": "zip",
        "outcome": "ok",
        "upstream": MIRROR_B,
        "attempts": 3,
        "hedges": 1,
        "bytes": 8192,
        "cached": False,
        "cause": "ok",
        "won_by": "hedge",
        "run_id": "run-1",
    }
    assert fetch.status.code != Status.STATUS_CODE_ERROR
    assert [e.name for e in fetch.events] == ["retry", "hedge"]
    assert _attrs(fetch.events[1].attributes)["reason"] == "slow"

    first_attrs = _attrs(first.attributes)
    assert first_attrs["outcome"] == "error"
    assert first_attrs["cause"] == "tcp-reset"
    assert first_attrs["bytes"] == 4096
    assert first_attrs["hedge"] is False
    assert first.status.code == Status.STATUS_CODE_ERROR
    assert "connection reset by peer" in first.status.message
    assert _attrs(hedge.attributes)["hedge"] is True
    assert _attrs(hedge.attributes)["outcome"] == "ok"
    assert hedge.status.code != Status.STATUS_CODE_ERROR
    assert _attrs(retry.attributes)["outcome"] == "cancelled"
    assert retry.status.code != Status.STATUS_CODE_ERROR

    # Times: attempts where the events put them; phases laid end to end inside them.
    assert _at(first.start_time_unix_nano, t)
    assert _at(first.end_time_unix_nano, t + 0.30)
    assert _at(retry.start_time_unix_nano, t + 0.35)
    assert _at(hedge.start_time_unix_nano, t + 0.85)
    assert _at(hedge.end_time_unix_nano, t + 1.03)
    first_phases = sorted(
        (p for p in phases if p.parent_span_id == first.span_id),
        key=lambda p: p.start_time_unix_nano,
    )
    assert [p.name for p in first_phases] == ["connect", "tls", "first_byte", "transfer"]
    expected = [(t, t + 0.01), (t + 0.01, t + 0.03), (t + 0.03, t + 0.10), (t + 0.10, t + 0.30)]
    for phase, (start, end) in zip(first_phases, expected, strict=True):
        assert _at(phase.start_time_unix_nano, start), phase.name
        assert _at(phase.end_time_unix_nano, end), phase.name
    for phase in phases:
        parent = first if phase.parent_span_id == first.span_id else hedge
        assert parent.start_time_unix_nano <= phase.start_time_unix_nano
        assert phase.start_time_unix_nano <= phase.end_time_unix_nano
        assert phase.end_time_unix_nano <= parent.end_time_unix_nano
    for attempt in (first, retry, hedge):
        assert fetch.start_time_unix_nano <= attempt.start_time_unix_nano
        assert attempt.end_time_unix_nano <= fetch.end_time_unix_nano

    # The password in the upstream's name and error never left the process.
    assert all(SECRET.encode() not in r.body for r in receiver.requests)


def test_otlp_failed_fetch_doctor_and_fleet_spans_are_errors(receiver: Receiver) -> None:
    bus = EventBus()
    # A path given with the endpoint is used as it is.
    close = attach_tracing(bus, otlp_endpoint=f"{receiver.base}/v1/traces", environ={})
    t = time.time() - 1.0
    bus.publish(AttemptStarted(ARTIFACT, MIRROR_B, 1, at=t))
    bus.publish(
        AttemptFinished(
            ARTIFACT,
            MODULE,
            VERSION,
            "zip",
            upstream=MIRROR_B,
            attempt=1,
            outcome="error",
            cause="tcp-refused",
            timings=PhaseTimings(total=0.01),
            bytes=0,
            error="connection refused",
            at=t + 0.01,
        )
    )
    bus.publish(
        ArtifactFinished(
            ARTIFACT,
            MODULE,
            VERSION,
            "zip",
            outcome="failed",
            upstream=None,
            attempts=1,
            hedges=0,
            bytes=0,
            duration=0.02,
            cause="tcp-refused",
            error="every upstream failed: connection refused",
        )
    )
    bus.publish(
        DoctorVerdict(MIRROR_B, "go", "fail", "tcp", "tcp-refused", "connection refused", at=t)
    )
    bus.publish(FleetHostChanged("fleet-1", "web1", "running", 1, at=t))
    bus.publish(
        FleetHostChanged(
            "fleet-1",
            "web1",
            "failed",
            1,
            exit_code=100,
            duration_s=0.5,
            output_tail="Reading package lists...\nE: Unable to locate package foo",
            at=t + 0.5,
        )
    )
    _close_in_time(close)

    by_name = {s.name: s for _, s in _spans(receiver)}
    assert set(by_name) == {
        f"fetch zip {MODULE}@{VERSION}",
        f"attempt 1 {MIRROR_B}",
        f"doctor go {MIRROR_B}",
        "fleet host web1",
    }
    fetch = by_name[f"fetch zip {MODULE}@{VERSION}"]
    assert fetch.status.code == Status.STATUS_CODE_ERROR
    assert fetch.status.message == "every upstream failed: connection refused"
    assert "upstream" not in _attrs(fetch.attributes)
    assert by_name[f"attempt 1 {MIRROR_B}"].status.code == Status.STATUS_CODE_ERROR
    doctor = by_name[f"doctor go {MIRROR_B}"]
    assert doctor.status.code == Status.STATUS_CODE_ERROR
    assert _attrs(doctor.attributes)["cause"] == "tcp-refused"
    host = by_name["fleet host web1"]
    assert host.status.message == "E: Unable to locate package foo"
    assert _attrs(host.attributes)["exit_code"] == 100
    assert _at(host.start_time_unix_nano, t)
    assert _at(host.end_time_unix_nano, t + 0.5)


# --- Sentry -------------------------------------------------------------------------


def _envelope_events(receiver: Receiver) -> list[dict[str, Any]]:
    """The event payloads of every envelope the receiver got."""
    events: list[dict[str, Any]] = []
    for request in receiver.requests:
        assert request.path == "/api/42/envelope/"
        assert "sentry_key=publickey" in request.headers["x-sentry-auth"]
        lines = request.body.split(b"\n")
        json.loads(lines[0])  # the envelope header
        index = 1
        while index < len(lines) and lines[index]:
            item = json.loads(lines[index])
            if "length" in item:
                # Length-prefixed payload: it may contain newlines.
                start = sum(len(line) + 1 for line in lines[: index + 1])
                payload = request.body[start : start + item["length"]]
                consumed = payload.count(b"\n") + 1
            else:
                payload, consumed = lines[index + 1], 1
            if item["type"] == "event":
                events.append(json.loads(payload))
            index += 1 + consumed
    return events


def _failures(t: float) -> list[Event]:
    timings = PhaseTimings(connect=0.01, total=0.02)
    return [
        RunStarted("run-7", "go", ("mod", "download"), at=t),
        AttemptFinished(
            ARTIFACT,
            MODULE,
            VERSION,
            "zip",
            upstream=MIRROR_A,
            attempt=1,
            outcome="error",
            cause="tcp-reset",
            timings=timings,
            bytes=0,
            error=f"GET {MIRROR_A}/{MODULE}/@v/{VERSION}.zip via 127.0.0.9:3128: "
            f"connection reset by peer (password={SECRET})",
            at=t + 0.1,
        ),
        AttemptFinished(
            ARTIFACT,
            MODULE,
            VERSION,
            "zip",
            upstream=MIRROR_B,
            attempt=1,
            outcome="ok",
            cause="ok",
            timings=timings,
            bytes=10,
            at=t + 0.2,
        ),
        DoctorVerdict(MIRROR_B, "go", "ok", "http", "ok", "", at=t + 0.3),
        DoctorVerdict(MIRROR_A, "go", "fail", "tls", "tls-untrusted", "unknown CA", at=t + 0.3),
        FleetHostChanged(
            "fleet-1",
            "web1",
            "failed",
            1,
            exit_code=100,
            output_tail="E: Unable to locate package foo\nE: apt lock held by 4411",
            at=t + 0.4,
        ),
        FleetHostChanged("fleet-1", "web2", "ok", 1, exit_code=0, at=t + 0.4),
        RunFinished("run-7", 1, at=t + 0.5),
    ]


def test_sentry_gets_each_failure_fingerprinted_by_its_error_group(
    receiver: Receiver, tmp_path: Path
) -> None:
    bus = EventBus()
    environ = {"UNSTALL_SENTRY_DSN": f"http://publickey@127.0.0.1:{receiver.port}/42"}
    close = attach_tracing(bus, otlp_endpoint=None, environ=environ)
    # The history records the same stream: Sentry's issues must be its error groups.
    history = History(tmp_path / "history.db", "run-7", "go")
    bus.subscribe(history)
    t = time.time()
    for event in _failures(t):
        bus.publish(event)
    history.close()
    _close_in_time(close)

    events = _envelope_events(receiver)
    assert len(events) == 3, events  # the failed attempt, doctor's fail, the failed host
    db = connect(tmp_path / "history.db")
    groups = {row[0] for row in db.execute("SELECT group_id FROM error_groups")}
    db.close()
    assert {e["fingerprint"][0] for e in events} == groups
    assert all(len(e["fingerprint"]) == 1 and e["level"] == "error" for e in events)

    by_source = {e["tags"]["source"]: e for e in events}
    attempt = by_source["attempt"]
    assert attempt["tags"] == {
        "cause": "tcp-reset",
        "upstream": "https://***@mirror-a.example.test",
        "command": "go",
        "module": MODULE,
        "source": "attempt",
    }
    message = attempt["message"] if isinstance(attempt["message"], str) else ""
    message = message or attempt["logentry"]["message"]
    assert "connection reset by peer" in message
    assert "password=***" in message
    doctor = by_source["doctor"]
    assert doctor["tags"]["cause"] == "tls-untrusted"
    host = by_source["fleet"]
    assert host["tags"]["host"] == "web1"
    assert host["tags"]["cause"] == "failed"
    assert host["message"] == "E: Unable to locate package foo"
    # No secret reached the receiver, in any field of any envelope.
    assert all(SECRET.encode() not in r.body for r in receiver.requests)


def test_sentry_gets_one_event_per_group_per_interval_and_counts_the_rest(
    receiver: Receiver,
) -> None:
    now = [time.time()]
    sink = SentrySink(
        f"http://publickey@127.0.0.1:{receiver.port}/42",
        command="serve",
        clock=lambda: now[0],
        group_interval=60.0,
    )
    flapping = next(e for e in _failures(now[0]) if isinstance(e, AttemptFinished))
    for _ in range(5):
        sink(flapping)
        now[0] += 1.0
    now[0] += 60.0
    sink(flapping)
    sink.close(timeout=10.0)

    events = _envelope_events(receiver)
    assert [e["extra"]["held_back"] for e in events] == [0, 4]
    assert len({e["fingerprint"][0] for e in events}) == 1


# --- wiring -------------------------------------------------------------------------


class CountingBus(EventBus):
    """A bus that remembers how many sinks were subscribed."""

    def __init__(self) -> None:
        super().__init__()
        self.subscribed: list[Sink] = []

    def subscribe(self, sink: Sink) -> Any:
        self.subscribed.append(sink)
        return super().subscribe(sink)


def _importer_without(prefix: str, imported: list[str]) -> Any:
    import importlib

    def importer(name: str) -> ModuleType:
        imported.append(name)
        if name == prefix or name.startswith(prefix + "."):
            raise ImportError(f"No module named {name!r}", name=name)
        return importlib.import_module(name)

    return importer


def test_nothing_configured_subscribes_nothing_and_imports_nothing() -> None:
    bus = CountingBus()
    imported: list[str] = []
    close = attach_tracing(
        bus,
        otlp_endpoint=None,
        environ={"UNSTALL_SENTRY_DSN": ""},
        importer=_importer_without("-", imported),
    )
    close()
    close()
    assert bus.subscribed == []
    assert imported == []


@pytest.mark.parametrize(
    ("missing", "endpoint", "environ", "install"),
    [
        ("sentry_sdk", None, {"UNSTALL_SENTRY_DSN": "http://k@127.0.0.1:9/1"}, "sentry"),
        ("opentelemetry", "http://127.0.0.1:9", {}, "otel"),
        # Both asked for, only otel missing: Sentry is not left attached either.
        (
            "opentelemetry",
            "http://127.0.0.1:9",
            {"UNSTALL_SENTRY_DSN": "http://k@127.0.0.1:9/1"},
            "otel",
        ),
    ],
)
def test_a_missing_extra_is_a_config_error_naming_the_install(
    missing: str, endpoint: str | None, environ: Mapping[str, str], install: str
) -> None:
    bus = CountingBus()
    with pytest.raises(ConfigError) as caught:
        attach_tracing(
            bus,
            otlp_endpoint=endpoint,
            environ=environ,
            importer=_importer_without(missing, []),
        )
    assert f"pip install 'unstall[{install}]'" in str(caught.value)
    assert f"pip install 'unstall[{install}]'" in caught.value.fix
    assert caught.value.exit_code == 2
    assert bus.subscribed == []


def test_bad_dsn_and_endpoint_are_config_errors_without_the_secret() -> None:
    bus = CountingBus()
    with pytest.raises(ConfigError) as caught:
        attach_tracing(
            bus, otlp_endpoint=None, environ={"UNSTALL_SENTRY_DSN": f"nonsense:{SECRET}@x"}
        )
    assert SECRET not in str(caught.value)
    with pytest.raises(ConfigError, match="otlp-endpoint"):
        attach_tracing(bus, otlp_endpoint="127.0.0.1:4318", environ={})
    assert bus.subscribed == []


def test_sinks_are_unsubscribed_on_close(receiver: Receiver) -> None:
    bus = CountingBus()
    seen: list[Event] = []
    environ = {"UNSTALL_SENTRY_DSN": f"http://publickey@127.0.0.1:{receiver.port}/42"}
    close = attach_tracing(bus, otlp_endpoint=receiver.base, environ=environ)
    assert len(bus.subscribed) == 2
    _close_in_time(close)
    bus.subscribe(seen.append)
    for event in _failures(time.time()):
        bus.publish(event)  # after close: must not reach a shut-down sink
    assert len(seen) == len(_failures(0.0))
    assert receiver.requests == []


def test_the_command_given_when_attaching_tags_events_without_a_run_start(
    receiver: Receiver,
) -> None:
    # The CLI attaches tracing after the run's RunStarted went out.
    bus = EventBus()
    environ = {"UNSTALL_SENTRY_DSN": f"http://publickey@127.0.0.1:{receiver.port}/42"}
    close = attach_tracing(
        bus, otlp_endpoint=None, environ=environ, command="doctor", run_id="run-7"
    )
    bus.publish(DoctorVerdict(MIRROR_B, "go", "fail", "dns", "dns-nxdomain", "no such host"))
    _close_in_time(close)

    (event,) = _envelope_events(receiver)
    assert event["tags"]["command"] == "doctor"
    assert event["extra"]["run_id"] == "run-7"
    assert event["tags"]["upstream"] == MIRROR_B
    assert event["message"] == "no such host"
