"""The SQLite history every command records into (a sink of the event bus).

Runs, upstream attempts with phase timings, artifacts, breaker changes, doctor verdicts,
fleet host failures and the error groups of every failure. Events are buffered and
written in batches, one transaction per batch, so recording stays off the hot path;
:meth:`History.close` flushes what is left. The schema is in :mod:`unstall.observe.schema`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Final

from unstall.events import (
    ArtifactFinished,
    AttemptFinished,
    BreakerChanged,
    DoctorVerdict,
    Event,
    FleetHostChanged,
    RunFinished,
    RunStarted,
)
from unstall.observe.error_groups import ErrorGroupBuffer, failure_of
from unstall.observe.schema import connect
from unstall.redact import redact

_BATCH: Final = 256
_FLUSH_SECONDS: Final = 1.0

_INSERT_ATTEMPT: Final = (
    "INSERT INTO attempts(run_id, artifact, module, version, kind, upstream, attempt,"
    " outcome, cause, error, connect_s, tls_s, first_byte_s, transfer_s, total_s,"
    " bytes, resumed_from, at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_INSERT_ARTIFACT: Final = (
    "INSERT INTO artifacts(run_id, artifact, module, version, kind, outcome, upstream,"
    " attempts, hedges, bytes, duration_s, cause, error, cached, at, won_by)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_INSERT_VERDICT: Final = (
    "INSERT INTO doctor_verdicts(run_id, source, kind, verdict, layer, cause, message,"
    " dns_ms, connect_ms, tls_ms, ttfb_ms, transfer_ms, at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


class History:
    """Event sink writing to SQLite in batches."""

    def __init__(self, path: Path, run_id: str, command: str = "") -> None:
        self.path = path
        self.run_id = run_id
        self.command = command
        self._db = connect(path)
        self._runs: list[tuple[str, tuple[Any, ...]]] = []
        self._attempts: list[tuple[Any, ...]] = []
        self._artifacts: list[tuple[Any, ...]] = []
        self._breakers: list[tuple[Any, ...]] = []
        self._verdicts: list[tuple[Any, ...]] = []
        self._errors = ErrorGroupBuffer()
        self._last_flush = time.monotonic()

    def __call__(self, event: Event) -> None:
        """Buffer one event; flush when the batch is full or a second has passed."""
        if isinstance(event, AttemptFinished):
            self._attempt(event)
        elif isinstance(event, ArtifactFinished):
            self._artifact(event)
        elif isinstance(event, RunStarted):
            self.command = self.command or event.command
            args = json.dumps([redact(a) for a in event.args])
            self._runs.append(
                (
                    "INSERT OR REPLACE INTO runs(run_id, command, args, started) VALUES (?,?,?,?)",
                    (event.run_id, event.command, args, event.at),
                )
            )
            self.flush()
            return
        elif isinstance(event, RunFinished):
            self._runs.append(
                (
                    "UPDATE runs SET finished=?, exit_code=? WHERE run_id=?",
                    (event.at, event.exit_code, event.run_id),
                )
            )
        elif isinstance(event, BreakerChanged):
            self._breakers.append((self.run_id, redact(event.upstream), event.state, event.at))
        elif isinstance(event, DoctorVerdict):
            self._verdict(event)
        elif isinstance(event, FleetHostChanged):
            self._fail(event)
        pending = len(self._attempts) + len(self._artifacts) + len(self._errors)
        if pending >= _BATCH or time.monotonic() - self._last_flush >= _FLUSH_SECONDS:
            self.flush()

    def _attempt(self, event: AttemptFinished) -> None:
        t = event.timings
        error = redact(event.error)
        self._attempts.append(
            (
                self.run_id,
                event.artifact,
                event.module,
                event.version,
                event.kind,
                event.upstream,
                event.attempt,
                event.outcome,
                event.cause,
                error,
                t.connect,
                t.tls,
                t.first_byte,
                t.transfer,
                t.total,
                event.bytes,
                event.resumed_from,
                event.at,
            )
        )
        self._fail(event)

    def _artifact(self, event: ArtifactFinished) -> None:
        now = time.time()
        error = redact(event.error)
        self._artifacts.append(
            (
                self.run_id,
                event.artifact,
                event.module,
                event.version,
                event.kind,
                event.outcome,
                event.upstream,
                event.attempts,
                event.hedges,
                event.bytes,
                event.duration,
                event.cause,
                error,
                int(event.cached),
                now,
                event.won_by,
            )
        )
        self._fail(event, now)

    def _verdict(self, event: DoctorVerdict) -> None:
        source = redact(event.source)
        message = redact(event.message)
        self._verdicts.append(
            (
                self.run_id,
                source,
                event.kind,
                event.verdict,
                event.layer,
                event.cause,
                message,
                event.dns_ms,
                event.connect_ms,
                event.tls_ms,
                event.ttfb_ms,
                event.transfer_ms,
                event.at,
            )
        )
        self._fail(event)

    def _fail(self, event: Event, now: float | None = None) -> None:
        # Fleet hosts themselves are stored by unstall.fleet.store; the history keeps the
        # failures of every command, so that they join the same error groups.
        failure = failure_of(event, self.command, now=now)
        if failure is not None:
            self._errors.add(self.run_id, failure)

    def flush(self) -> None:
        """Write everything buffered in one transaction."""
        buffers = (self._runs, self._attempts, self._artifacts, self._breakers, self._verdicts)
        if not any(buffers) and not self._errors:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in self._runs:
                self._db.execute(sql, params)
            self._db.executemany(_INSERT_ATTEMPT, self._attempts)
            self._db.executemany(_INSERT_ARTIFACT, self._artifacts)
            self._db.executemany(
                "INSERT INTO breaker_events(run_id, upstream, state, at) VALUES (?,?,?,?)",
                self._breakers,
            )
            self._db.executemany(_INSERT_VERDICT, self._verdicts)
            self._errors.write(self._db)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        for buffer in buffers:
            buffer.clear()
        self._errors.clear()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Flush and close the database."""
        try:
            self.flush()
        finally:
            self._db.close()


__all__ = ["History"]
