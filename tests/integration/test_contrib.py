"""contrib/: the Prometheus alerting rules (checked and unit-tested by promtool) and the
Grafana dashboard (its structure, and that it only asks for metrics unstall exports)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import typing
from pathlib import Path
from typing import Any, Final

import pytest

from unstall.events import (
    ArtifactFinished,
    AttemptFinished,
    AttemptStarted,
    BreakerChanged,
    CacheEvicted,
    DoctorVerdict,
    Event,
    FleetHostChanged,
    FleetHostOutput,
    FleetRunFinished,
    FleetRunStarted,
    HedgeStarted,
    IntegrityViolation,
    PhaseTimings,
    RetryScheduled,
    RunFinished,
    RunStarted,
)
from unstall.observe.metrics import Metrics

CONTRIB: Final = Path(__file__).resolve().parents[2] / "contrib"
RULES: Final = CONTRIB / "prometheus" / "alerts.yml"
RULE_TESTS: Final = CONTRIB / "prometheus" / "alerts_test.yml"
DASHBOARD: Final = CONTRIB / "grafana" / "unstall.json"
PROMTOOL: Final = "/usr/bin/promtool"
PROMTOOL_BOUND: Final = 120.0  # did-not-hang bound
_METRIC: Final = re.compile(r"\bunstall_[a-z0-9_]*[a-z0-9]")
_SUFFIXES: Final = ("_bucket", "_sum", "_count")
UP: Final = "https://mirror.example.test"
ZIP: Final = "example.test/m/@v/v1.0.0.zip"


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = PROMTOOL if Path(PROMTOOL).exists() else shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is missing: run make test (it installs prometheus for promtool)")
    return subprocess.run(
        [binary, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=PROMTOOL_BOUND,
        check=False,
    )


def test_promtool_accepts_the_alerting_rules() -> None:
    done = _promtool("check", "rules", RULES.name, cwd=RULES.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 4 rules found" in done.stdout


def test_the_alerts_fire_on_bad_series_and_stay_quiet_on_good_ones() -> None:
    done = _promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_rejects_a_rule_that_does_not_parse(tmp_path: Path) -> None:
    # The check above can fail: the same call on a broken copy does.
    broken = tmp_path / "alerts.yml"
    broken.write_text(RULES.read_text().replace("max by (upstream)", "max by (upstream", 1))
    done = _promtool("check", "rules", broken.name, cwd=tmp_path)
    assert done.returncode != 0
    assert "UnstallBreakerOpen" in done.stdout + done.stderr


def _dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return document


def test_the_dashboard_is_a_grafana_dashboard_with_sane_panels() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] == "unstall-overview"
    assert dashboard["title"] == "unstall"
    assert 36 <= dashboard["schemaVersion"] <= 41
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    panels = dashboard["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    occupied: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert min(grid["w"], grid["h"]) > 0, panel["title"]
        assert min(grid["x"], grid["y"]) >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells
        if panel["type"] == "row":  # a section heading: layout only
            assert not panel.get("targets")
            continue
        assert panel["type"] in {"timeseries", "stat", "bargauge", "table"}, panel["type"]
        assert panel["title"]
        assert panel["description"], panel["title"]
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"


def test_the_dashboard_covers_what_operators_look_at() -> None:
    exprs = " ".join(_dashboard_exprs())
    for needed in (
        "unstall_http_requests_total",
        "unstall_http_request_duration_seconds_bucket",
        "unstall_upstream_attempts_total",
        'outcome="error"',
        "histogram_quantile(0.5, sum by (upstream, phase, le) "
        "(rate(unstall_upstream_phase_seconds_bucket",
        "histogram_quantile(0.99, sum by (upstream, phase, le) "
        "(rate(unstall_upstream_phase_seconds_bucket",
        "unstall_upstream_retries_total",
        "unstall_upstream_hedges_total",
        'unstall_upstream_breaker{upstream=~"$upstream",state="open"}',
        "unstall_cache_lookups_total",
        "unstall_doctor_source_up",
        "unstall_fleet_hosts",
        "unstall_run_duration_seconds",
        "unstall_run_exit_code",
    ):
        assert needed in exprs, needed


def _dashboard_exprs() -> list[str]:
    return [
        target["expr"] for panel in _dashboard()["panels"] for target in panel.get("targets", [])
    ]


def _one_event_of_each_kind() -> list[Event]:
    timings = PhaseTimings(connect=0.01, tls=0.02, first_byte=0.1, transfer=0.2, total=0.33)
    return [
        RunStarted("run-1", "go", ("mod", "download")),
        AttemptStarted(ZIP, UP, attempt=1),
        AttemptFinished(ZIP, "example.test/m", "v1.0.0", "zip", UP, 1, "ok", "ok", timings, 10),
        RetryScheduled(ZIP, UP, attempt=1, delay=0.1, cause="tcp-reset"),
        HedgeStarted(ZIP, UP, after=0.5, reason="slow"),
        BreakerChanged(UP, "open"),
        IntegrityViolation(ZIP, UP, cause="checksum-mismatch", detail="h1 differs"),
        ArtifactFinished(ZIP, "example.test/m", "v1.0.0", "zip", "ok", UP, 1, 0, 10, 0.4, "ok"),
        CacheEvicted("/store/a.zip", 10, remaining=0),
        DoctorVerdict(UP, "goproxy", "ok", "none", "ok", "", dns_ms=1.0, connect_ms=2.0),
        FleetRunStarted("fleet-1", "go mod download", hosts=1),
        FleetHostOutput("fleet-1", "web-1", 1, "Setting up foo"),
        FleetHostChanged("fleet-1", "web-1", "ok", attempt=1, duration_s=3.0),
        FleetRunFinished("fleet-1", 0),
        RunFinished("run-1", 0),
    ]


def _exported_names() -> set[str]:
    metrics = Metrics()
    events = _one_event_of_each_kind()
    # Every kind of event the bus carries is fed, including ones added later.
    assert {type(e) for e in events} == set(typing.get_args(Event))
    for event in events:
        metrics(event)
    metrics.observe_request("zip", 200, 0.01, 100)
    metrics.observe_run("go", 0, 1.0, ended_at=1_700_000_000.0)
    names = set()
    for line in metrics.exposition().decode().splitlines():
        if line and not line.startswith("#"):
            names.add(_base(line.split("{", 1)[0].split(" ", 1)[0]))
    return names


def _base(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_every_metric_the_contrib_files_query_is_exported(source: str) -> None:
    text = " ".join(_dashboard_exprs()) if source == "dashboard" else RULES.read_text()
    used = {_base(name) for name in _METRIC.findall(text)}
    assert used, "no unstall metric found: the name pattern is wrong"
    missing = used - _exported_names()
    assert not missing, f"{source} queries metrics unstall does not export: {sorted(missing)}"
