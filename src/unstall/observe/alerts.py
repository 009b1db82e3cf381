"""Alerts: after a run, tell the configured webhooks what crossed a threshold.

Three rules read the history database (``[alerts]`` in the configuration):

* failure rate: per upstream, failed attempts / (ok + failed) attempts over the last
  ``window`` seconds, once there are at least ``min_attempts``;
* new error group: a group that first appeared in this run;
* fleet failure: the share of a fleet run's hosts that did not end ok.

Each alert goes to every target at most once per ``cooldown`` (table ``alerts_sent``,
key ``"<target>|<alert key>"``). The check and the reservation happen in one
``BEGIN IMMEDIATE`` transaction, so two processes never both send; a delivery that
fails gives its reservation back, so the next run tries again. Webhook URLs are
secrets: they never appear in a return value, an error, a log record or the history.
"""

from __future__ import annotations

import logging
import sqlite3
import ssl
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx

from unstall.config import AlertTarget, Settings
from unstall.http.client import USER_AGENT
from unstall.observe.alerts_payload import Alert, answer_problem, payload
from unstall.observe.alerts_rules import evaluate
from unstall.observe.schema import connect
from unstall.redact import redact

_HIDDEN = "<webhook>"


@dataclass(frozen=True, slots=True)
class AlertDelivery:
    """One alert sent (or not) to one target; ``target`` is its name, never its URL."""

    target: str
    alert_key: str
    ok: bool
    error: str | None


@dataclass(frozen=True, slots=True)
class _Run:
    """What every delivery of one call shares."""

    db: sqlite3.Connection
    client: httpx.Client
    run_id: str
    command: str
    at: float
    cooldown: float


@dataclass(frozen=True, slots=True)
class _Reservation:
    key: str
    at: float
    previous: tuple[float, int] | None


def send_alerts(
    settings: Settings,
    db_path: Path,
    *,
    run_id: str,
    command: str,
    fleet_run_id: str | None = None,
    now: float | None = None,
    transport: httpx.BaseTransport | None = None,
) -> list[AlertDelivery]:
    """Evaluate the alert rules for run ``run_id`` and deliver what is due.

    Returns one :class:`AlertDelivery` per alert and target that was due (alerts still
    in their cool-down are left out). Delivery problems never raise: they come back as
    ``ok=False`` with a redacted error. Errors of the history database do raise.
    """
    config = settings.alerts
    if not config.targets:
        return []
    at = time.time() if now is None else now
    db = connect(db_path)
    try:
        alerts = evaluate(db, config, run_id=run_id, fleet_run_id=fleet_run_id, now=at)
        if not alerts:
            return []
        targets = _named(config.targets)
        urls = [target.url.get_secret_value() for _, target in targets]
        with _scrubbed_logs(urls), _client(config.timeout, transport) as client:
            run = _Run(db, client, run_id, command, at, config.cooldown)
            return [d for name, target in targets for d in _send_to(run, name, target, alerts)]
    finally:
        db.close()


def _send_to(
    run: _Run, name: str, target: AlertTarget, alerts: Sequence[Alert]
) -> list[AlertDelivery]:
    """Deliver the alerts due at one target, in order."""
    deliveries: list[AlertDelivery] = []
    unreachable: str | None = None
    for alert in alerts:
        reservation = _reserve(run.db, f"{name}|{alert.key}", name, run.at, run.cooldown)
        if reservation is None:
            continue
        if unreachable is not None:
            # One timeout per alert would make a run with many alerts hang for minutes.
            error: str | None = f"not sent, the target failed before: {unreachable}"
        else:
            error, transport_failed = _deliver(run, target, alert)
            if transport_failed:
                unreachable = error
        if error is not None:
            _release(run.db, reservation)
        deliveries.append(AlertDelivery(name, alert.key, error is None, error))
    return deliveries


def _named(targets: Sequence[AlertTarget]) -> list[tuple[str, AlertTarget]]:
    """Targets with distinct names: two unnamed Slack targets are ``slack`` and ``slack#2``."""
    named: list[tuple[str, AlertTarget]] = []
    seen: set[str] = set()
    for target in targets:
        base = target.name or target.kind
        name, n = base, 1
        while name in seen:
            n += 1
            name = f"{base}#{n}"
        seen.add(name)
        named.append((name, target))
    return named


def _client(timeout: float, transport: httpx.BaseTransport | None) -> httpx.Client:
    # Like the module client: the system trust store (a corporate CA installed for go
    # works here too) and HTTP(S)_PROXY from the environment. No redirects: a webhook
    # that redirects is misconfigured, and following it could leak the message.
    return httpx.Client(
        timeout=timeout,
        transport=transport,
        trust_env=True,
        verify=ssl.create_default_context(),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )


def _deliver(run: _Run, target: AlertTarget, alert: Alert) -> tuple[str | None, bool]:
    """``(error or None, whether the target could not be reached at all)``."""
    url = target.url.get_secret_value()
    body = payload(target.kind, alert, run_id=run.run_id, command=run.command, at=run.at)
    try:
        response = run.client.post(url, json=body)
    # Transport errors, timeouts, and an invalid URL alike: a failed delivery is
    # reported, never raised, and httpx puts the URL in some of its messages.
    except Exception as exc:
        detail = str(exc) or "no detail"
        return _scrub(f"could not deliver ({type(exc).__name__}): {detail}", url), True
    problem = answer_problem(target.kind, response.status_code, response.text)
    return (None if problem is None else _scrub(problem, url)), False


def _secret_forms(url: str) -> list[str]:
    """Every form in which ``url`` or its secret parts could show up in a message."""
    forms = {url, unquote(url)}
    # An unparsable URL has no normalised form: the raw string is all there is to hide.
    with suppress(Exception):
        forms.add(str(httpx.URL(url)))
    parts = urlsplit(url)
    if parts.query:
        forms.add(parts.query)
        forms.update(value for _, value in parse_qsl(parts.query) if len(value) >= 4)
    if len(parts.path) > 1:
        forms.add(parts.path + (f"?{parts.query}" if parts.query else ""))
    # Longest first, so a whole URL is replaced before a part of it.
    return sorted((form for form in forms if form), key=len, reverse=True)


def _scrub(text: str, url: str) -> str:
    for form in _secret_forms(url):
        text = text.replace(form, _HIDDEN)
    return redact(text)


class _LogScrubber(logging.Filter):
    """Hides webhook URLs in httpx's own log records ("HTTP Request: POST <url> ...")."""

    def __init__(self, urls: Sequence[str]) -> None:
        super().__init__()
        self._urls = urls

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = message
        for url in self._urls:
            scrubbed = _scrub(scrubbed, url)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


@contextmanager
def _scrubbed_logs(urls: Sequence[str]) -> Iterator[None]:
    logger = logging.getLogger("httpx")
    scrubber = _LogScrubber(urls)
    logger.addFilter(scrubber)
    try:
        yield
    finally:
        logger.removeFilter(scrubber)


def _reserve(
    db: sqlite3.Connection, key: str, target: str, at: float, cooldown: float
) -> _Reservation | None:
    """Claim ``key`` for a send at ``at`` unless it was sent within ``cooldown``."""
    db.execute("BEGIN IMMEDIATE")
    try:
        row = db.execute(
            "SELECT last_sent, sent_count FROM alerts_sent WHERE alert_key=?", (key,)
        ).fetchone()
        if row is not None and at - float(row[0]) < cooldown:
            db.execute("ROLLBACK")
            return None
        db.execute(
            "INSERT INTO alerts_sent(alert_key, target, last_sent, sent_count) VALUES (?,?,?,1)"
            " ON CONFLICT(alert_key) DO UPDATE SET target=excluded.target,"
            " last_sent=excluded.last_sent, sent_count=sent_count + 1",
            (key, target, at),
        )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    previous = None if row is None else (float(row[0]), int(row[1]))
    return _Reservation(key, at, previous)


def _release(db: sqlite3.Connection, reservation: _Reservation) -> None:
    """Give back a reservation whose send failed (only if it is still ours)."""
    key, at = reservation.key, reservation.at
    db.execute("BEGIN IMMEDIATE")
    try:
        if reservation.previous is None:
            db.execute(
                "DELETE FROM alerts_sent WHERE alert_key=? AND last_sent=? AND sent_count=1",
                (key, at),
            )
        else:
            last_sent, count = reservation.previous
            db.execute(
                "UPDATE alerts_sent SET last_sent=?, sent_count=?"
                " WHERE alert_key=? AND last_sent=? AND sent_count=?",
                (last_sent, count, key, at, count + 1),
            )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


__all__ = ["AlertDelivery", "send_alerts"]
