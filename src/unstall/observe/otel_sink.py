"""OpenTelemetry traces of artifact fetches (the ``otel`` extra), exported over OTLP/HTTP.

Spans are built after the fact from the events, with explicit start and end times, so
the engine carries no tracing code: each attempt is remembered from AttemptStarted to
AttemptFinished, and when the fetch's ArtifactFinished arrives the whole tree is
emitted at once::

    fetch zip example.test/mod@v1.2.3        outcome, upstream, attempts, hedges, bytes
    ├── attempt 1 mirror-a                    outcome error, cause tcp-reset  (ERROR)
    │   ├── connect ─ tls ─ first_byte ─ transfer      laid out from PhaseTimings
    ├── attempt 2 mirror-a                    outcome cancelled
    └── attempt 1 mirror-b                    hedge, outcome ok

Cache hits get no span (a warm ``serve`` answers thousands a second). Doctor verdicts and
fleet hosts get one span each. This module imports OpenTelemetry at the top: import it
only when the extra is wanted (:mod:`unstall.observe.tracing` does).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Status, StatusCode

from unstall import __version__
from unstall.errors import ConfigError
from unstall.events import (
    ArtifactFinished,
    AttemptFinished,
    AttemptStarted,
    DoctorVerdict,
    Event,
    FleetHostChanged,
    HedgeStarted,
    PhaseTimings,
    RetryScheduled,
    RunStarted,
)
from unstall.fleet.states import HostState
from unstall.observe.fingerprint import error_line
from unstall.redact import redact

_TRACES_PATH: Final = "/v1/traces"
_EXPORT_TIMEOUT: Final = 5.0
# Fetches whose ArtifactFinished never came (a crash mid-fetch) must not pile up in serve.
_MAX_PENDING: Final = 10_000

Attributes = dict[str, str | int | float | bool]


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of ``endpoint`` (``/v1/traces`` added when it has no path)."""
    parts = urlsplit(endpoint.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"--otlp-endpoint must be an http:// or https:// URL, not {redact(endpoint)!r}",
            fix="pass the collector's OTLP/HTTP address, e.g. http://127.0.0.1:4318",
        )
    path = parts.path if parts.path not in ("", "/") else _TRACES_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


def _attributes(**values: str | int | float | bool | None) -> Attributes:
    # OpenTelemetry attributes cannot be None: a phase or upstream that did not happen
    # is left out rather than written as an empty string.
    return {k: v for k, v in values.items() if v is not None}


@dataclass(slots=True)
class _Attempt:
    upstream: str
    number: int
    hedge: bool
    start: float
    finished: AttemptFinished | None = None


@dataclass(slots=True)
class _Fetch:
    attempts: dict[tuple[str, int], _Attempt] = field(default_factory=dict)
    # (name, attributes, at): hedges and retries, shown as span events on the fetch.
    notes: list[tuple[str, Attributes, float]] = field(default_factory=list)


def phase_layout(
    start: float, end: float, timings: PhaseTimings
) -> Iterator[tuple[str, float, float]]:
    """``(phase, start, end)`` of each measured phase, consecutive from ``start``.

    ``first_byte`` in PhaseTimings counts from the start of the attempt (handshakes
    included), so its span is the wait after the handshakes. Every span is kept inside
    ``[start, end]``: the phase clock is monotonic, the attempt's times are wall-clock.
    """
    cursor = start
    for phase, seconds in (("connect", timings.connect), ("tls", timings.tls)):
        if seconds is not None:
            stop = min(cursor + seconds, end)
            yield phase, cursor, stop
            cursor = stop
    if timings.first_byte is not None:
        stop = min(max(cursor, start + timings.first_byte), end)
        yield "first_byte", cursor, stop
        cursor = stop
    if timings.transfer is not None:
        yield "transfer", cursor, min(cursor + timings.transfer, end)


class OtelSink:
    """Event sink exporting a span tree per artifact fetch over OTLP/HTTP.

    ``exporter`` replaces the OTLP exporter (tests, or another protocol); ``clock`` gives
    the time of events that carry none. Call :meth:`close` to export what is queued.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        clock: Callable[[], float] = time.time,
        exporter: SpanExporter | None = None,
        timeout: float = _EXPORT_TIMEOUT,
        max_pending: int = _MAX_PENDING,
    ) -> None:
        url = traces_url(endpoint)
        self._clock = clock
        self._max_pending = max_pending
        self._timeout = timeout
        resource = Resource.create({"service.name": "unstall", "service.version": __version__})
        # Our own provider, not the global one: close() flushes it, no atexit hook.
        self._provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        self._provider.add_span_processor(
            BatchSpanProcessor(exporter or OTLPSpanExporter(endpoint=url, timeout=timeout))
        )
        self._tracer = self._provider.get_tracer("unstall", __version__)
        self._pending: dict[str, _Fetch] = {}
        self._lock = threading.Lock()
        self.run_id = ""

    def __call__(self, event: Event) -> None:
        """Remember or emit what ``event`` says."""
        if isinstance(event, ArtifactFinished):
            with self._lock:
                fetch = self._pending.pop(event.artifact, None)
            if not event.cached:  # hits are skipped: serve publishes thousands
                self._fetch_span(event, fetch or _Fetch())
            return
        with self._lock:
            if isinstance(event, AttemptStarted):
                self._fetch(event.artifact).attempts[(event.upstream, event.attempt)] = _Attempt(
                    event.upstream, event.attempt, event.hedge, event.at
                )
            elif isinstance(event, AttemptFinished):
                attempts = self._fetch(event.artifact).attempts
                key = (event.upstream, event.attempt)
                if key not in attempts:  # its start was published before we subscribed
                    start = event.at - (event.timings.total or 0.0)
                    attempts[key] = _Attempt(event.upstream, event.attempt, False, start)
                attempts[key].finished = event
            elif isinstance(event, HedgeStarted):
                note = _attributes(upstream=redact(event.upstream), after=event.after)
                note["reason"] = event.reason
                self._fetch(event.artifact).notes.append(("hedge", note, self._clock()))
            elif isinstance(event, RetryScheduled):
                note = _attributes(
                    upstream=redact(event.upstream),
                    attempt=event.attempt,
                    delay=event.delay,
                    cause=event.cause,
                )
                self._fetch(event.artifact).notes.append(("retry", note, self._clock()))
            elif isinstance(event, RunStarted):
                self.run_id = event.run_id
        if isinstance(event, DoctorVerdict):
            self._verdict_span(event)
        elif isinstance(event, FleetHostChanged):
            self._host_span(event)

    def _fetch(self, artifact: str) -> _Fetch:
        fetch = self._pending.get(artifact)
        if fetch is None:
            if len(self._pending) >= self._max_pending:
                del self._pending[next(iter(self._pending))]  # the oldest never finished
            fetch = self._pending[artifact] = _Fetch()
        return fetch

    def _fetch_span(self, event: ArtifactFinished, fetch: _Fetch) -> None:
        end = self._clock()
        start = end - event.duration
        attempts = sorted(fetch.attempts.values(), key=lambda a: a.start)
        # The fetch encloses its attempts whatever the clocks say.
        start = min([start, *(a.start for a in attempts)])
        end = max([end, *(a.finished.at for a in attempts if a.finished)])
        root = self._tracer.start_span(
            f"fetch {event.kind} {event.module}@{event.version}",
            start_time=_ns(start),
            attributes=_attributes(
                module=event.module,
                version=event.version,
                kind=event.kind,
                outcome=event.outcome,
                upstream=redact(event.upstream) if event.upstream else None,
                attempts=event.attempts,
                hedges=event.hedges,
                bytes=event.bytes,
                cached=event.cached,
                cause=event.cause,
                won_by=event.won_by or None,
                error=redact(event.error) or None,
                run_id=self.run_id or None,
            ),
        )
        for name, note, at in fetch.notes:
            root.add_event(name, note, timestamp=_ns(min(max(at, start), end)))
        context = trace.set_span_in_context(root)
        for attempt in attempts:
            self._attempt_span(attempt, context, end)
        if event.outcome == "failed":
            root.set_status(Status(StatusCode.ERROR, redact(event.error) or event.cause))
        root.end(end_time=_ns(end))

    def _attempt_span(self, attempt: _Attempt, context: Context, fetch_end: float) -> None:
        done = attempt.finished
        end = done.at if done else fetch_end
        upstream = redact(attempt.upstream)
        span = self._tracer.start_span(
            f"attempt {attempt.number} {upstream}",
            context=context,
            start_time=_ns(attempt.start),
            attributes=_attributes(
                upstream=upstream,
                attempt=attempt.number,
                hedge=attempt.hedge,
                outcome=done.outcome if done else "unfinished",
                cause=done.cause if done else None,
                bytes=done.bytes if done else None,
                resumed_from=done.resumed_from if done and done.resumed_from else None,
                error=(redact(done.error) or None) if done else None,
            ),
        )
        if done is not None:
            inner = trace.set_span_in_context(span)
            for phase, begin, stop in phase_layout(attempt.start, end, done.timings):
                child = self._tracer.start_span(
                    phase, context=inner, start_time=_ns(begin), attributes={"phase": phase}
                )
                child.end(end_time=_ns(stop))
            if done.outcome == "error":
                span.set_status(Status(StatusCode.ERROR, redact(done.error) or done.cause))
        span.end(end_time=_ns(end))

    def _verdict_span(self, event: DoctorVerdict) -> None:
        phases = (event.dns_ms, event.connect_ms, event.tls_ms, event.ttfb_ms, event.transfer_ms)
        took = sum(ms for ms in phases if ms is not None) / 1000
        source = redact(event.source)
        span = self._tracer.start_span(
            f"doctor {event.kind} {source}",
            start_time=_ns(event.at - took),
            attributes=_attributes(
                source=source,
                kind=event.kind,
                verdict=event.verdict,
                layer=event.layer,
                cause=event.cause,
                dns_ms=event.dns_ms,
                connect_ms=event.connect_ms,
                tls_ms=event.tls_ms,
                ttfb_ms=event.ttfb_ms,
                transfer_ms=event.transfer_ms,
                run_id=self.run_id or None,
            ),
        )
        if event.verdict == "fail":
            span.set_status(Status(StatusCode.ERROR, redact(event.message) or event.cause))
        span.end(end_time=_ns(event.at))

    def _host_span(self, event: FleetHostChanged) -> None:
        try:
            state = HostState(event.state)
        except ValueError:
            return
        if not state.final:  # one span per attempt, when it ends
            return
        span = self._tracer.start_span(
            f"fleet host {event.host}",
            start_time=_ns(event.at - (event.duration_s or 0.0)),
            attributes=_attributes(
                host=event.host,
                state=event.state,
                attempt=event.attempt,
                exit_code=event.exit_code,
                cause=event.cause,
                fleet_run_id=event.run_id,
            ),
        )
        if state is not HostState.OK:
            line = redact(error_line(event.output_tail, event.error)) or event.state
            span.set_status(Status(StatusCode.ERROR, line))
        span.end(end_time=_ns(event.at))

    def close(self) -> None:
        """Export every finished span (waiting at most the export timeout) and stop."""
        with self._lock:
            self._pending.clear()
        self._provider.force_flush(timeout_millis=int(self._timeout * 1000))
        self._provider.shutdown()


__all__ = ["OtelSink", "phase_layout", "traces_url"]
