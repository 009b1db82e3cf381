"""RunSummary: the counters, failure explanations and --report-json of one run."""

from __future__ import annotations

import json
from pathlib import Path

from unstall.doctor.causes import cause_for
from unstall.events import (
    ArtifactFinished,
    AttemptFinished,
    AttemptStarted,
    BreakerChanged,
    EventBus,
    HedgeStarted,
    IntegrityViolation,
    PhaseTimings,
    RetryScheduled,
    RunFinished,
    RunStarted,
)
from unstall.observe.summary import RunSummary

UP1 = "http://127.0.0.1:1"
UP2 = "http://127.0.0.1:2"
ZIP_A = "fixture.test/a/@v/v1.0.0.zip"
ZIP_B = "fixture.test/b/@v/v2.0.0.zip"
LIST_C = "fixture.test/c/@v/list"

ARTIFACT_KEYS = {
    "module",
    "version",
    "kind",
    "upstream",
    "attempts",
    "hedges",
    "bytes",
    "duration_s",
    "outcome",
    "cause",
    "error",
    "cached",
}


def _finished(
    artifact: str,
    module: str,
    version: str,
    kind: str,
    *,
    outcome: str = "ok",
    upstream: str | None = UP1,
    cause: str = "ok",
    error: str = "",
    cached: bool = False,
) -> ArtifactFinished:
    return ArtifactFinished(
        artifact=artifact,
        module=module,
        version=version,
        kind=kind,
        outcome=outcome,
        upstream=upstream,
        attempts=2,
        hedges=1,
        bytes=1234,
        duration=0.123456789,
        cause=cause,
        error=error,
        cached=cached,
    )


def _failed_attempt(artifact: str) -> AttemptFinished:
    return AttemptFinished(
        artifact=artifact,
        module="fixture.test/b",
        version="v2.0.0",
        kind="zip",
        upstream=UP1,
        attempt=1,
        outcome="error",
        cause="tcp-reset",
        timings=PhaseTimings(),
        bytes=0,
        error="connection reset",
    )


def _a_run() -> RunSummary:
    summary = RunSummary()
    bus = EventBus()
    bus.subscribe(summary)
    bus.publish(RunStarted("run-1", "go", ("build",)))
    bus.publish(AttemptStarted(ZIP_A, UP1, 1))
    bus.publish(AttemptStarted(ZIP_B, UP1, 1))
    bus.publish(_failed_attempt(ZIP_B))
    bus.publish(RetryScheduled(ZIP_B, UP1, 2, 0.1, "tcp-reset"))
    bus.publish(AttemptStarted(ZIP_B, UP1, 2))
    bus.publish(HedgeStarted(ZIP_B, UP2, 1.0, "slow"))
    bus.publish(AttemptStarted(ZIP_B, UP2, 1, hedge=True))
    bus.publish(BreakerChanged(UP1, "open"))
    bus.publish(IntegrityViolation(ZIP_B, UP2, "checksum-mismatch", "h1 differs"))
    bus.publish(_finished(ZIP_A, "fixture.test/a", "v1.0.0", "zip"))
    bus.publish(
        _finished(
            ZIP_B,
            "fixture.test/b",
            "v2.0.0",
            "zip",
            outcome="failed",
            upstream=None,
            cause="tcp-reset",
            error="http://user:pw123@127.0.0.1:1: connection reset",
        )
    )
    bus.publish(_finished(LIST_C, "fixture.test/c", "", "list", upstream=None, cached=True))
    bus.publish(RunFinished("run-1", 1))
    return summary


def test_counts_follow_the_events() -> None:
    summary = _a_run()

    assert summary.attempts == 4
    assert summary.retries == 1
    assert summary.hedges == 1
    assert summary.breaker_opened == [UP1]
    assert [v.detail for v in summary.integrity] == ["h1 differs"]
    assert summary.served_by == {UP1: 1, "cache": 1}
    assert [e.error for e in summary.last_errors[ZIP_B]] == ["connection reset"]
    assert summary.in_flight == set()
    assert [a.module for a in summary.failed] == ["fixture.test/b"]


def test_artifacts_in_flight_until_finished() -> None:
    summary = RunSummary()

    summary(AttemptStarted(ZIP_A, UP1, 1))
    assert summary.in_flight == {ZIP_A}

    summary(_finished(ZIP_A, "fixture.test/a", "v1.0.0", "zip"))
    assert summary.in_flight == set()


def test_failure_lines_name_the_artifact_layer_cause_and_fix() -> None:
    lines = _a_run().failure_lines()
    cause = cause_for("tcp-reset")

    assert len(lines) == 2
    headline, fix = lines
    assert headline.startswith("fixture.test/b@v2.0.0 .zip: ")
    assert f"{cause.layer} layer" in headline
    assert "tcp-reset" in headline
    assert "connection reset" in headline
    assert "pw123" not in headline
    assert fix.strip() == f"fix: {cause.fix}"


def test_failure_lines_of_a_versionless_artifact() -> None:
    summary = RunSummary()
    summary(
        _finished(
            LIST_C,
            "fixture.test/c",
            "",
            "list",
            outcome="failed",
            upstream=None,
            cause="http-timeout",
            error="first_byte timeout after 20s",
        )
    )

    headline = summary.failure_lines()[0]

    assert headline.startswith("fixture.test/c list: ")
    assert "http-timeout" in headline
    assert cause_for("http-timeout").layer in headline


def test_no_failures_no_lines() -> None:
    summary = RunSummary()
    summary(_finished(ZIP_A, "fixture.test/a", "v1.0.0", "zip"))

    assert summary.failure_lines() == []
    assert summary.failed == []


def test_to_json_shape() -> None:
    document = _a_run().to_json(run_id="run-1", exit_code=1)

    assert set(document) == {"run", "exit_code", "retries", "hedges", "attempts", "artifacts"}
    assert document["run"] == "run-1"
    assert document["exit_code"] == 1
    assert (document["retries"], document["hedges"], document["attempts"]) == (1, 1, 4)
    artifacts = document["artifacts"]
    assert len(artifacts) == 3
    for artifact in artifacts:
        assert set(artifact) == ARTIFACT_KEYS
    first, failed, listed = artifacts
    assert first == {
        "module": "fixture.test/a",
        "version": "v1.0.0",
        "kind": "zip",
        "upstream": UP1,
        "attempts": 2,
        "hedges": 1,
        "bytes": 1234,
        "duration_s": 0.1235,
        "outcome": "ok",
        "cause": "ok",
        "error": "",
        "cached": False,
    }
    assert failed["outcome"] == "failed"
    assert failed["upstream"] is None
    assert failed["cause"] == "tcp-reset"
    assert "pw123" not in failed["error"]
    assert listed["cached"] is True
    # The document is plain JSON.
    assert json.loads(json.dumps(document)) == document


def test_write_json_writes_the_same_document(tmp_path: Path) -> None:
    summary = _a_run()
    path = tmp_path / "report.json"

    summary.write_json(path, run_id="run-1", exit_code=1)

    assert json.loads(path.read_text(encoding="utf-8")) == summary.to_json(
        run_id="run-1", exit_code=1
    )
