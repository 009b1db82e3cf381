"""Retention of the history: old rows go, and the per-fetch tables stay under a cap.

:func:`prune` deletes what is older than ``keep_days`` from every table (fleet runs by
their start, error groups by their last occurrence, alert cool-downs by their last
sending) and then the oldest rows of the per-fetch tables (attempts, artifacts, error
events) beyond ``max_attempts`` each. Deletes run in chunks, each its own short
transaction, so commands recording meanwhile wait milliseconds, not the whole prune.
:func:`maybe_prune` is what every command calls when it finishes: a prune at most once a
day, claimed in ``history_meta`` so concurrent commands do not all prune.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from unstall.config import HistorySettings
from unstall.observe.schema import connect

DAY: Final = 86_400.0
LAST_PRUNE: Final = "last_prune"
_CHUNK: Final = 20_000
# (table, the condition on rows older than the cutoff): every table that grows.
_OLD: Final = (
    ("attempts", "at < ?"),
    ("artifacts", "at < ?"),
    ("error_events", "at < ?"),
    ("error_groups", "last_seen < ?"),
    ("breaker_events", "at < ?"),
    ("doctor_verdicts", "at < ?"),
    ("fleet_hosts", "run_id IN (SELECT run_id FROM fleet_runs WHERE started < ?)"),
    ("fleet_runs", "started < ?"),
    ("runs", "started < ?"),
    ("alerts_sent", "last_sent < ?"),
)
# Tables with a row per fetch or failure, capped at ``max_attempts`` rows each; the
# oldest by time go first.
_CAPPED: Final = (("attempts", "at"), ("artifacts", "at"), ("error_events", "at"))


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What :func:`prune` deleted: rows per table (tables with none left out)."""

    cutoff: float
    deleted: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Rows deleted in all."""
        return sum(self.deleted.values())

    def to_json(self) -> dict[str, object]:
        """The ``unstall report prune --json`` document."""
        return {"cutoff": self.cutoff, "deleted": dict(self.deleted), "total": self.total}


def _delete(db: sqlite3.Connection, table: str, where: str, params: tuple[object, ...]) -> int:
    # ``table`` and ``where`` come from the constants above, never from input.
    deleted = 0
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            cursor = db.execute(
                f"DELETE FROM {table} WHERE rowid IN"
                f" (SELECT rowid FROM {table} WHERE {where} LIMIT {_CHUNK})",
                params,
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        deleted += max(cursor.rowcount, 0)
        if cursor.rowcount < _CHUNK:
            return deleted


def _over_cap(db: sqlite3.Connection, table: str, column: str, cap: int) -> int:
    excess = int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) - cap
    if excess <= 0:
        return 0
    # The time of the newest row that has to go; ties at that instant go with it.
    (newest,) = db.execute(
        f"SELECT {column} FROM {table} ORDER BY {column} LIMIT 1 OFFSET ?", (excess - 1,)
    ).fetchone()
    return _delete(db, table, f"{column} <= ?", (newest,))


def prune(db_path: Path, *, keep_days: float, max_attempts: int, now: float) -> PruneResult:
    """Delete history older than ``keep_days`` before ``now`` and cap the per-fetch tables
    at ``max_attempts`` rows each; a missing database is left missing."""
    cutoff = now - keep_days * DAY
    if not db_path.exists():
        return PruneResult(cutoff)
    deleted: dict[str, int] = {}
    with closing(connect(db_path)) as db:
        for table, where in _OLD:
            count = _delete(db, table, where, (cutoff,))
            if count:
                deleted[table] = count
        for table, column in _CAPPED:
            count = _over_cap(db, table, column, max_attempts)
            if count:
                deleted[table] = deleted.get(table, 0) + count
        db.execute(
            "INSERT OR REPLACE INTO history_meta(key, value) VALUES (?, ?)", (LAST_PRUNE, repr(now))
        )
        if deleted:
            # Give the space of the deleted pages back to the WAL's next writer at once.
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return PruneResult(cutoff, deleted)


def _claim(db_path: Path, now: float) -> bool:
    """Record ``now`` as the last prune unless one ran within the last day."""
    with closing(connect(db_path)) as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT value FROM history_meta WHERE key = ?", (LAST_PRUNE,))
            found = row.fetchone()
            last = float(found[0]) if found else None
            due = last is None or not 0 <= now - last < DAY
            if due:
                db.execute(
                    "INSERT OR REPLACE INTO history_meta(key, value) VALUES (?, ?)",
                    (LAST_PRUNE, repr(now)),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return due


def maybe_prune(db_path: Path, settings: HistorySettings, now: float) -> PruneResult | None:
    """Prune with the configured retention if no prune ran in the last day; return what
    was deleted, or None when it was not due (or there is no history)."""
    if not db_path.exists() or not _claim(db_path, now):
        return None
    return prune(db_path, keep_days=settings.keep_days, max_attempts=settings.max_attempts, now=now)


__all__ = ["DAY", "LAST_PRUNE", "PruneResult", "maybe_prune", "prune"]
