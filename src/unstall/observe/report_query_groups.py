"""The error groups of a report window: the top ones, what they touched, over time.

Candidates are the groups last seen in the window (``error_groups_last_seen``); each is
counted in the window from its own slice of ``error_events_touched`` (group, time, then
what it touched), so no query sorts the occurrences. ``count`` is occurrences in the
window, ``total_count`` over all history.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from unstall.doctor.causes import CATALOGUE
from unstall.observe.report_model import ErrorGroupStats, GroupPoint
from unstall.observe.report_query_window import Window

# How many distinct commands, upstreams, hosts or modules a group lists at most.
TOUCHED_CAP: Final = 10
_TOUCHED: Final = ("command", "upstream", "host", "module")
_CANDIDATES: Final = (
    "SELECT group_id, pattern, cause, example, first_seen, last_seen, count"
    " FROM error_groups WHERE last_seen >= ? AND first_seen < ?"
)
_COUNT: Final = "SELECT count(*) FROM error_events WHERE group_id = ? AND at >= ? AND at < ?"


def _touched(db: sqlite3.Connection, group_id: str, column: str, window: Window) -> tuple[str, ...]:
    # ``column`` is one of _TOUCHED, never user input.
    rows = db.execute(
        f"SELECT DISTINCT {column} FROM error_events WHERE group_id = ? AND at >= ? AND at < ?"
        f" AND {column} IS NOT NULL AND {column} != '' LIMIT ?",
        (group_id, window.since, window.end, TOUCHED_CAP),
    )
    return tuple(sorted(str(row[0]) for row in rows))


def top_groups(db: sqlite3.Connection, window: Window, top: int) -> tuple[ErrorGroupStats, ...]:
    """The ``top`` groups by occurrences in the window (then by last seen)."""
    counted = []
    for row in db.execute(_CANDIDATES, (window.since, window.end)).fetchall():
        count = int(db.execute(_COUNT, (row[0], window.since, window.end)).fetchone()[0])
        if count:
            counted.append((count, row))
    counted.sort(key=lambda item: (-item[0], -float(item[1][5]), str(item[1][0])))
    groups = []
    for count, (group_id, pattern, cause, example, first_seen, last_seen, total) in counted[:top]:
        known = CATALOGUE.get(cause)
        commands, upstreams, hosts, modules = (
            _touched(db, group_id, column, window) for column in _TOUCHED
        )
        groups.append(
            ErrorGroupStats(
                group_id=group_id,
                pattern=pattern,
                example=example,
                cause=cause,
                explanation=known.explanation if known else "",
                fix=known.fix if known else "",
                count=count,
                total_count=int(total),
                first_seen=float(first_seen),
                last_seen=float(last_seen),
                commands=commands,
                upstreams=upstreams,
                hosts=hosts,
                modules=modules,
            )
        )
    return tuple(groups)


def group_series(
    db: sqlite3.Connection, window: Window, groups: tuple[ErrorGroupStats, ...]
) -> dict[str, tuple[GroupPoint, ...]]:
    """Occurrences per bucket of each of ``groups``."""
    ranges = window.ranges()
    return {
        group.group_id: tuple(
            GroupPoint(start, int(db.execute(_COUNT, (group.group_id, start, end)).fetchone()[0]))
            for start, end in ranges
        )
        for group in groups
    }


__all__ = ["TOUCHED_CAP", "group_series", "top_groups"]
