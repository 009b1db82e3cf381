"""The alert rules: which thresholds the history crosses after one run.

Each rule reads the history database and returns :class:`Alert` values; sending and
cool-down are :mod:`unstall.observe.alerts`' business. Everything put in an alert is
redacted, since alerts leave the machine.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from unstall.config import AlertSettings
from unstall.doctor.causes import cause_for
from unstall.observe.alerts_payload import Alert
from unstall.redact import redact

# Attempt outcomes that say nothing about an upstream's health (as in the history).
_NOT_COUNTED: Final = ("not-found", "cancelled")
_LIST_LIMIT: Final = 10
_EXAMPLE_CHARS: Final = 300


def evaluate(
    db: sqlite3.Connection,
    config: AlertSettings,
    *,
    run_id: str,
    fleet_run_id: str | None,
    now: float,
) -> list[Alert]:
    """Every alert the history calls for after run ``run_id``, in a stable order."""
    alerts = failure_rate_alerts(db, config, now=now)
    if config.new_group:
        alerts += new_group_alerts(db, run_id)
    if fleet_run_id is not None:
        alerts += fleet_alerts(db, config, fleet_run_id)
    return alerts


def duration(seconds: float) -> str:
    """``seconds`` the way people say it: 45s, 30m, 1h, 1.5h, 2d."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g}{unit}"
    return f"{seconds:.3g}s"


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:_LIST_LIMIT])
    more = len(items) - _LIST_LIMIT
    return shown + (f" and {more} more" if more > 0 else "")


def _clip(text: str) -> str:
    return text if len(text) <= _EXAMPLE_CHARS else text[: _EXAMPLE_CHARS - 1] + "…"


def failure_rate_alerts(
    db: sqlite3.Connection, config: AlertSettings, *, now: float
) -> list[Alert]:
    """Upstreams whose share of failed attempts over the window reached the threshold."""
    if config.failure_rate is None:
        return []
    since = now - config.window
    rows = db.execute(
        "SELECT upstream, SUM(outcome != 'ok'), COUNT(*) FROM attempts"
        " WHERE at >= ? AND outcome NOT IN (?, ?) GROUP BY upstream ORDER BY upstream",
        (since, *_NOT_COUNTED),
    ).fetchall()
    alerts = []
    for upstream, failed, total in rows:
        rate = failed / total
        if total < config.min_attempts or failed == 0 or rate < config.failure_rate:
            continue
        cause_id, last_error = _worst(db, upstream, since)
        cause = cause_for(cause_id)
        name = redact(upstream)
        facts = [
            ("Upstream", name),
            ("Failed", f"{failed} of {total} attempts ({rate:.0%})"),
            ("Window", f"last {duration(config.window)}"),
            ("Threshold", f"{config.failure_rate:.0%} of at least {config.min_attempts} attempts"),
            ("Most common cause", f"{cause_id}: {cause.explanation}"),
            ("Fix", cause.fix),
        ]
        if last_error:
            facts.append(("Last error", last_error))
        alerts.append(
            Alert(
                key=f"failure-rate:{name}",
                kind="failure-rate",
                summary=(
                    f"{name}: {failed} of {total} attempts failed ({rate:.0%})"
                    f" in the last {duration(config.window)}"
                ),
                facts=tuple(facts),
                details={
                    "upstream": name,
                    "failed": failed,
                    "attempts": total,
                    "rate": round(rate, 4),
                    "threshold": config.failure_rate,
                    "min_attempts": config.min_attempts,
                    "window_s": config.window,
                    "cause": cause_id,
                    "explanation": cause.explanation,
                    "fix": cause.fix,
                    "last_error": last_error,
                },
            )
        )
    return alerts


def _worst(db: sqlite3.Connection, upstream: str, since: float) -> tuple[str, str]:
    """The most common cause of the upstream's failures, and its latest error message."""
    failed = "upstream=? AND at >= ? AND outcome != 'ok' AND outcome NOT IN (?, ?)"
    params = (upstream, since, *_NOT_COUNTED)
    row = db.execute(
        f"SELECT cause FROM attempts WHERE {failed} GROUP BY cause"
        " ORDER BY COUNT(*) DESC, cause LIMIT 1",
        params,
    ).fetchone()
    last = db.execute(
        f"SELECT error FROM attempts WHERE {failed} ORDER BY at DESC LIMIT 1", params
    ).fetchone()
    return (row[0] if row else "unknown"), _clip(redact(last[0])) if last else ""


def new_group_alerts(db: sqlite3.Connection, run_id: str) -> list[Alert]:
    """Error groups that occurred in ``run_id`` and were never seen before it started."""
    row = db.execute("SELECT started FROM runs WHERE run_id=?", (run_id,)).fetchone()
    if row is None:
        # A run that was not recorded: its own first failure is its start.
        row = db.execute("SELECT MIN(at) FROM error_events WHERE run_id=?", (run_id,)).fetchone()
    started = row[0] if row else None
    if started is None:
        return []
    groups = db.execute(
        "SELECT group_id, cause, example, count, first_seen FROM error_groups"
        " WHERE first_seen >= ? AND group_id IN"
        " (SELECT group_id FROM error_events WHERE run_id=?) ORDER BY first_seen, group_id",
        (started, run_id),
    ).fetchall()
    alerts = []
    for group_id, cause_id, example, count, first_seen in groups:
        cause = cause_for(cause_id)
        touched = _touched(db, group_id, run_id)
        text = _clip(redact(example))
        facts = [
            ("Group", group_id),
            ("Example", text),
            ("Count", str(count)),
            ("Cause", f"{cause_id}: {cause.explanation}"),
            ("Fix", cause.fix),
        ]
        facts += [(label.capitalize(), _listed(items)) for label, items in touched.items() if items]
        alerts.append(
            Alert(
                key=f"group:{group_id}",
                kind="new-group",
                summary=f"new error group {group_id} ({cause_id}): {text}",
                facts=tuple(facts),
                details={
                    "group_id": group_id,
                    "example": text,
                    "count": count,
                    "first_seen": first_seen,
                    "cause": cause_id,
                    "explanation": cause.explanation,
                    "fix": cause.fix,
                    **touched,
                },
            )
        )
    return alerts


def _touched(db: sqlite3.Connection, group_id: str, run_id: str) -> dict[str, list[str]]:
    """The upstreams, hosts and modules the group's failures in this run touched."""
    touched: dict[str, list[str]] = {"upstreams": [], "hosts": [], "modules": []}
    for upstream, host, module in db.execute(
        "SELECT upstream, host, module FROM error_events WHERE group_id=? AND run_id=?"
        " GROUP BY upstream, host, module ORDER BY MIN(at)",
        (group_id, run_id),
    ):
        for label, value in (("upstreams", upstream), ("hosts", host), ("modules", module)):
            if value and redact(value) not in touched[label]:
                touched[label].append(redact(value))
    return touched


def fleet_alerts(db: sqlite3.Connection, config: AlertSettings, fleet_run_id: str) -> list[Alert]:
    """The fleet run, if the share of its hosts that did not end ok is over the threshold."""
    if config.fleet_failure_percent is None:
        return []
    hosts = db.execute(
        "SELECT host, state FROM fleet_hosts WHERE run_id=? ORDER BY position", (fleet_run_id,)
    ).fetchall()
    failed = [host for host, state in hosts if state != "ok"]
    if not hosts:
        return []
    percent = len(failed) * 100 / len(hosts)
    if percent <= config.fleet_failure_percent:
        return []
    states: dict[str, int] = {}
    for _, state in hosts:
        states[state] = states.get(state, 0) + 1
    share = f"{len(failed)} of {len(hosts)} hosts did not end ok ({percent:.0f}%)"
    facts = (
        ("Fleet run", fleet_run_id),
        ("Failed", share),
        ("Threshold", f"more than {config.fleet_failure_percent:g}%"),
        ("States", ", ".join(f"{state} {n}" for state, n in sorted(states.items()))),
        ("Hosts", _listed(failed)),
    )
    return [
        Alert(
            key=f"fleet:{fleet_run_id}",
            kind="fleet-failure",
            summary=f"fleet run {fleet_run_id}: {share}",
            facts=facts,
            details={
                "fleet_run_id": fleet_run_id,
                "failed": len(failed),
                "hosts": len(hosts),
                "percent": round(percent, 2),
                "threshold": config.fleet_failure_percent,
                "states": dict(sorted(states.items())),
                "failed_hosts": failed,
            },
        )
    ]


__all__ = [
    "duration",
    "evaluate",
    "failure_rate_alerts",
    "fleet_alerts",
    "new_group_alerts",
]
