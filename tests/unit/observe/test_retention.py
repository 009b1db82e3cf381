"""Retention: old history goes from every table, the attempt tables stay under their cap,
and the automatic prune runs at most once a day."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from unstall.config import HistorySettings
from unstall.events import (
    ArtifactFinished,
    AttemptFinished,
    BreakerChanged,
    DoctorVerdict,
    PhaseTimings,
    RunFinished,
    RunStarted,
)
from unstall.fleet.executor import Target
from unstall.fleet.store import FleetStore
from unstall.observe.history import History
from unstall.observe.retention import DAY, maybe_prune, prune

NOW = 1_900_000_000.0
TABLES = (
    "runs",
    "attempts",
    "artifacts",
    "error_events",
    "error_groups",
    "breaker_events",
    "doctor_verdicts",
    "fleet_runs",
    "fleet_hosts",
    "alerts_sent",
)


@contextmanager
def _db(path: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        yield db


def _counts(path: Path) -> dict[str, int]:
    with _db(path) as db:
        return {t: int(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}


def _attempt(at: float, error: str = "") -> AttemptFinished:
    return AttemptFinished(
        artifact="fixture.test/a/@v/v1.0.0.zip",
        module="fixture.test/a",
        version="v1.0.0",
        kind="zip",
        upstream="http://127.0.0.1:1",
        attempt=1,
        outcome="error" if error else "ok",
        cause="tcp-reset" if error else "ok",
        timings=PhaseTimings(total=0.1),
        bytes=1,
        error=error,
        at=at,
    )


def _run(path: Path, run_id: str, at: float, *, error: str, attempts: int = 1) -> None:
    history = History(path, run_id)
    history(RunStarted(run_id, "go", (), at=at))
    for i in range(attempts):
        history(_attempt(at + i, error))
    history(BreakerChanged("http://127.0.0.1:1", "open", at=at))
    history(DoctorVerdict("http://127.0.0.1:1", "go", "fail", "tcp", "tcp-reset", error, at=at))
    history(RunFinished(run_id, 0, at=at + 1))
    history.close()


def _history(path: Path) -> None:
    """One run 100 days old, one a day old, in every table."""
    for run_id, at, error in (("old", NOW - 100 * DAY, "old failure"), ("new", NOW - DAY, "new")):
        _run(path, run_id, at, error=error)
        store = FleetStore(path)
        store.create_run(f"fleet-{run_id}", "true", {}, [Target("web1", "127.0.0.1")])
        store.close()
        with _db(path) as db:
            db.execute("UPDATE fleet_runs SET started=? WHERE run_id=?", (at, f"fleet-{run_id}"))
            db.execute("INSERT INTO alerts_sent VALUES (?, 'hook', ?, 1)", (f"alert-{run_id}", at))
    history = History(path, "artifacts")
    for _ in range(2):
        history(
            ArtifactFinished("fixture.test/a/@v/v1.0.0.zip", "fixture.test/a", "v1.0.0", "zip",
                             "ok", "http://127.0.0.1:1", 1, 0, 1, 0.1, "ok")
        )  # fmt: skip
    history.close()
    with _db(path) as db:
        # Artifacts are stamped when recorded: one old, one new.
        db.execute("UPDATE artifacts SET at=? WHERE rowid=1", (NOW - 100 * DAY,))
        db.execute("UPDATE artifacts SET at=? WHERE rowid=2", (NOW - DAY,))


def test_prune_deletes_what_is_older_than_keep_days_from_every_table(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    _history(path)
    before = _counts(path)
    assert all(before[t] >= 2 for t in TABLES), before

    result = prune(path, keep_days=30, max_attempts=1000, now=NOW)

    after = _counts(path)
    assert {t: before[t] - after[t] for t in TABLES} == result.deleted
    assert set(result.deleted) == set(TABLES)
    assert result.total == sum(result.deleted.values())
    assert result.cutoff == NOW - 30 * DAY
    with _db(path) as db:
        assert db.execute("SELECT run_id FROM runs").fetchall() == [("new",)]
        assert db.execute("SELECT example FROM error_groups").fetchall() == [("new",)]
        assert db.execute("SELECT run_id FROM fleet_hosts").fetchall() == [("fleet-new",)]
        assert db.execute(
            "SELECT count(*) FROM attempts WHERE at < ?", (NOW - 30 * DAY,)
        ).fetchone() == (0,)


def test_prune_keeps_the_newest_attempts_under_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    _run(path, "big", NOW - DAY, error="", attempts=1500)

    result = prune(path, keep_days=90, max_attempts=1000, now=NOW)

    assert result.deleted == {"attempts": 500}
    with _db(path) as db:
        oldest, count = db.execute("SELECT min(at), count(*) FROM attempts").fetchone()
    assert (oldest, count) == (NOW - DAY + 500, 1000)


def test_prune_of_a_missing_history_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "history.sqlite3"

    result = prune(path, keep_days=1, max_attempts=1000, now=NOW)

    assert (result.deleted, result.total) == ({}, 0)
    assert result.to_json() == {"cutoff": NOW - DAY, "deleted": {}, "total": 0}
    assert not path.parent.exists()


def test_maybe_prune_runs_at_most_once_a_day(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    settings = HistorySettings(keep_days=30, max_attempts=1000)
    _run(path, "old", NOW - 100 * DAY, error="x")

    first = maybe_prune(path, settings, NOW)
    _run(path, "old-again", NOW - 100 * DAY, error="x")
    same_day = maybe_prune(path, settings, NOW + DAY / 2)
    next_day = maybe_prune(path, settings, NOW + DAY + 1)

    assert first is not None
    assert first.deleted["attempts"] == 1
    assert same_day is None
    assert _counts(path)["runs"] == 0
    assert next_day is not None
    assert next_day.deleted["runs"] == 1


def test_maybe_prune_without_history_does_nothing(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"

    assert maybe_prune(path, HistorySettings(), NOW) is None
    assert not path.exists()
