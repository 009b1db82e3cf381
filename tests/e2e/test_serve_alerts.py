"""`unstall serve` evaluates the alert rules while it serves and posts to the webhooks.

A team proxy is where failures pile up: its only upstream refuses every connection,
and the configured JSON webhook (a loopback receiver) must hear about it within a few
evaluation intervals, without the webhook's secret URL showing up in serve's output.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServeProcess
from tests.support.sshd import dead_port
from tests.support.webhook import Receiver

HANG = 60.0  # "did not hang": far above a handful of 0.5 s evaluations
SECRET = "s3cr3t-hook-key"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    try:
        yield server
    finally:
        server.stop()


def test_serve_posts_alerts_while_serving_and_never_shows_the_webhook(
    tmp_path: Path, receiver: Receiver
) -> None:
    config = tmp_path / "config" / "unstall" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        "[alerts]\ninterval = 0.5\nmin_attempts = 1\nfailure_rate = 0.5\n\n"
        f'[[alerts.targets]]\nkind = "json"\nname = "ops"\n'
        f'url = "{receiver.url("/hook")}?key={SECRET}"\n'
    )
    refused = f"http://127.0.0.1:{dead_port('127.0.0.1')}"
    env = {
        "XDG_CONFIG_HOME": str(config.parent.parent),
        "UNSTALL_PROBE__SAMPLES": "0",
        "NO_PROXY": "127.0.0.1",
    }
    with ServeProcess(tmp_path / "srv", ["--upstream", refused], env=env) as server:
        answer = httpx.get(f"{server.url}/fixture.test/gone/@v/v1.0.0.info", timeout=HANG)
        assert answer.status_code >= 500
        deadline = time.monotonic() + HANG
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.2)
        stderr = server.stderr
    assert receiver.requests, f"no alert reached the webhook:\n{stderr}"
    kinds = {r.body["kind"] for r in receiver.requests}
    assert kinds <= {"failure-rate", "new-group"}
    assert "failure-rate" in kinds or "new-group" in kinds
    first = receiver.requests[0]
    assert first.path == "/hook"
    assert first.query == f"key={SECRET}"
    assert first.body["source"] == "unstall"
    assert first.body["command"] == "serve"
    assert SECRET not in stderr
