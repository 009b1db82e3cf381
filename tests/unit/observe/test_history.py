"""History: what a run did ends up in SQLite, secrets removed, concurrent writers safe."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from unstall.events import (
    ArtifactFinished,
    AttemptFinished,
    AttemptStarted,
    BreakerChanged,
    DoctorVerdict,
    FleetHostChanged,
    HedgeStarted,
    PhaseTimings,
    RunFinished,
    RunStarted,
)
from unstall.observe.history import History
from unstall.observe.schema import _MIGRATIONS, SCHEMA_VERSION

RUN = "20240102T030405-abcdef01"


@contextmanager
def _read(path: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(path)) as db:
        db.row_factory = sqlite3.Row
        yield db


def _attempt(n: int = 1, *, error: str = "", outcome: str = "ok") -> AttemptFinished:
    return AttemptFinished(
        artifact="fixture.test/a/@v/v1.0.0.zip",
        module="fixture.test/a",
        version="v1.0.0",
        kind="zip",
        upstream="http://127.0.0.1:1",
        attempt=n,
        outcome=outcome,
        cause="ok" if outcome == "ok" else "tcp-reset",
        timings=PhaseTimings(connect=0.01, tls=None, first_byte=0.05, transfer=0.2, total=0.26),
        bytes=4096,
        resumed_from=100,
        error=error,
    )


def _artifact(error: str = "", outcome: str = "ok") -> ArtifactFinished:
    return ArtifactFinished(
        artifact="fixture.test/a/@v/v1.0.0.zip",
        module="fixture.test/a",
        version="v1.0.0",
        kind="zip",
        outcome=outcome,
        upstream="http://127.0.0.1:1",
        attempts=2,
        hedges=1,
        bytes=4096,
        duration=0.5,
        cause="ok" if outcome == "ok" else "tcp-reset",
        error=error,
        cached=False,
    )


def test_a_run_is_recorded_in_all_three_tables(tmp_path: Path) -> None:
    path = tmp_path / "state" / "history.sqlite3"
    history = History(path, RUN)

    history(RunStarted(RUN, "go", ("mod", "download"), at=100.0))
    history(AttemptStarted("fixture.test/a/@v/v1.0.0.zip", "http://127.0.0.1:1", 1))
    history(_attempt(1, outcome="error", error="connection reset"))
    history(_attempt(2))
    history(HedgeStarted("fixture.test/a/@v/v1.0.0.zip", "http://127.0.0.1:2", 1.0, "slow"))
    history(_artifact())
    history(RunFinished(RUN, 0, at=101.0))
    history.close()

    with _read(path) as db:
        run = db.execute("SELECT * FROM runs").fetchone()
        attempts = db.execute("SELECT * FROM attempts ORDER BY attempt").fetchall()
        artifacts = db.execute("SELECT * FROM artifacts").fetchall()

    assert dict(run) == {
        "run_id": RUN,
        "command": "go",
        "args": json.dumps(["mod", "download"]),
        "started": 100.0,
        "finished": 101.0,
        "exit_code": 0,
    }
    assert [(a["attempt"], a["outcome"], a["cause"]) for a in attempts] == [
        (1, "error", "tcp-reset"),
        (2, "ok", "ok"),
    ]
    first = attempts[0]
    assert first["run_id"] == RUN
    assert first["module"] == "fixture.test/a"
    assert first["kind"] == "zip"
    assert first["error"] == "connection reset"
    assert (first["connect_s"], first["tls_s"], first["first_byte_s"]) == (0.01, None, 0.05)
    assert (first["bytes"], first["resumed_from"]) == (4096, 100)
    assert len(artifacts) == 1
    artifact = artifacts[0]
    assert artifact["run_id"] == RUN
    assert (artifact["attempts"], artifact["hedges"], artifact["bytes"]) == (2, 1, 4096)
    assert (artifact["outcome"], artifact["cached"]) == ("ok", 0)
    assert artifact["duration_s"] == 0.5


def test_secrets_are_redacted_in_stored_args_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    history = History(path, RUN)

    history(
        RunStarted(
            RUN,
            "go",
            ("get", "--proxy=https://alice:s3cret@proxy.example:8080", "token=abc123"),
        )
    )
    history(_attempt(error="407 from http://bob:hunter2@proxy.example/ (password=hunter2)"))
    history(_artifact(outcome="failed", error="Authorization: Bearer eyJhbGciOi.payload.sig"))
    history.close()

    with _read(path) as db:
        stored = " ".join(
            str(value)
            for table in ("runs", "attempts", "artifacts")
            for row in db.execute(f"SELECT * FROM {table}")
            for value in tuple(row)
        )

    for secret in ("s3cret", "abc123", "hunter2", "eyJhbGciOi"):
        assert secret not in stored
    assert "proxy.example:8080" in stored
    assert "***" in stored


def test_nothing_is_lost_when_events_arrive_after_a_flush(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    history = History(path, RUN)
    history(RunStarted(RUN, "prefetch", ()))
    for n in range(600):  # more than one batch
        history(_attempt(n))
    history.flush()
    history(_attempt(600))
    history(RunFinished(RUN, 1))
    history.close()

    with _read(path) as db:
        count = db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
        exit_code = db.execute("SELECT exit_code FROM runs").fetchone()[0]

    assert count == 601
    assert exit_code == 1


def test_two_writers_on_one_file_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    History(path, "setup").close()  # the database exists before the writers race
    per_writer = 700
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def write(run_id: str) -> None:
        try:
            history = History(path, run_id)
            start.wait(timeout=10)
            history(RunStarted(run_id, "go", ("build",)))
            for n in range(per_writer):
                history(_attempt(n))
                if n % 50 == 0:
                    history(_artifact())
            history(RunFinished(run_id, 0))
            history.close()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(f"run-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    with _read(path) as db:
        attempts = dict(
            db.execute("SELECT run_id, COUNT(*) FROM attempts GROUP BY run_id").fetchall()
        )
        artifacts = dict(
            db.execute("SELECT run_id, COUNT(*) FROM artifacts GROUP BY run_id").fetchall()
        )
        runs = {row[0]: row[1] for row in db.execute("SELECT run_id, exit_code FROM runs")}
    assert attempts == {"run-0": per_writer, "run-1": per_writer}
    assert artifacts == {"run-0": 14, "run-1": 14}
    assert runs["run-0"] == 0
    assert runs["run-1"] == 0


def test_reopening_keeps_data_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    first = History(path, "run-1")
    first(RunStarted("run-1", "go", ()))
    first(_attempt())
    first.close()

    second = History(path, "run-2")
    second(RunStarted("run-2", "go", ()))
    second(_attempt())
    second.close()

    with _read(path) as db:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        runs = [row[0] for row in db.execute("SELECT run_id FROM runs ORDER BY run_id")]
        count = db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
    assert version == SCHEMA_VERSION  # every migration applied once
    assert runs == ["run-1", "run-2"]
    assert count == 2


def test_the_database_uses_wal_for_concurrent_readers(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    History(path, RUN).close()

    with _read(path) as db:
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]

    assert mode == "wal"


def test_writers_racing_to_create_the_database_all_succeed(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    for round_ in range(20):
        path = tmp_path / f"round{round_}" / "history.sqlite3"
        start = threading.Barrier(4)

        def record(run_id: str, path: Path = path, start: threading.Barrier = start) -> None:
            try:
                start.wait(timeout=10)
                history = History(path, run_id)
                history(RunStarted(run_id, "go", ()))
                history.close()
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=record, args=(f"run-{n}",)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        with closing(sqlite3.connect(path)) as db:
            assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 4

    assert errors == []


def test_failures_of_every_command_join_one_error_group(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    go = History(path, "run-go")
    go(RunStarted("run-go", "go", ("mod", "download"), at=100.0))
    go(
        AttemptFinished(
            artifact="fixture.test/a/@v/v1.0.0.zip",
            module="fixture.test/a",
            version="v1.0.0",
            kind="zip",
            upstream="http://127.0.0.7:3000",
            attempt=1,
            outcome="error",
            cause="tcp-refused",
            timings=PhaseTimings(connect=0.01),
            bytes=0,
            error="dial http://127.0.0.7:3000: connection refused",
            at=101.0,
        )
    )
    go(_attempt(2))  # an ok attempt is no failure
    go(BreakerChanged("http://127.0.0.7:3000", "open", at=102.0))
    go.close()

    doctor = History(path, "run-doctor")
    doctor(RunStarted("run-doctor", "doctor", (), at=200.0))
    doctor(
        DoctorVerdict(
            source="http://user:hunter2@127.0.0.8:4000/",
            kind="url",
            verdict="fail",
            layer="tcp",
            cause="tcp-refused",
            message="dial http://user:hunter2@127.0.0.8:4000: connection refused",
            connect_ms=1.5,
            at=201.0,
        )
    )
    doctor(
        DoctorVerdict(
            source="http://127.0.0.9/", kind="url", verdict="ok", layer="", cause="", message=""
        )
    )
    doctor.close()

    fleet = History(path, "run-fleet")
    fleet(RunStarted("run-fleet", "fleet", ("true",), at=300.0))
    fleet(FleetHostChanged("f1", "web1", "running", 1))
    fleet(
        FleetHostChanged(
            "f1",
            "web1",
            "failed",
            1,
            exit_code=100,
            output_tail="E: Unable to locate package foo\n",
            at=301.0,
        )
    )
    fleet(FleetHostChanged("f1", "web2", "ok", 1))
    fleet.close()

    with _read(path) as db:
        groups = [dict(row) for row in db.execute("SELECT * FROM error_groups ORDER BY count DESC")]
        events = [dict(row) for row in db.execute("SELECT * FROM error_events ORDER BY at")]
        verdicts = [dict(row) for row in db.execute("SELECT * FROM doctor_verdicts")]
        breakers = [tuple(row) for row in db.execute("SELECT upstream, state FROM breaker_events")]
    refused = groups[0]
    assert refused["count"] == 2  # go's attempt and doctor's verdict: one failure
    assert refused["pattern"] == "dial <url>: connection refused"
    assert refused["cause"] == "tcp-refused"
    assert (refused["first_seen"], refused["last_seen"]) == (101.0, 201.0)
    assert [g["pattern"] for g in groups[1:]] == ["E: Unable to locate package foo"]
    assert [(e["command"], e["upstream"], e["host"], e["module"]) for e in events] == [
        ("go", "http://127.0.0.7:3000", None, "fixture.test/a"),
        ("doctor", "http://***@127.0.0.8:4000/", None, None),
        ("fleet", None, "web1", None),
    ]
    assert [v["verdict"] for v in verdicts] == ["fail", "ok"]
    assert "hunter2" not in repr(verdicts) + repr(groups) + repr(events)
    assert breakers == [("http://127.0.0.7:3000", "open")]


def test_a_version_2_database_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    old = sqlite3.connect(path)
    for script in _MIGRATIONS[:2]:
        old.executescript(script)
    old.execute(
        "INSERT INTO artifacts(run_id, artifact, module, version, kind, outcome, upstream,"
        " attempts, hedges, bytes, duration_s, cause, error, cached, at)"
        " VALUES ('old', 'a', 'm', 'v1.0.0', 'zip', 'ok', 'u', 1, 0, 1, 0.1, 'ok', '', 0, 1.0)"
    )
    old.execute("PRAGMA user_version=2")
    old.commit()
    old.close()

    history = History(path, "new")
    history(_artifact())
    history.close()
    with _read(path) as db:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        rows = [tuple(r) for r in db.execute("SELECT run_id, won_by FROM artifacts ORDER BY id")]
    assert version == SCHEMA_VERSION
    assert rows == [("old", ""), ("new", "")]
