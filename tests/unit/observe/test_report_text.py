"""The terminal summary of `unstall report`, as a user reads it."""

from __future__ import annotations

import dataclasses
import io

from rich.console import Console

from unstall.observe.report_model import (
    DoctorSourceStats,
    ErrorGroupStats,
    FleetHostOutcome,
    FleetRunStats,
    Percentiles,
    Report,
    SlowArtifact,
    StageStats,
    UpstreamStats,
)
from unstall.observe.report_text import is_empty, print_report

UNTIL = 1_717_243_200.0
SINCE = UNTIL - 7 * 86_400.0
MIRROR = "https://mirror-a.example.test"
LOCAL = "http://127.0.0.1:8081"


def _render(report: Report) -> str:
    out = io.StringIO()
    print_report(Console(file=out, width=240, color_system=None, highlight=False), report)
    return out.getvalue()


def _report(**changes: object) -> Report:
    base = Report(
        since=SINCE,
        until=UNTIL,
        generated=UNTIL,
        runs=3,
        attempts=1234,
        artifacts=1000,
        upstreams=(
            UpstreamStats(
                MIRROR, 1200, 1100, 100, 0.9167, Percentiles(48.2, 130.0, 210.0),
                Percentiles(72.0, 411.0, 1727.4), 80, 12, 5, 2,
            ),
            UpstreamStats(LOCAL, 34, 0, 0, None, Percentiles(), Percentiles(), 0, 0, 0, 0),
        ),
        groups=(
            ErrorGroupStats(
                group_id="5c882688d6ea",
                pattern="connect to <ip> refused",
                example="connect to 127.0.0.1:9 refused [bold]not markup[/bold]",
                cause="tcp-refused",
                explanation="The host answered the connection with a reset.",
                fix="Check the port and that the mirror or proxy is running.",
                count=42,
                total_count=1042,
                first_seen=SINCE - 86_400.0,
                last_seen=UNTIL - 60,
                commands=("go", "prefetch"),
                upstreams=(MIRROR,),
                hosts=("web7",),
                modules=("fixture.test/a",),
            ),
        ),
        slowest=(
            SlowArtifact(
                "fixture.test/big/@v/v1.2.3.zip", "fixture.test/big", "v1.2.3", "zip",
                MIRROR, "ok", 3, 12_345.0, UNTIL - 3600,
            ),
        ),
        stages=(
            StageStats("connect", 500, 15.5, 0.125, "tcp-timeout", "No answer."),
            StageStats("tls", 0, None, 0.0, None, ""),
        ),
        fleet_runs=(
            FleetRunStats(
                "fleet-1", "go mod download", UNTIL - 7200, UNTIL - 7000, 1,
                {"ok": 1, "unreachable": 1},
                (FleetHostOutcome("web1", "ok", 1, 0, 2.0),
                 FleetHostOutcome("web7", "unreachable", 3, None, None)),
            ),
        ),
        doctor=(DoctorSourceStats(MIRROR, 4, 1, "fail", "tcp-refused", UNTIL - 100),),
        bucket_seconds=3600.0,
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_upstreams_show_success_percentiles_retries_hedges_and_breakers() -> None:
    text = _render(_report())

    assert "1,234 attempts" in text
    row = next(line for line in text.splitlines() if MIRROR in line and "91.7%" in line)
    assert "48 / 130 / 210 ms" in row
    assert "72 / 411 / 1,727 ms" in row
    assert "12 (5)" in row
    local = next(line for line in text.splitlines() if LOCAL in line)
    assert "34" in local
    assert " - " in local  # no success rate: nothing ended ok or failed


def test_error_groups_show_cause_fix_and_what_they_touched() -> None:
    text = _render(_report())

    assert "tcp-refused" in text
    assert "fix: Check the port and that the mirror or proxy is running." in text
    assert "[bold]not markup[/bold]" in text  # history text is never rich markup
    assert "commands: go, prefetch" in text
    assert "hosts: web7" in text
    assert "1,042" in text


def test_slowest_stages_fleet_and_doctor_sections() -> None:
    text = _render(_report())

    assert "fixture.test/big/@v/v1.2.3.zip" in text
    assert "12.35 s" in text
    connect = next(line for line in text.splitlines() if line.startswith("│ connect"))
    assert "16 ms" in connect
    assert "12.5%" in connect
    assert "tcp-timeout: No answer." in connect
    assert "ok 1, unreachable 1" in text
    assert "not ok: web7" in text
    assert "fail (tcp-refused)" in text


def test_sections_without_data_are_left_out() -> None:
    text = _render(_report(groups=(), fleet_runs=(), doctor=(), slowest=()))

    assert "upstreams" in text
    assert "top error groups" not in text
    assert "fleet runs" not in text
    assert "doctor" not in text
    assert "slowest artifacts" not in text


def test_an_empty_window_says_so_in_one_friendly_line() -> None:
    empty = _report(
        runs=0, attempts=0, artifacts=0, upstreams=(), groups=(), slowest=(), fleet_runs=(),
        doctor=(),
    )  # fmt: skip

    text = _render(empty)

    assert is_empty(empty)
    assert not is_empty(_report())
    assert text.startswith("No history between ")
    assert "upstreams" not in text
