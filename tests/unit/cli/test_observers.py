"""RunObservers: a run's metrics exported, alerts sent, and neither changing the outcome."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from tests.support.clock import FakeClock
from tests.support.engine import fast_settings
from unstall.cli.common import RunRecorder
from unstall.cli.observers import RunObservers
from unstall.config import Settings
from unstall.events import AttemptFinished, DoctorVerdict, EventBus, PhaseTimings
from unstall.observe.metrics_export import read_textfile_sample

LAST_SUCCESS = "unstall_run_last_success_timestamp_seconds"


def _observers(
    bus: EventBus,
    settings: Settings,
    textfile: Path | None,
    *,
    clock: FakeClock | None = None,
    pushgateway: str | None = None,
) -> RunObservers:
    return RunObservers(
        bus,
        settings,
        command="doctor",
        metrics_textfile=textfile,
        pushgateway=pushgateway,
        otlp_endpoint=None,
        environ={},
        clock=clock or FakeClock(1_700_000_000.0),
    )


def _verdict(verdict: str) -> DoctorVerdict:
    return DoctorVerdict("http://127.0.0.1:9/", "url", verdict, "tcp", "tcp-refused", "refused")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_textfile_holds_the_runs_events_and_how_it_ended(tmp_path: Path) -> None:
    bus, clock = EventBus(), FakeClock(1_700_000_000.0)
    textfile = tmp_path / "doctor.prom"
    observers = _observers(bus, fast_settings(tmp_path), textfile, clock=clock)
    bus.publish(_verdict("fail"))
    clock.advance(4.0)
    observers.finish(1, run_id="run-1")
    text = textfile.read_text()
    assert (
        'unstall_doctor_source_up{command="doctor",kind="url",source="http://127.0.0.1:9/"} 0.0'
        in (text)
    )
    assert 'unstall_run_exit_code{command="doctor"} 1.0' in text
    assert 'unstall_run_duration_seconds{command="doctor"} 4.0' in text
    assert LAST_SUCCESS + "{" not in text  # it never succeeded
    bus.publish(_verdict("ok"))  # after finish: nothing more is recorded or written
    observers.finish(0, run_id="run-1")
    assert textfile.read_text() == text


def test_a_failed_run_keeps_the_time_of_the_last_success(tmp_path: Path) -> None:
    textfile = tmp_path / "doctor.prom"
    settings = fast_settings(tmp_path)
    _observers(EventBus(), settings, textfile, clock=FakeClock(1_700_000_000.0)).finish(
        0, run_id="run-1"
    )
    _observers(EventBus(), settings, textfile, clock=FakeClock(1_700_003_600.0)).finish(
        1, run_id="run-2"
    )
    labels = {"command": "doctor"}
    assert read_textfile_sample(textfile, LAST_SUCCESS, labels) == 1_700_000_000.0
    assert read_textfile_sample(textfile, "unstall_run_exit_code", labels) == 1.0


def test_export_failures_are_one_line_each_and_do_not_raise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    observers = _observers(
        EventBus(),
        fast_settings(tmp_path),
        blocker / "doctor.prom",
        pushgateway=f"http://ops:hunter2@127.0.0.1:{_closed_port()}",
    )
    observers.finish(0, run_id="run-1")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"unstall: metrics: cannot write the metrics textfile {blocker}")
    assert lines[1].startswith("unstall: metrics: cannot reach the Pushgateway at http://***@")
    assert "hunter2" not in "".join(lines)


def test_without_an_export_no_metrics_are_kept(tmp_path: Path) -> None:
    bus = EventBus()
    observers = _observers(bus, fast_settings(tmp_path), None)
    assert observers.metrics is None
    bus.publish(_verdict("fail"))
    observers.finish(1, run_id="run-1")
    assert list(tmp_path.glob("**/*.prom")) == []


def _failed_attempt() -> AttemptFinished:
    return AttemptFinished(
        artifact="example.test/m/@v/v1.0.0.zip",
        module="example.test/m",
        version="v1.0.0",
        kind="zip",
        upstream="http://127.0.0.1:9",
        attempt=1,
        outcome="error",
        cause="tcp-refused",
        timings=PhaseTimings(connect=0.001),
        bytes=0,
        error="connection to 127.0.0.1:9 refused",
    )


def _alerting(tmp_path: Path, **history: Any) -> Settings:
    hook = f"http://127.0.0.1:{_closed_port()}/hook?token=hunter2"
    return fast_settings(
        tmp_path,
        {
            "alerts": {"targets": [{"kind": "json", "url": hook, "name": "ops"}]},
            "history": history,
        },
    )


def test_alerts_are_sent_after_the_run_and_failed_deliveries_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _alerting(tmp_path)
    bus = EventBus()
    recorder = RunRecorder(settings, bus, "go", ["mod", "download"])
    observers = _observers(bus, settings, None)
    bus.publish(_failed_attempt())  # a new error group: alerts by default
    recorder.finish(1)
    observers.finish(1, run_id=recorder.run_id)
    err = capsys.readouterr().err
    assert "unstall: alerts: delivery to ops failed:" in err
    assert "hunter2" not in err


def test_no_alerts_when_the_history_is_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The history holds an alert-worthy run, but the configuration now says not to use it.
    bus = EventBus()
    recorder = RunRecorder(_alerting(tmp_path), bus, "go", ["mod", "download"])
    bus.publish(_failed_attempt())
    recorder.finish(1)
    observers = _observers(EventBus(), _alerting(tmp_path, enabled=False), None)
    observers.finish(1, run_id=recorder.run_id)
    assert "alerts" not in capsys.readouterr().err
