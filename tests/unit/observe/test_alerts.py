"""Alerts: which thresholds fire, what each webhook receives, cool-down and failures.

The webhooks here are an injected httpx transport that records every request; the
integration tests (tests/integration/test_alerts_webhook.py) use a real loopback server.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from unstall.config import AlertSettings, AlertTarget, Settings
from unstall.doctor.causes import cause_for
from unstall.events import AttemptFinished, Event, PhaseTimings, RunStarted
from unstall.fleet.executor import Target
from unstall.fleet.states import HostState
from unstall.fleet.store import FleetStore
from unstall.observe.alerts import AlertDelivery, send_alerts
from unstall.observe.history import History

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
AT = "2023-11-14T22:13:20Z"
RUN = "20231114T221000-0000aaaa"
UPSTREAM = "http://127.0.0.1:1"


@dataclass
class Hooks:
    """A fake webhook endpoint: records requests, answers what ``answer`` says."""

    answer: Callable[[httpx.Request], httpx.Response] = field(
        default=lambda request: httpx.Response(200, text="ok")
    )
    requests: list[httpx.Request] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return self.answer(request)

        return httpx.MockTransport(handle)

    def bodies(self) -> list[Any]:
        return [json.loads(request.content) for request in self.requests]


def _settings(tmp_path: Path, *targets: AlertTarget, **alerts: Any) -> Settings:
    targets = targets or (AlertTarget(kind="json", url="http://127.0.0.1:9/hook"),)
    return Settings(
        home=tmp_path, cache_dir=tmp_path / "cache", alerts=AlertSettings(targets=targets, **alerts)
    )


def _target(kind: str, url: str = "http://127.0.0.1:9/hook", name: str = "") -> AlertTarget:
    return AlertTarget.model_validate({"kind": kind, "url": url, "name": name})


def _attempt(
    outcome: str, at: float = NOW - 60, upstream: str = UPSTREAM, error: str = ""
) -> AttemptFinished:
    failed = outcome == "error"
    return AttemptFinished(
        artifact="fixture.test/a/@v/v1.0.0.zip",
        module="fixture.test/a",
        version="v1.0.0",
        kind="zip",
        upstream=upstream,
        attempt=1,
        outcome=outcome,
        cause="tcp-reset" if failed else "ok",
        timings=PhaseTimings(total=0.1),
        bytes=0 if failed else 10,
        error=(error or "read tcp: connection reset by peer") if failed else "",
        at=at,
    )


def _record(
    db: Path, events: Iterable[Event], run_id: str = RUN, started: float = NOW - 100
) -> None:
    history = History(db, run_id, "go")
    history(RunStarted(run_id, "go", ("mod", "download"), at=started))
    for event in events:
        history(event)
    history.close()


def _attempts(ok: int, error: int, **kwargs: Any) -> list[Event]:
    events: list[Event] = [_attempt("ok", **kwargs) for _ in range(ok)]
    return events + [_attempt("error", **kwargs) for _ in range(error)]


def _fleet(db: Path, run_id: str, states: list[str]) -> None:
    store = FleetStore(db)
    targets = [Target(f"h{i}", "127.0.0.1") for i in range(len(states))]
    store.create_run(run_id, "go mod download", {}, targets)
    for target, state in zip(targets, states, strict=True):
        store.record(run_id, target.name, HostState(state), 1)
    store.finish_run(run_id, 1)
    store.close()


def _send(settings: Settings, db: Path, hooks: Hooks, **kwargs: Any) -> list[AlertDelivery]:
    kwargs.setdefault("now", NOW)
    kwargs.setdefault("command", "go")
    return send_alerts(settings, db, run_id=RUN, transport=hooks.transport(), **kwargs)


def _sent_rows(db: Path) -> list[tuple[str, str, float, int]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(
            "SELECT alert_key, target, last_sent, sent_count FROM alerts_sent ORDER BY alert_key"
        ).fetchall()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "history.sqlite3"


# Thresholds -------------------------------------------------------------------------


def test_failure_rate_at_the_threshold_alerts_with_cause_and_fix(tmp_path: Path, db: Path) -> None:
    _record(db, _attempts(ok=15, error=5))  # 25% of 20 attempts
    hooks = Hooks()

    deliveries = _send(_settings(tmp_path, new_group=False), db, hooks)

    assert deliveries == [AlertDelivery("json", f"failure-rate:{UPSTREAM}", True, None)]
    [body] = hooks.bodies()
    assert body["kind"] == "failure-rate"
    assert body["summary"] == f"{UPSTREAM}: 5 of 20 attempts failed (25%) in the last 1h"
    details = body["details"]
    assert (details["failed"], details["attempts"], details["rate"]) == (5, 20, 0.25)
    assert details["cause"] == "tcp-reset"
    assert details["fix"] == cause_for("tcp-reset").fix
    assert details["last_error"] == "read tcp: connection reset by peer"


@pytest.mark.parametrize(
    ("ok", "error", "min_attempts"),
    [(17, 3, 20), (0, 10, 20)],
    ids=["rate-below-threshold", "fewer-than-min-attempts"],
)
def test_failure_rate_stays_quiet_below_its_thresholds(
    tmp_path: Path, db: Path, ok: int, error: int, min_attempts: int
) -> None:
    _record(db, _attempts(ok=ok, error=error))
    hooks = Hooks()

    settings = _settings(tmp_path, new_group=False, min_attempts=min_attempts)

    assert _send(settings, db, hooks) == []
    assert hooks.requests == []


def test_not_found_and_cancelled_attempts_do_not_count(tmp_path: Path, db: Path) -> None:
    events = _attempts(ok=12, error=4)
    events += [_attempt("not-found") for _ in range(20)] + [
        _attempt("cancelled") for _ in range(20)
    ]
    _record(db, events)
    hooks = Hooks()

    assert _send(_settings(tmp_path, new_group=False, min_attempts=20), db, hooks) == []
    [delivery] = _send(_settings(tmp_path, new_group=False, min_attempts=16), db, hooks)

    assert delivery.ok
    assert hooks.bodies()[0]["details"]["attempts"] == 16


def test_attempts_older_than_the_window_do_not_count(tmp_path: Path, db: Path) -> None:
    _record(db, _attempts(ok=0, error=30, at=NOW - 7200) + _attempts(ok=20, error=0))
    hooks = Hooks()

    assert _send(_settings(tmp_path, new_group=False, window=3600), db, hooks) == []
    assert len(_send(_settings(tmp_path, new_group=False, window=8000), db, hooks)) == 1


def test_a_new_error_group_alerts_once_and_a_known_one_does_not(tmp_path: Path, db: Path) -> None:
    failure = "dial tcp 127.0.0.1:1: connect: connection refused"
    _record(db, [_attempt("error", error=failure)])
    hooks = Hooks()
    settings = _settings(tmp_path, failure_rate=None)

    [delivery] = _send(settings, db, hooks)

    assert delivery.ok
    assert delivery.alert_key.startswith("group:")
    [body] = hooks.bodies()
    assert body["kind"] == "new-group"
    assert body["details"]["example"] == failure
    assert body["details"]["count"] == 1
    assert body["details"]["cause"] == "tcp-reset"
    assert body["details"]["fix"] == cause_for("tcp-reset").fix
    assert body["details"]["upstreams"] == [UPSTREAM]
    assert body["details"]["modules"] == ["fixture.test/a"]

    # A later run fails the same way: the group is not new any more.
    later = "20231114T230000-0000bbbb"
    _record(db, [_attempt("error", at=NOW + 50, error=failure)], run_id=later, started=NOW)
    assert send_alerts(settings, db, run_id=later, command="go", now=NOW + 60) == []


def test_new_group_alerts_can_be_switched_off(tmp_path: Path, db: Path) -> None:
    _record(db, [_attempt("error")])
    hooks = Hooks()

    assert _send(_settings(tmp_path, failure_rate=None, new_group=False), db, hooks) == []
    assert hooks.requests == []


@pytest.mark.parametrize(
    ("states", "alerts"),
    [(["ok"] * 8 + ["failed", "unreachable"], 1), (["ok"] * 9 + ["timeout"], 0)],
    ids=["20%-over-10%", "10%-not-over-10%"],
)
def test_fleet_failure_share_over_the_threshold_alerts(
    tmp_path: Path, db: Path, states: list[str], alerts: int
) -> None:
    _fleet(db, "fleet-1", states)
    hooks = Hooks()

    deliveries = _send(_settings(tmp_path), db, hooks, fleet_run_id="fleet-1", command="fleet")

    assert [d.alert_key for d in deliveries] == ["fleet:fleet-1"] * alerts
    assert len(hooks.requests) == alerts


def test_no_targets_sends_nothing(tmp_path: Path, db: Path) -> None:
    _fleet(db, "fleet-1", ["failed"])
    settings = Settings(home=tmp_path, cache_dir=tmp_path / "cache")

    assert send_alerts(settings, db, run_id=RUN, command="fleet", fleet_run_id="fleet-1") == []


# Payload formats --------------------------------------------------------------------

_SUMMARY = "fleet run fleet-1: 2 of 10 hosts did not end ok (20%)"
_FACTS = [
    ("Fleet run", "fleet-1"),
    ("Failed", "2 of 10 hosts did not end ok (20%)"),
    ("Threshold", "more than 10%"),
    ("States", "failed 1, ok 8, unreachable 1"),
    ("Hosts", "h8, h9"),
]
_FOOTER = f"unstall fleet · run {RUN} · {AT}"


def _fleet_body(tmp_path: Path, db: Path, kind: str, answer: httpx.Response) -> Any:
    _fleet(db, "fleet-1", ["ok"] * 8 + ["failed", "unreachable"])
    hooks = Hooks(answer=lambda request: answer)
    [delivery] = _send(
        _settings(tmp_path, _target(kind)), db, hooks, fleet_run_id="fleet-1", command="fleet"
    )
    assert delivery == AlertDelivery(kind, "fleet:fleet-1", True, None)
    [request] = hooks.requests
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    return json.loads(request.content)


def test_generic_json_payload(tmp_path: Path, db: Path) -> None:
    body = _fleet_body(tmp_path, db, "json", httpx.Response(204))

    assert body == {
        "source": "unstall",
        "alert": "fleet:fleet-1",
        "kind": "fleet-failure",
        "summary": _SUMMARY,
        "details": {
            "fleet_run_id": "fleet-1",
            "failed": 2,
            "hosts": 10,
            "percent": 20.0,
            "threshold": 10.0,
            "states": {"failed": 1, "ok": 8, "unreachable": 1},
            "failed_hosts": ["h8", "h9"],
        },
        "run_id": RUN,
        "command": "fleet",
        "at": AT,
    }


def test_slack_payload(tmp_path: Path, db: Path) -> None:
    body = _fleet_body(tmp_path, db, "slack", httpx.Response(200, text="ok"))

    facts = "\n".join(f"*{label}:* {value}" for label, value in _FACTS)
    assert body == {
        "text": f"unstall: {_SUMMARY}",
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*Fleet run failing*\n{_SUMMARY}"},
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": facts}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _FOOTER}]},
        ],
    }


def test_wecom_payload(tmp_path: Path, db: Path) -> None:
    answer = httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})
    body = _fleet_body(tmp_path, db, "wecom", answer)

    lines = ["## unstall: Fleet run failing", _SUMMARY]
    lines += [f"> **{label}:** {value}" for label, value in _FACTS]
    lines.append(f'<font color="comment">{_FOOTER}</font>')
    assert body == {"msgtype": "markdown", "markdown": {"content": "\n".join(lines)}}


def test_slack_markup_in_messages_is_escaped(tmp_path: Path, db: Path) -> None:
    _record(db, [_attempt("error", error="bad <html> & <!channel>")])
    hooks = Hooks()

    _send(_settings(tmp_path, _target("slack"), failure_rate=None), db, hooks)

    text = json.dumps(hooks.bodies()[0]["blocks"])
    assert "bad &lt;html&gt; &amp; &lt;!channel&gt;" in text
    assert "<!channel>" not in text


def test_wecom_content_is_cut_to_the_robots_limit(tmp_path: Path, db: Path) -> None:
    _fleet(db, "fleet-1", ["failed"] * 5)
    hooks = Hooks(answer=lambda request: httpx.Response(200, json={"errcode": 0}))
    settings = _settings(tmp_path, _target("wecom"))

    # Host names are not clipped by the rules; a long run id makes the content long.
    _send(settings, db, hooks, fleet_run_id="fleet-1", command="fleet " + "é" * 3000)

    content = hooks.bodies()[0]["markdown"]["content"]
    assert len(content.encode()) <= 4096
    assert content.endswith("…")


# Cool-down and failed deliveries ----------------------------------------------------


def test_an_alert_repeats_only_after_the_cooldown(tmp_path: Path, db: Path) -> None:
    _fleet(db, "fleet-1", ["failed"])
    hooks = Hooks()
    settings = _settings(tmp_path, cooldown=600)

    def send(now: float) -> list[AlertDelivery]:
        return _send(settings, db, hooks, fleet_run_id="fleet-1", now=now)

    assert [d.ok for d in send(NOW)] == [True]
    assert send(NOW + 599) == []
    assert len(hooks.requests) == 1
    assert [d.ok for d in send(NOW + 600)] == [True]

    assert len(hooks.requests) == 2
    assert _sent_rows(db) == [("json|fleet:fleet-1", "json", NOW + 600, 2)]


@pytest.mark.parametrize(
    ("kind", "answer", "error"),
    [
        ("json", httpx.Response(500, text="boom"), "the webhook answered HTTP 500: boom"),
        (
            "slack",
            httpx.Response(404, text="no_service"),
            "the webhook answered HTTP 404: no_service",
        ),
        ("slack", httpx.Response(200, text="nope"), "Slack did not accept the message: nope"),
        (
            "wecom",
            httpx.Response(200, json={"errcode": 93000, "errmsg": "invalid webhook url"}),
            "WeCom refused the message: errcode 93000 invalid webhook url",
        ),
        ("wecom", httpx.Response(200, text="ok"), "WeCom answered without an errcode: ok"),
    ],
    ids=["json-500", "slack-404", "slack-not-ok", "wecom-errcode", "wecom-not-json"],
)
def test_a_refused_delivery_is_reported_not_recorded_and_retried(
    tmp_path: Path, db: Path, kind: str, answer: httpx.Response, error: str
) -> None:
    _fleet(db, "fleet-1", ["failed"])
    hooks = Hooks(answer=lambda request: answer)
    settings = _settings(tmp_path, _target(kind))

    first = _send(settings, db, hooks, fleet_run_id="fleet-1")

    assert first == [AlertDelivery(kind, "fleet:fleet-1", False, error)]
    assert _sent_rows(db) == []

    good = {"json": httpx.Response(200), "slack": httpx.Response(200, text="ok")}
    hooks.answer = lambda request: good.get(kind, httpx.Response(200, json={"errcode": 0}))
    second = _send(settings, db, hooks, fleet_run_id="fleet-1", now=NOW + 1)

    assert [d.ok for d in second] == [True]
    assert _sent_rows(db) == [(f"{kind}|fleet:fleet-1", kind, NOW + 1, 1)]


def test_a_failed_repeat_keeps_the_earlier_record(tmp_path: Path, db: Path) -> None:
    _fleet(db, "fleet-1", ["failed"])
    hooks = Hooks()
    settings = _settings(tmp_path, cooldown=10)
    _send(settings, db, hooks, fleet_run_id="fleet-1")

    hooks.answer = lambda request: httpx.Response(503)
    [delivery] = _send(settings, db, hooks, fleet_run_id="fleet-1", now=NOW + 20)

    assert not delivery.ok
    assert _sent_rows(db) == [("json|fleet:fleet-1", "json", NOW, 1)]


def test_each_target_gets_its_alert_and_its_own_cooldown(tmp_path: Path, db: Path) -> None:
    _fleet(db, "fleet-1", ["failed"])
    ops = _target("slack", "http://127.0.0.1:9/ops", name="ops")
    dev = _target("json", "http://127.0.0.1:9/dev", name="dev")
    hooks = Hooks(answer=lambda r: httpx.Response(500 if r.url.path == "/dev" else 200, text="ok"))
    settings = _settings(tmp_path, ops, dev)

    first = _send(settings, db, hooks, fleet_run_id="fleet-1")

    assert [(d.target, d.ok) for d in first] == [("ops", True), ("dev", False)]
    hooks.answer = lambda request: httpx.Response(200, text="ok")
    second = _send(settings, db, hooks, fleet_run_id="fleet-1", now=NOW + 1)
    assert [(d.target, d.ok) for d in second] == [("dev", True)]
    assert [r.url.path for r in hooks.requests] == ["/ops", "/dev", "/dev"]


def test_unnamed_targets_of_one_kind_get_distinct_names(tmp_path: Path, db: Path) -> None:
    _fleet(db, "fleet-1", ["failed"])
    hooks = Hooks()
    settings = _settings(
        tmp_path, _target("slack", "http://127.0.0.1:9/a"), _target("slack", "http://127.0.0.1:9/b")
    )

    deliveries = _send(settings, db, hooks, fleet_run_id="fleet-1")

    assert [d.target for d in deliveries] == ["slack", "slack#2"]
    assert len(hooks.requests) == 2


def test_after_a_transport_error_a_target_is_not_tried_again_in_the_same_call(
    tmp_path: Path, db: Path
) -> None:
    url = "http://127.0.0.1:9/hook?key=SECRET-1234"
    _record(db, [_attempt("error", error="first"), _attempt("error", error="second /x/y")])

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}", request=request)

    hooks = Hooks(answer=refuse)
    settings = _settings(tmp_path, _target("json", url), failure_rate=None)

    deliveries = _send(settings, db, hooks)

    assert [d.ok for d in deliveries] == [False, False]
    assert len(hooks.requests) == 1
    first, second = (d.error or "" for d in deliveries)
    assert first == "could not deliver (ConnectError): cannot connect to <webhook>"
    assert second == f"not sent, the target failed before: {first}"
    assert "SECRET" not in repr(deliveries)
    assert _sent_rows(db) == []


def test_the_webhook_url_is_in_no_error_log_or_history(
    tmp_path: Path, db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = "http://127.0.0.1:9/services/T0/B0/SECRET-abc?key=SECRET-1234"
    _fleet(db, "fleet-1", ["failed"])
    # The answer echoes the request, as some error pages do.
    hooks = Hooks(answer=lambda request: httpx.Response(400, text=f"bad hook {request.url}"))
    settings = _settings(tmp_path, _target("slack", url))

    with caplog.at_level("DEBUG"):
        deliveries = _send(settings, db, hooks, fleet_run_id="fleet-1")
        hooks.answer = lambda request: httpx.Response(200, text="ok")
        deliveries += _send(settings, db, hooks, fleet_run_id="fleet-1", now=NOW + 1)

    assert [d.ok for d in deliveries] == [False, True]
    assert deliveries[0].error == "the webhook answered HTTP 400: bad hook <webhook>"
    assert "httpx" in {record.name for record in caplog.records}
    assert "SECRET" not in caplog.text
    assert "SECRET" not in repr(deliveries)
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("history.sqlite3*"))
    assert b"SECRET" not in stored
