"""A synthetic history for bench/report.py: a week of busy mirrors, written fast.

Rows go straight into the history schema with ``executemany`` (no event bus): attempts
and their artifacts spread evenly over the window, failures with their error events and
groups, breaker openings, doctor verdicts and a few fleet runs. Failure messages come
from a few templates whose varying parts (addresses, sizes, versions) normalise away, so
they form a realistic handful of error groups.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from unstall.observe.fingerprint import fingerprint
from unstall.observe.schema import connect

DAY: Final = 86_400.0
# (upstream, share of attempts, median seconds to first byte, share failing)
UPSTREAMS: Final = (
    ("https://mirror-a.example.test", 0.40, 0.05, 0.01),
    ("https://mirror-b.example.test", 0.25, 0.12, 0.04),
    ("http://127.0.0.1:8081", 0.15, 0.01, 0.005),
    ("https://slow.example.test", 0.12, 0.8, 0.08),
    ("https://flaky.example.test", 0.08, 0.2, 0.25),
)
# (cause, message template; {n} a number, {ip} an address, {v} a version)
FAILURES: Final = (
    ("tcp-timeout", "connect to {ip}:443 timed out after {n} ms"),
    ("tcp-reset", "connection reset by peer after {n} bytes"),
    ("tls-timeout", "TLS handshake with {ip}:443 did not finish in {n} s"),
    ("http-timeout", "no response headers within {n} s"),
    ("http-server-error", "upstream answered 503 for example.test/m{n}/@v/{v}.zip"),
    ("transfer-stall", "body stalled after {n} bytes"),
    ("transfer-truncated", "connection closed after {n} of {n} bytes"),
)
# Seconds a failure takes when it is a deadline running out.
_FAILED_AFTER: Final = {"tcp-timeout": 10.0, "tls-timeout": 10.0, "http-timeout": 30.0}
KINDS: Final = ("zip", "mod", "info")
COMMANDS: Final = ("go", "prefetch", "serve")


@dataclass(frozen=True)
class Synthesized:
    """What :func:`synthesize` wrote (row counts) and the window it covers."""

    since: float
    until: float
    runs: int
    attempts: int
    artifacts: int
    error_events: int
    groups: int
    fleet_runs: int


def _message(rng: random.Random, template: str) -> str:
    return template.format(
        n=rng.randint(1, 99_999),
        ip=f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        v=f"v1.{rng.randint(0, 40)}.{rng.randint(0, 9)}",
    )


def synthesize(path: Path, *, attempts: int, now: float, days: float = 7.0) -> Synthesized:
    """Write a history of about ``attempts`` attempts ending at ``now`` into ``path``."""
    rng = random.Random(8)
    since = now - days * DAY
    db = connect(path)
    names = [u[0] for u in UPSTREAMS]
    weights = [u[1] for u in UPSTREAMS]
    profile = {u[0]: u for u in UPSTREAMS}
    # Group ids computed once per template: every message of a template normalises alike.
    group_of = {cause: fingerprint(_message(rng, text)) for cause, text in FAILURES}
    attempt_rows: list[tuple[Any, ...]] = []
    artifact_rows: list[tuple[Any, ...]] = []
    event_rows: list[tuple[Any, ...]] = []
    groups: dict[str, list[Any]] = {}
    runs: list[tuple[Any, ...]] = []
    step = days * DAY / attempts
    at = since
    run_id = ""
    number = 0
    while len(attempt_rows) < attempts:
        if number % 400 == 0:
            run_id = f"bench-run-{len(runs):05d}"
            command = rng.choice(COMMANDS)
            runs.append((run_id, command, "[]", at, at + 60.0, 0))
        number += 1
        module = f"example.test/mod{rng.randint(0, 5000)}"
        version = f"v1.{rng.randint(0, 40)}.{rng.randint(0, 9)}"
        kind = rng.choice(KINDS)
        artifact = f"{module}/@v/{version}.{kind}"
        chosen = rng.choices(names, weights)[0]
        tries = 1 if rng.random() < 0.85 else rng.randint(2, 3)
        started = at
        won = ""
        winner: str | None = None
        duration = 0.0
        for attempt in range(1, tries + 1):
            upstream = chosen if attempt == 1 or rng.random() < 0.5 else rng.choice(names)
            _, _, ttfb_median, failing = profile[upstream]
            reused = rng.random() < 0.7
            connect_s = None if reused else rng.uniform(0.001, 0.03)
            tls_s = None if reused or upstream.startswith("http:") else rng.uniform(0.005, 0.06)
            first_byte: float | None = rng.lognormvariate(0, 0.6) * ttfb_median
            transfer: float | None = (
                rng.expovariate(1 / 0.2) if kind == "zip" else rng.uniform(0, 0.01)
            )
            last = attempt == tries
            ok = last and rng.random() >= failing
            if ok:
                outcome, cause, error = "ok", "ok", ""
                total = (first_byte or 0.0) + (transfer or 0.0)
            else:
                cause, template = rng.choice(FAILURES)
                outcome, error = "error", _message(rng, template)
                # The phases after the failing one never happened.
                layer = cause.split("-")[0]
                if layer == "tcp":
                    connect_s = tls_s = first_byte = transfer = None
                elif layer == "tls":
                    tls_s = first_byte = transfer = None
                elif cause == "http-timeout":
                    first_byte = transfer = None
                elif layer == "http":
                    transfer = None
                else:
                    transfer = (transfer or 0.0) * 0.5
                total = _FAILED_AFTER.get(cause) or (first_byte or 0.0) + (transfer or 0.0)
                key, pattern = group_of[cause]
                group = groups.get(key)
                if group is None:
                    groups[key] = [key, pattern, cause, error, at, at, 1]
                else:
                    group[5] = at
                    group[6] += 1
                event_rows.append((key, run_id, command, upstream, None, module, at))
            attempt_rows.append(
                (run_id, artifact, module, version, kind, upstream, attempt, outcome, cause,
                 error, connect_s, tls_s, first_byte, transfer, total,
                 rng.randint(200, 4_000_000), 0, at)
            )  # fmt: skip
            duration += total
            at += step
            if ok:
                winner = upstream
                won = "first" if attempt == 1 else "failover"
        hedges = 1 if rng.random() < 0.05 else 0
        if hedges and winner is not None and rng.random() < 0.5:
            won = "hedge"
        artifact_rows.append(
            (run_id, artifact, module, version, kind, "ok" if winner else "failed",
             winner or chosen, tries, hedges, rng.randint(200, 4_000_000), duration,
             "ok" if winner else cause, "" if winner else error, 0, started, won)
        )  # fmt: skip
    db.execute("BEGIN")
    db.executemany("INSERT INTO runs VALUES (?,?,?,?,?,?)", runs)
    db.executemany(
        "INSERT INTO attempts(run_id, artifact, module, version, kind, upstream, attempt,"
        " outcome, cause, error, connect_s, tls_s, first_byte_s, transfer_s, total_s, bytes,"
        " resumed_from, at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        attempt_rows,
    )
    db.executemany(
        "INSERT INTO artifacts(run_id, artifact, module, version, kind, outcome, upstream,"
        " attempts, hedges, bytes, duration_s, cause, error, cached, at, won_by)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        artifact_rows,
    )
    db.executemany("INSERT INTO error_events VALUES (?,?,?,?,?,?,?)", event_rows)
    db.executemany("INSERT INTO error_groups VALUES (?,?,?,?,?,?,?)", list(groups.values()))
    _breakers_and_doctor(db, rng, names, since, now)
    fleet_runs = _fleet(db, rng, since, now)
    db.execute("COMMIT")
    db.close()
    return Synthesized(
        since,
        now,
        len(runs),
        len(attempt_rows),
        len(artifact_rows),
        len(event_rows),
        len(groups),
        fleet_runs,
    )


def _breakers_and_doctor(
    db: sqlite3.Connection, rng: random.Random, names: list[str], since: float, now: float
) -> None:
    breakers = []
    for _ in range(300):
        at = rng.uniform(since, now)
        upstream = rng.choice(names[3:])
        breakers += [("bench", upstream, "open", at), ("bench", upstream, "closed", at + 30)]
    db.executemany("INSERT INTO breaker_events VALUES (?,?,?,?)", breakers)
    verdicts = []
    for i in range(500):
        source = names[i % len(names)]
        verdict = "fail" if source.startswith("https://flaky") and i % 3 == 0 else "ok"
        cause = "tcp-timeout" if verdict == "fail" else "ok"
        verdicts.append(
            ("bench", source, "go", verdict, "tcp" if verdict == "fail" else "none", cause,
             "", 1.0, 2.0, 3.0, 40.0, 5.0, rng.uniform(since, now))
        )  # fmt: skip
    db.executemany(
        "INSERT INTO doctor_verdicts(run_id, source, kind, verdict, layer, cause, message,"
        " dns_ms, connect_ms, tls_ms, ttfb_ms, transfer_ms, at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        verdicts,
    )


def _fleet(db: sqlite3.Connection, rng: random.Random, since: float, now: float) -> int:
    runs = 6
    for r in range(runs):
        started = since + (r + 0.5) * (now - since) / runs
        run_id = f"fleet-{r}"
        db.execute(
            "INSERT INTO fleet_runs VALUES (?,?,?,?,?,?,?)",
            (run_id, "go mod download", "{}", None, started, started + 120, 1),
        )
        hosts = []
        for h in range(50):
            state = rng.choices(["ok", "failed", "unreachable", "timeout"], [90, 4, 4, 2])[0]
            hosts.append(
                (run_id, f"web{h:02d}", h, f"web{h:02d}.example.test", state, 1,
                 0 if state == "ok" else 1, rng.uniform(5, 60), "", None, None, started + 60)
            )  # fmt: skip
        db.executemany("INSERT INTO fleet_hosts VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", hosts)
    return runs


__all__ = ["Synthesized", "synthesize"]
