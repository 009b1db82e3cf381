"""Error groups in the history: every failure counted under its fingerprint.

A failure is anything that did not work and has a message: an upstream attempt that
errored, an artifact that failed, a source doctor failed, a fleet host that did not end
ok. Each one adds an occurrence (when, which run and command, the upstream, host or
module it touched) and bumps its group's count and last-seen time; the first occurrence
creates the group with its cause id and an example message.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Final

from unstall.observe.fingerprint import fingerprint
from unstall.redact import redact

_EXAMPLE_CHARS: Final = 500


@dataclass(frozen=True, slots=True)
class Failure:
    """One failure to record; ``message`` is redacted before it is stored."""

    message: str
    cause: str
    command: str
    at: float
    upstream: str | None = None
    host: str | None = None
    module: str | None = None


@dataclass(slots=True)
class _Pending:
    pattern: str
    cause: str
    example: str
    first_seen: float
    last_seen: float
    count: int = 1


class ErrorGroupBuffer:
    """Failures waiting for the next flush of the history, written in one go."""

    def __init__(self) -> None:
        self._groups: dict[str, _Pending] = {}
        self._events: list[tuple[object, ...]] = []

    def __len__(self) -> int:
        return len(self._events)

    def add(self, run_id: str, failure: Failure) -> str:
        """Count ``failure``; return its group id."""
        message = redact(failure.message) or failure.cause or "unknown error"
        hosts = (failure.host,) if failure.host else ()
        key, pattern = fingerprint(message, hosts)
        group = self._groups.get(key)
        if group is None:
            self._groups[key] = _Pending(
                pattern, failure.cause, message[:_EXAMPLE_CHARS], failure.at, failure.at
            )
        else:
            group.first_seen = min(group.first_seen, failure.at)
            group.last_seen = max(group.last_seen, failure.at)
            group.count += 1
        self._events.append(
            (
                key,
                run_id,
                failure.command,
                redact(failure.upstream) if failure.upstream else None,
                failure.host,
                failure.module,
                failure.at,
            )
        )
        return key

    def write(self, db: sqlite3.Connection) -> None:
        """Upsert the groups and insert the occurrences (inside the caller's transaction)."""
        db.executemany(
            "INSERT INTO error_groups(group_id, pattern, cause, example, first_seen, last_seen,"
            " count) VALUES (?,?,?,?,?,?,?) ON CONFLICT(group_id) DO UPDATE SET"
            " first_seen=min(first_seen, excluded.first_seen),"
            " last_seen=max(last_seen, excluded.last_seen), count=count + excluded.count,"
            " cause=CASE WHEN cause IN ('', 'unknown') THEN excluded.cause ELSE cause END",
            [
                (key, g.pattern, g.cause, g.example, g.first_seen, g.last_seen, g.count)
                for key, g in self._groups.items()
            ],
        )
        db.executemany(
            "INSERT INTO error_events(group_id, run_id, command, upstream, host, module, at)"
            " VALUES (?,?,?,?,?,?,?)",
            self._events,
        )

    def clear(self) -> None:
        """Forget what was written."""
        self._groups.clear()
        self._events.clear()


__all__ = ["ErrorGroupBuffer", "Failure"]
