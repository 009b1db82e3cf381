"""The SQLite history every command records into: runs, attempts and artifacts.

WAL mode and a busy timeout make concurrent writers (several unstall processes)
safe. Events are buffered and written in batches so recording stays off the
hot path; :meth:`History.close` flushes what is left.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Final

from unstall.events import ArtifactFinished, AttemptFinished, Event, RunFinished, RunStarted
from unstall.redact import redact

_MIGRATIONS: Final[tuple[str, ...]] = (
    """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY, command TEXT NOT NULL, args TEXT NOT NULL,
        started REAL NOT NULL, finished REAL, exit_code INTEGER
    );
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, artifact TEXT NOT NULL,
        module TEXT NOT NULL, version TEXT NOT NULL, kind TEXT NOT NULL,
        upstream TEXT NOT NULL, attempt INTEGER NOT NULL, outcome TEXT NOT NULL,
        cause TEXT NOT NULL, error TEXT NOT NULL,
        connect_s REAL, tls_s REAL, first_byte_s REAL, transfer_s REAL, total_s REAL,
        bytes INTEGER NOT NULL, resumed_from INTEGER NOT NULL, at REAL NOT NULL
    );
    CREATE INDEX attempts_run ON attempts(run_id);
    CREATE INDEX attempts_upstream_at ON attempts(upstream, at);
    CREATE TABLE artifacts (
        id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, artifact TEXT NOT NULL,
        module TEXT NOT NULL, version TEXT NOT NULL, kind TEXT NOT NULL,
        outcome TEXT NOT NULL, upstream TEXT, attempts INTEGER NOT NULL,
        hedges INTEGER NOT NULL, bytes INTEGER NOT NULL, duration_s REAL NOT NULL,
        cause TEXT NOT NULL, error TEXT NOT NULL, cached INTEGER NOT NULL, at REAL NOT NULL
    );
    CREATE INDEX artifacts_run ON artifacts(run_id);
    """,
    # 2: durable fleet runs (unstall.fleet.store): one row per run, one per host.
    """
    CREATE TABLE fleet_runs (
        run_id TEXT PRIMARY KEY, command TEXT NOT NULL, options TEXT NOT NULL,
        parent_run TEXT, started REAL NOT NULL, finished REAL, exit_code INTEGER
    );
    CREATE TABLE fleet_hosts (
        run_id TEXT NOT NULL, host TEXT NOT NULL, position INTEGER NOT NULL,
        target TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
        exit_code INTEGER, duration_s REAL, output_tail TEXT NOT NULL,
        error TEXT, cause TEXT, updated REAL NOT NULL,
        PRIMARY KEY (run_id, host)
    );
    CREATE INDEX fleet_runs_started ON fleet_runs(started);
    """,
)
_BATCH: Final = 256
_FLUSH_SECONDS: Final = 1.0


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating and migrating) the history database at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    db.execute("PRAGMA busy_timeout=30000")
    db.execute("PRAGMA synchronous=NORMAL")
    # Switching to WAL answers "locked" at once (no busy wait) while another process
    # does the same, and two processes must not run one migration twice: set-up runs
    # under an exclusive lock on a sidecar file, which waits instead of failing.
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version < len(_MIGRATIONS):
                db.execute("BEGIN IMMEDIATE")
                try:
                    for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                        for statement in _split(script):
                            db.execute(statement)
                        db.execute(f"PRAGMA user_version={number}")
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    return db


def _split(script: str) -> list[str]:
    return [statement.strip() for statement in script.split(";") if statement.strip()]


class History:
    """Event sink writing to SQLite in batches; also the reader for reports."""

    def __init__(self, path: Path, run_id: str) -> None:
        self.path = path
        self.run_id = run_id
        self._db = connect(path)
        self._runs: list[tuple[str, tuple[Any, ...]]] = []
        self._attempts: list[tuple[Any, ...]] = []
        self._artifacts: list[tuple[Any, ...]] = []
        self._last_flush = time.monotonic()

    def __call__(self, event: Event) -> None:
        """Buffer one event; flush when the batch is full or a second has passed."""
        if isinstance(event, RunStarted):
            self._runs.append(
                (
                    "INSERT OR REPLACE INTO runs(run_id, command, args, started) VALUES (?,?,?,?)",
                    (
                        event.run_id,
                        event.command,
                        json.dumps([redact(a) for a in event.args]),
                        event.at,
                    ),
                )
            )
            self.flush()
        elif isinstance(event, RunFinished):
            self._runs.append(
                (
                    "UPDATE runs SET finished=?, exit_code=? WHERE run_id=?",
                    (event.at, event.exit_code, event.run_id),
                )
            )
        elif isinstance(event, AttemptFinished):
            t = event.timings
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
                    redact(event.error),
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
        elif isinstance(event, ArtifactFinished):
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
                    redact(event.error),
                    int(event.cached),
                    time.time(),
                )
            )
        pending = len(self._attempts) + len(self._artifacts)
        if pending >= _BATCH or time.monotonic() - self._last_flush >= _FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write everything buffered in one transaction."""
        if not (self._runs or self._attempts or self._artifacts):
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in self._runs:
                self._db.execute(sql, params)
            self._db.executemany(
                "INSERT INTO attempts(run_id, artifact, module, version, kind, upstream, attempt,"
                " outcome, cause, error, connect_s, tls_s, first_byte_s, transfer_s, total_s,"
                " bytes, resumed_from, at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                self._attempts,
            )
            self._db.executemany(
                "INSERT INTO artifacts(run_id, artifact, module, version, kind, outcome, upstream,"
                " attempts, hedges, bytes, duration_s, cause, error, cached, at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                self._artifacts,
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._runs.clear()
        self._attempts.clear()
        self._artifacts.clear()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Flush and close the database."""
        try:
            self.flush()
        finally:
            self._db.close()


__all__ = ["History", "connect"]
