"""Durable fleet runs in the history SQLite: a run row and one row per host.

Every state change is written; non-final states are buffered, a final state is committed
at once, so a host that reached ``ok`` is on disk before its worker takes the next host
and a ``kill -9`` of the controller never loses it. ``resume`` reads
:meth:`FleetStore.unfinished_hosts` (never the ok ones), ``retry``
:meth:`FleetStore.unsuccessful_hosts`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from unstall.fleet.executor import Target
from unstall.fleet.states import HostState, Outcome
from unstall.observe.schema import connect
from unstall.redact import redact

_FLUSH_SECONDS: Final = 1.0


@dataclass(frozen=True, slots=True)
class HostRecord:
    """What the store knows about one host of a run (texts are redacted)."""

    target: Target
    state: HostState
    attempts: int
    exit_code: int | None
    duration_s: float | None
    output_tail: str
    error: str | None
    cause: str | None

    @property
    def name(self) -> str:
        """The host's inventory name."""
        return self.target.name


@dataclass(frozen=True, slots=True)
class FleetRun:
    """One stored run with its hosts in inventory order."""

    run_id: str
    command: str
    options: Mapping[str, Any]
    parent_run: str | None
    started: float
    finished: float | None
    exit_code: int | None
    hosts: tuple[HostRecord, ...]


def _target_json(target: Target) -> str:
    key = str(target.key_file) if target.key_file else None
    data = {"address": target.address, "port": target.port, "user": target.user, "key": key}
    return json.dumps(data)


def _target(name: str, text: str) -> Target:
    data = json.loads(text)
    key = Path(data["key"]) if data.get("key") else None
    return Target(name, data["address"], int(data["port"]), data.get("user"), key)


class FleetStore:
    """Reader and writer of fleet runs in the history database at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = connect(path)
        self._pending: list[tuple[Any, ...]] = []
        self._last_flush = time.monotonic()

    def create_run(
        self,
        run_id: str,
        command: str,
        options: Mapping[str, Any],
        hosts: Sequence[Target],
        *,
        parent_run: str | None = None,
    ) -> None:
        """Record a new run whose hosts all start ``pending``."""
        now = time.time()
        with self._transaction():
            self._db.execute(
                "INSERT INTO fleet_runs(run_id, command, options, parent_run, started)"
                " VALUES (?,?,?,?,?)",
                (run_id, redact(command), json.dumps(dict(options)), parent_run, now),
            )
            self._db.executemany(
                "INSERT INTO fleet_hosts(run_id, host, position, target, state, attempts,"
                " output_tail, updated) VALUES (?,?,?,?,?,0,'',?)",
                [
                    (run_id, t.name, i, _target_json(t), HostState.PENDING.value, now)
                    for i, t in enumerate(hosts)
                ],
            )

    def record(
        self,
        run_id: str,
        host: str,
        state: HostState,
        attempts: int,
        outcome: Outcome | None = None,
    ) -> None:
        """Record a host's state; final states (and everything before them) hit the disk now."""
        if outcome is None:
            self._pending.append(
                (state.value, attempts, time.time(), run_id, host),
            )
        else:
            self._pending.append(
                (
                    state.value,
                    attempts,
                    time.time(),
                    outcome.exit_code,
                    outcome.duration_s,
                    redact(outcome.output_tail),
                    redact(outcome.error) if outcome.error else None,
                    outcome.cause,
                    run_id,
                    host,
                )
            )
        # Non-final states may wait a little (status shows them late); final ones may not.
        if state.final or time.monotonic() - self._last_flush >= _FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write buffered state changes in one transaction."""
        if not self._pending:
            return
        with self._transaction():
            for row in self._pending:
                if len(row) == 5:
                    self._db.execute(
                        "UPDATE fleet_hosts SET state=?, attempts=?, updated=?"
                        " WHERE run_id=? AND host=?",
                        row,
                    )
                else:
                    self._db.execute(
                        "UPDATE fleet_hosts SET state=?, attempts=?, updated=?, exit_code=?,"
                        " duration_s=?, output_tail=?, error=?, cause=?"
                        " WHERE run_id=? AND host=?",
                        row,
                    )
        self._pending.clear()
        self._last_flush = time.monotonic()

    def finish_run(self, run_id: str, exit_code: int) -> None:
        """Mark the run finished (a resumed run is finished again)."""
        self.flush()
        with self._transaction():
            self._db.execute(
                "UPDATE fleet_runs SET finished=?, exit_code=? WHERE run_id=?",
                (time.time(), exit_code, run_id),
            )

    def reopen_run(self, run_id: str) -> None:
        """A resumed run is running again: clear its finish time."""
        with self._transaction():
            self._db.execute(
                "UPDATE fleet_runs SET finished=NULL, exit_code=NULL WHERE run_id=?", (run_id,)
            )

    def load_run(self, run_id: str) -> FleetRun | None:
        """The stored run ``run_id``, or None."""
        self.flush()
        row = self._db.execute(
            "SELECT run_id, command, options, parent_run, started, finished, exit_code"
            " FROM fleet_runs WHERE run_id=?",
            (run_id,),
        ).fetchone()
        if row is None:
            return None
        hosts = tuple(
            HostRecord(_target(h[0], h[1]), HostState(h[2]), h[3], h[4], h[5], h[6], h[7], h[8])
            for h in self._db.execute(
                "SELECT host, target, state, attempts, exit_code, duration_s, output_tail,"
                " error, cause FROM fleet_hosts WHERE run_id=? ORDER BY position",
                (run_id,),
            )
        )
        return FleetRun(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5], row[6], hosts)

    def unfinished_hosts(self, run_id: str) -> list[Target]:
        """Hosts of ``run_id`` that never reached a final state (never the ok ones)."""
        run = self.load_run(run_id)
        return [] if run is None else [h.target for h in run.hosts if not h.state.final]

    def unsuccessful_hosts(self, run_id: str) -> list[Target]:
        """Hosts of ``run_id`` that did not end ok: failed, timed out, unreachable or unfinished."""
        run = self.load_run(run_id)
        return [] if run is None else [h.target for h in run.hosts if h.state is not HostState.OK]

    def latest_run(self) -> str | None:
        """The id of the most recently started run, or None."""
        row = self._db.execute(
            "SELECT run_id FROM fleet_runs ORDER BY started DESC, rowid DESC LIMIT 1"
        ).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        """Flush and close the database."""
        try:
            self.flush()
        finally:
            self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        self._db.execute("ROLLBACK" if kind is not None else "COMMIT")


__all__ = ["FleetRun", "FleetStore", "HostRecord"]
