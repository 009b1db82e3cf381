"""RunRecorder: history on or off by configuration, pruned when a run ends, never failing."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from unstall.cli.common import RunRecorder
from unstall.config import Settings, load_settings
from unstall.events import AttemptFinished, EventBus, PhaseTimings
from unstall.observe.history import History
from unstall.observe.retention import DAY


def _settings(home: Path, **history: object) -> Settings:
    return load_settings(
        env={"UNSTALL_HOME": str(home)},
        cwd=home,
        user_config=home / "none.toml",
        overrides={"history": history} if history else None,
    )


def _attempt(at: float) -> AttemptFinished:
    return AttemptFinished(
        "fixture.test/a/@v/v1.0.0.zip", "fixture.test/a", "v1.0.0", "zip",
        "http://127.0.0.1:1", 1, "ok", "ok", PhaseTimings(total=0.1), 1, at=at,
    )  # fmt: skip


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as db:
        return db.execute(sql).fetchall()


def test_a_run_is_recorded_with_its_command(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    bus = EventBus()
    recorder = RunRecorder(settings, bus, "prefetch", ["go.sum"])
    bus.publish(_attempt(time.time()))
    recorder.finish(0)

    runs = _rows(settings.history_path, "SELECT run_id, command, exit_code FROM runs")
    assert runs == [(recorder.run_id, "prefetch", 0)]
    assert _rows(settings.history_path, "SELECT count(*) FROM attempts") == [(1,)]


def test_history_disabled_leaves_no_database(tmp_path: Path) -> None:
    settings = _settings(tmp_path, enabled=False)
    bus = EventBus()
    recorder = RunRecorder(settings, bus, "go", ["mod", "download"])
    bus.publish(_attempt(time.time()))
    recorder.finish(0)

    assert not settings.history_path.exists()
    assert list(tmp_path.iterdir()) == []


def test_finishing_a_run_prunes_old_history(tmp_path: Path) -> None:
    settings = _settings(tmp_path, keep_days=30)
    old = History(settings.history_path, "old-run")
    old(_attempt(time.time() - 100 * DAY))
    old.close()

    recorder = RunRecorder(settings, EventBus(), "go", [])
    recorder.finish(0)

    assert _rows(settings.history_path, "SELECT count(*) FROM attempts") == [(0,)]
    assert _rows(settings.history_path, "SELECT key FROM history_meta") == [("last_prune",)]


def test_a_failing_prune_is_reported_and_the_command_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _settings(tmp_path)
    recorder = RunRecorder(settings, EventBus(), "go", [])
    with closing(sqlite3.connect(settings.history_path)) as db:
        db.execute("DROP TABLE history_meta")

    recorder.finish(0)

    assert "unstall: history prune failed: no such table: history_meta" in capsys.readouterr().err
    assert _rows(settings.history_path, "SELECT exit_code FROM runs") == [(0,)]


def test_a_long_running_command_prunes_while_it_runs_once_a_day(tmp_path: Path) -> None:
    # unstall serve runs for months: it asks hourly, the prune itself runs once a day.
    settings = _settings(tmp_path, keep_days=1)
    old = History(settings.history_path, "old")
    old(_attempt(time.time() - 3 * DAY))
    old.close()
    bus = EventBus()
    recorder = RunRecorder(settings, bus, "serve", ["127.0.0.1", "0"])
    bus.publish(_attempt(time.time()))
    recorder.flush()

    recorder.prune_if_due()
    assert _rows(settings.history_path, "SELECT count(*) FROM attempts") == [(1,)]
    stale = History(settings.history_path, "late")
    stale(_attempt(time.time() - 3 * DAY))
    stale.close()
    recorder.prune_if_due()  # already pruned today: not again
    assert _rows(settings.history_path, "SELECT count(*) FROM attempts") == [(2,)]
    recorder.finish(0)
