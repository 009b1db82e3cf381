"""Alerts delivered over real HTTP to a loopback webhook receiver.

The receiver is a threaded http.server on 127.0.0.1 that records every request and
answers per path: Slack's plain "ok", WeCom's errcode JSON, errors, or no answer at all.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.support.webhook import Receiver
from unstall.config import AlertSettings, AlertTarget, Settings
from unstall.events import AttemptFinished, PhaseTimings, RunStarted
from unstall.fleet.executor import Target
from unstall.fleet.states import HostState
from unstall.fleet.store import FleetStore
from unstall.observe.alerts import AlertDelivery, send_alerts
from unstall.observe.history import History

RUN = "20231114T221000-0000aaaa"
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    # Webhooks honour HTTP(S)_PROXY like every other client; these tests talk to loopback.
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    server = Receiver()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "history.sqlite3"


def _settings(tmp_path: Path, *targets: dict[str, str], **alerts: Any) -> Settings:
    parsed = tuple(AlertTarget.model_validate(t) for t in targets)
    return Settings(
        home=tmp_path, cache_dir=tmp_path / "cache", alerts=AlertSettings(targets=parsed, **alerts)
    )


def _fleet(db: Path, run_id: str, states: list[str]) -> None:
    store = FleetStore(db)
    targets = [Target(f"h{i}", "127.0.0.1") for i in range(len(states))]
    store.create_run(run_id, "go mod download", {}, targets)
    for target, state in zip(targets, states, strict=True):
        store.record(run_id, target.name, HostState(state), 1)
    store.close()


def _failed_run(db: Path) -> None:
    """A run with 20 failed attempts: a failure-rate alert and a new error group."""
    history = History(db, RUN, "go")
    history(RunStarted(RUN, "go", ("mod", "download"), at=time.time() - 10))
    for n in range(20):
        history(
            AttemptFinished(
                artifact="fixture.test/a/@v/v1.0.0.zip",
                module="fixture.test/a",
                version="v1.0.0",
                kind="zip",
                upstream="http://127.0.0.1:1",
                attempt=n + 1,
                outcome="error",
                cause="tcp-refused",
                timings=PhaseTimings(connect=0.001),
                bytes=0,
                error="dial tcp 127.0.0.1:1: connect: connection refused",
            )
        )
    history.close()


def _sent(db: Path) -> list[tuple[str, int]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(
            "SELECT alert_key, sent_count FROM alerts_sent ORDER BY alert_key"
        ).fetchall()


def test_each_webhook_kind_receives_its_format(
    tmp_path: Path, db: Path, receiver: Receiver
) -> None:
    _failed_run(db)
    receiver.answers["/wecom"] = (200, '{"errcode": 0, "errmsg": "ok"}')
    settings = _settings(
        tmp_path,
        {"kind": "slack", "url": receiver.url("/slack"), "name": "team-slack"},
        {"kind": "wecom", "url": receiver.url("/wecom")},
        {"kind": "json", "url": receiver.url("/json")},
    )

    deliveries = send_alerts(settings, db, run_id=RUN, command="go")

    assert [(d.target, d.alert_key.split(":")[0], d.ok) for d in deliveries] == [
        ("team-slack", "failure-rate", True),
        ("team-slack", "group", True),
        ("wecom", "failure-rate", True),
        ("wecom", "group", True),
        ("json", "failure-rate", True),
        ("json", "group", True),
    ]
    by_path = {
        path: [r for r in receiver.requests if r.path == path]
        for path in ("/slack", "/wecom", "/json")
    }
    assert all(len(requests) == 2 for requests in by_path.values())
    for request in receiver.requests:
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"].startswith("unstall/")
    slack = by_path["/slack"][0].body
    assert slack["text"].startswith("unstall: http://127.0.0.1:1: 20 of 20 attempts failed")
    assert [block["type"] for block in slack["blocks"]] == ["section", "section", "context"]
    wecom = by_path["/wecom"][1].body
    assert wecom["msgtype"] == "markdown"
    assert "connection refused" in wecom["markdown"]["content"]
    generic = by_path["/json"][1].body
    assert (generic["source"], generic["kind"], generic["run_id"]) == ("unstall", "new-group", RUN)
    assert generic["details"]["cause"] == "tcp-refused"
    assert len(_sent(db)) == 6

    # Within the cool-down nothing goes out again.
    assert send_alerts(settings, db, run_id=RUN, command="go") == []
    assert len(receiver.requests) == 6


def test_refusals_are_not_recorded_and_are_retried(
    tmp_path: Path, db: Path, receiver: Receiver
) -> None:
    _fleet(db, "fleet-1", ["failed", "ok"])
    receiver.answers["/json"] = (500, "internal error")
    receiver.answers["/wecom"] = (200, '{"errcode": 93000, "errmsg": "invalid webhook url"}')
    settings = _settings(
        tmp_path,
        {"kind": "json", "url": receiver.url("/json")},
        {"kind": "wecom", "url": receiver.url("/wecom")},
    )

    first = send_alerts(settings, db, run_id=RUN, command="fleet", fleet_run_id="fleet-1")

    assert first == [
        AlertDelivery(
            "json", "fleet:fleet-1", False, "the webhook answered HTTP 500: internal error"
        ),
        AlertDelivery(
            "wecom",
            "fleet:fleet-1",
            False,
            "WeCom refused the message: errcode 93000 invalid webhook url",
        ),
    ]
    assert _sent(db) == []

    receiver.answers = {"/wecom": (200, '{"errcode": 0}')}
    second = send_alerts(settings, db, run_id=RUN, command="fleet", fleet_run_id="fleet-1")

    assert [d.ok for d in second] == [True, True]
    assert _sent(db) == [("json|fleet:fleet-1", 1), ("wecom|fleet:fleet-1", 1)]
    assert len(receiver.requests) == 4


def test_a_token_in_the_url_shows_up_nowhere(
    tmp_path: Path, db: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    _failed_run(db)
    _fleet(db, "fleet-1", ["failed"])
    receiver.answers["/hook"] = (403, "forbidden: {path}")  # echoes the query back
    settings = _settings(tmp_path, {"kind": "json", "url": receiver.url("/hook?key=SECRET")})

    with caplog.at_level("DEBUG"):
        deliveries = send_alerts(settings, db, run_id=RUN, command="go", fleet_run_id="fleet-1")
        receiver.answers.clear()
        deliveries += send_alerts(settings, db, run_id=RUN, command="go", fleet_run_id="fleet-1")

    assert [d.ok for d in deliveries] == [False] * 3 + [True] * 3
    assert {r.query for r in receiver.requests} == {"key=SECRET"}  # it was used...
    assert deliveries[0].error == "the webhook answered HTTP 403: forbidden: <webhook>"
    assert "SECRET" not in repr(deliveries)  # ...and shown nowhere
    assert "SECRET" not in caplog.text
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("history.sqlite3*"))
    assert b"SECRET" not in stored


def test_an_unreachable_target_is_a_failed_delivery_not_an_exception(
    tmp_path: Path, db: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _fleet(db, "fleet-1", ["failed"])
    settings = _settings(tmp_path, {"kind": "slack", "url": f"http://127.0.0.1:{port}/x?token=T0K"})

    started = time.monotonic()
    [delivery] = send_alerts(settings, db, run_id=RUN, command="fleet", fleet_run_id="fleet-1")

    assert time.monotonic() - started < 30  # did not hang
    assert not delivery.ok
    assert (delivery.error or "").startswith("could not deliver (ConnectError)")
    assert "T0K" not in repr(delivery)
    assert _sent(db) == []


def test_a_webhook_that_never_answers_times_out(
    tmp_path: Path, db: Path, receiver: Receiver
) -> None:
    _fleet(db, "fleet-1", ["failed"])
    settings = _settings(tmp_path, {"kind": "json", "url": receiver.url("/hold")}, timeout=0.5)

    started = time.monotonic()
    [delivery] = send_alerts(settings, db, run_id=RUN, command="fleet", fleet_run_id="fleet-1")

    assert time.monotonic() - started < 30  # did not hang
    assert (delivery.error or "").startswith("could not deliver (ReadTimeout)")


def test_two_processes_alerting_at_once_send_once(
    tmp_path: Path, db: Path, receiver: Receiver
) -> None:
    _fleet(db, "fleet-1", ["failed"])
    settings = _settings(tmp_path, {"kind": "json", "url": receiver.url("/json")})
    start = threading.Barrier(4)
    results: list[list[AlertDelivery]] = []

    def alert() -> None:
        start.wait()
        # Each call opens its own connection, as a second process would.
        results.append(
            send_alerts(settings, db, run_id=RUN, command="fleet", fleet_run_id="fleet-1")
        )

    threads = [threading.Thread(target=alert) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    assert len(receiver.requests) == 1
    assert _sent(db) == [("json|fleet:fleet-1", 1)]
