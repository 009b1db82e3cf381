"""The history database's schema: versioned migrations, opened safely by many processes.

Every command records into one SQLite file (``Settings.history_path``). WAL mode and a
busy timeout make concurrent writers (several unstall processes) safe; migrations run
once, under an exclusive lock on a sidecar file. Add a migration at the end; never edit
one that has shipped.
"""

from __future__ import annotations

import fcntl
import sqlite3
from pathlib import Path
from typing import Final

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
    # 3: what `unstall report` reads besides attempts and artifacts: how an artifact's
    # winner was started, breaker changes, doctor verdicts, error groups and their
    # occurrences (one row per failure, for "over time" and "what it touched").
    """
    ALTER TABLE artifacts ADD COLUMN won_by TEXT NOT NULL DEFAULT '';
    CREATE INDEX attempts_at ON attempts(at);
    CREATE INDEX artifacts_at ON artifacts(at);
    CREATE INDEX runs_started ON runs(started);
    CREATE TABLE breaker_events (
        run_id TEXT NOT NULL, upstream TEXT NOT NULL, state TEXT NOT NULL, at REAL NOT NULL
    );
    CREATE INDEX breaker_events_at ON breaker_events(at);
    CREATE TABLE doctor_verdicts (
        id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, source TEXT NOT NULL,
        kind TEXT NOT NULL, verdict TEXT NOT NULL, layer TEXT NOT NULL, cause TEXT NOT NULL,
        message TEXT NOT NULL, dns_ms REAL, connect_ms REAL, tls_ms REAL, ttfb_ms REAL,
        transfer_ms REAL, at REAL NOT NULL
    );
    CREATE INDEX doctor_verdicts_at ON doctor_verdicts(at);
    CREATE TABLE error_groups (
        group_id TEXT PRIMARY KEY, pattern TEXT NOT NULL, cause TEXT NOT NULL,
        example TEXT NOT NULL, first_seen REAL NOT NULL, last_seen REAL NOT NULL,
        count INTEGER NOT NULL
    );
    CREATE INDEX error_groups_last_seen ON error_groups(last_seen);
    CREATE TABLE error_events (
        group_id TEXT NOT NULL, run_id TEXT NOT NULL, command TEXT NOT NULL,
        upstream TEXT, host TEXT, module TEXT, at REAL NOT NULL
    );
    CREATE INDEX error_events_group_at ON error_events(group_id, at);
    CREATE INDEX error_events_at ON error_events(at);
    CREATE TABLE alerts_sent (
        alert_key TEXT PRIMARY KEY, target TEXT NOT NULL, last_sent REAL NOT NULL,
        sent_count INTEGER NOT NULL
    );
    CREATE TABLE history_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 4: `unstall report` over a million attempts (bench/report.py). Covering indexes, so
    # the report reads narrow index entries instead of wide rows: per upstream and time
    # bucket (replaces attempts_upstream_at, its prefix); the window's not-cached artifacts
    # by duration; hedged artifacts only (partial: a few per cent of rows); what an error
    # group touched (replaces error_events_group_at, its prefix).
    """
    CREATE INDEX attempts_report ON attempts(upstream, at, outcome, cause, attempt,
        connect_s, tls_s, first_byte_s, transfer_s, total_s);
    DROP INDEX attempts_upstream_at;
    CREATE INDEX artifacts_slowest ON artifacts(at, duration_s) WHERE cached = 0;
    CREATE INDEX artifacts_hedged ON artifacts(at, upstream, hedges, won_by) WHERE hedges > 0;
    CREATE INDEX error_events_touched ON error_events(group_id, at, command, upstream, host,
        module);
    DROP INDEX error_events_group_at;
    """,
)


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


SCHEMA_VERSION: Final = len(_MIGRATIONS)


def _split(script: str) -> list[str]:
    return [statement.strip() for statement in script.split(";") if statement.strip()]


__all__ = ["SCHEMA_VERSION", "connect"]
