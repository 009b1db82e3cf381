"""Durable fleet runs: what is on disk, what resume and retry would pick."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from unstall.fleet.executor import Target
from unstall.fleet.states import HostState, Outcome
from unstall.fleet.store import FleetStore

HOSTS = [
    Target("web1", "127.0.0.5", 2222, "deploy", Path("/keys/id_ed25519")),
    Target("web2", "127.0.0.6"),
    Target("db1", "127.0.0.7"),
    Target("db2", "127.0.0.8"),
]


def ok() -> Outcome:
    return Outcome(HostState.OK, 0, "fine\n", 1.5, None, None)


def test_a_run_round_trips_with_targets_and_options(tmp_path: Path) -> None:
    store = FleetStore(tmp_path / "h.sqlite3")
    store.create_run("r1", "apt-get install foo", {"forks": 5}, HOSTS)
    run = store.load_run("r1")
    store.close()
    assert run is not None
    assert run.command == "apt-get install foo"
    assert dict(run.options) == {"forks": 5}
    assert run.finished is None
    assert [h.target for h in run.hosts] == HOSTS
    assert {h.state for h in run.hosts} == {HostState.PENDING}


def test_a_final_state_is_on_disk_at_once(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    store = FleetStore(path)
    store.create_run("r1", "true", {}, HOSTS)
    store.record("r1", "web1", HostState.CONNECTING, 1)
    store.record("r1", "web1", HostState.OK, 1, ok())
    # Another connection (another process after a kill -9) sees it without close/flush.
    with sqlite3.connect(path) as other:
        row = other.execute(
            "SELECT state, attempts, exit_code, output_tail FROM fleet_hosts WHERE host='web1'"
        ).fetchone()
    store.close()
    assert row == ("ok", 1, 0, "fine\n")


def test_unfinished_hosts_never_include_ok_ones(tmp_path: Path) -> None:
    store = FleetStore(tmp_path / "h.sqlite3")
    store.create_run("r1", "true", {}, HOSTS)
    store.record("r1", "web1", HostState.OK, 1, ok())
    failed = Outcome(HostState.FAILED, 2, "E: nope", 0.2, "exit 2", None)
    store.record("r1", "web2", HostState.FAILED, 1, failed)
    store.record("r1", "db1", HostState.RUNNING, 2)
    unfinished = [t.name for t in store.unfinished_hosts("r1")]
    unsuccessful = [t.name for t in store.unsuccessful_hosts("r1")]
    store.close()
    assert unfinished == ["db1", "db2"]
    assert unsuccessful == ["web2", "db1", "db2"]


def test_secrets_in_output_and_command_are_redacted(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    store = FleetStore(path)
    store.create_run("r1", "curl https://bob:hunter2@example.test/x", {}, HOSTS[:1])
    leaked = Outcome(HostState.FAILED, 1, "TOKEN=hunter2\n", 0.1, "password=hunter2", None)
    store.record("r1", "web1", HostState.FAILED, 1, leaked)
    store.close()
    dump = "\n".join(sqlite3.connect(path).iterdump())
    assert "hunter2" not in dump
    assert "example.test" in dump


def test_latest_run_and_finish(tmp_path: Path) -> None:
    store = FleetStore(tmp_path / "h.sqlite3")
    assert store.latest_run() is None
    assert store.load_run("nope") is None
    store.create_run("r1", "true", {}, HOSTS)
    store.create_run("r2", "true", {}, HOSTS, parent_run="r1")
    store.finish_run("r2", 1)
    latest = store.latest_run()
    run = store.load_run("r2")
    store.close()
    assert latest == "r2"
    assert run is not None
    assert run.parent_run == "r1"
    assert run.exit_code == 1
    assert run.finished is not None


def test_the_history_of_other_commands_still_works(tmp_path: Path) -> None:
    # The fleet tables are a later migration of the same database.
    path = tmp_path / "h.sqlite3"
    FleetStore(path).close()
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "attempts", "artifacts", "fleet_runs", "fleet_hosts"} <= tables
