"""Error groups in the history: every failure counted under its fingerprint.

A failure is anything that did not work and has a message: an upstream attempt that
errored, an artifact that failed, a source doctor failed, a fleet host that did not end
ok. Each one adds an occurrence (when, which run and command, the upstream, host or
module it touched) and bumps its group's count and last-seen time; the first occurrence
creates the group with its cause id and an example message.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Final

from unstall.events import (
    ArtifactFinished,
    AttemptFinished,
    DoctorVerdict,
    Event,
    FleetHostChanged,
)
from unstall.fleet.states import HostState
from unstall.observe.fingerprint import error_line, fingerprint
from unstall.redact import redact

_EXAMPLE_CHARS: Final = 500
# Attempt outcomes that are not failures of the upstream.
_NOT_FAILED: Final = frozenset({"ok", "not-found", "cancelled"})
# A fleet host has failed once an attempt ends in a final state other than ok.
_FLEET_FAILED: Final = frozenset(s.value for s in HostState if s.final and s is not HostState.OK)


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


def failure_of(event: Event, command: str = "", *, now: float | None = None) -> Failure | None:
    """The failure ``event`` reports, or None when it reports none.

    The one definition of which events are failures and what message each one has: the
    history's error groups and the Sentry sink both use it, so a Sentry issue is a group.
    ``now`` stands in for the time of events that carry none (ArtifactFinished);
    messages are redacted.
    """
    if isinstance(event, AttemptFinished):
        if event.outcome in _NOT_FAILED:
            return None
        return Failure(
            redact(event.error),
            event.cause,
            command,
            event.at,
            upstream=event.upstream,
            module=event.module,
        )
    if isinstance(event, ArtifactFinished):
        if event.outcome != "failed":
            return None
        at = time.time() if now is None else now
        return Failure(
            redact(event.error),
            event.cause,
            command,
            at,
            upstream=event.upstream,
            module=event.module,
        )
    if isinstance(event, DoctorVerdict):
        if event.verdict != "fail":
            return None
        return Failure(
            redact(event.message), event.cause, command, event.at, upstream=redact(event.source)
        )
    if isinstance(event, FleetHostChanged):
        if event.state not in _FLEET_FAILED:
            return None
        line = error_line(event.output_tail, event.error) or event.state
        return Failure(redact(line), event.cause or event.state, command, event.at, host=event.host)
    return None


def _message(failure: Failure) -> str:
    # An empty message falls back to the cause, so that the group still says something.
    return redact(failure.message) or failure.cause or "unknown error"


def _hosts(failure: Failure) -> tuple[str, ...]:
    # A host's own name is not part of its group.
    return (failure.host,) if failure.host else ()


def group_of(failure: Failure) -> tuple[str, str]:
    """``(group id, redacted message)`` of ``failure``, as the history groups it."""
    message = _message(failure)
    return fingerprint(message, _hosts(failure))[0], message


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
        message = _message(failure)
        key, pattern = fingerprint(message, _hosts(failure))
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


__all__ = ["ErrorGroupBuffer", "Failure", "failure_of", "group_of"]
