"""SARIF 2.1.0 in the shape GitHub code scanning accepts (checked offline, by structure)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.unit.check import FakeRule, go_source
from unstall import __version__
from unstall.check.engine import check_paths
from unstall.check.sarif import render_sarif
from unstall.config import CheckTimeouts

SLOW = FakeRule()
WAIT = FakeRule(id="UT902", name="fake-wait", callee="wait", replacement=None)


def sarif(tmp_path: Path, files: dict[str, bytes], base: Path | None = None) -> dict[str, Any]:
    for name, source in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(source)
    run = check_paths([tmp_path], [SLOW, WAIT], CheckTimeouts())
    document: dict[str, Any] = json.loads(render_sarif(run, base or tmp_path))
    return document


def test_document_has_the_required_structure(tmp_path: Path) -> None:
    document = sarif(tmp_path, {"cmd/app/main.go": go_source("\twait()\n\tslow()\n")})
    assert document["version"] == "2.1.0"
    assert document["$schema"].endswith("sarif-2.1.0.json")
    (run,) = document["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("unstall", __version__)
    assert [rule["id"] for rule in driver["rules"]] == ["UT900", "UT902"]
    rule = driver["rules"][0]
    assert rule["name"] == "fake-slow-call"
    assert rule["shortDescription"]["text"] == SLOW.summary
    assert rule["fullDescription"]["text"] == SLOW.description
    assert SLOW.description in rule["help"]["text"]
    assert "//nolint:UT900" in rule["help"]["text"]
    assert rule["help"]["markdown"]
    assert rule["defaultConfiguration"] == {"level": "warning"}
    first, second = run["results"]
    assert (first["ruleId"], first["ruleIndex"], second["ruleId"], second["ruleIndex"]) == (
        "UT902",
        1,
        "UT900",
        0,
    )
    assert first["level"] == "warning"
    assert first["message"]["text"] == "wait() may block forever"
    (location,) = first["locations"]
    physical = location["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": "cmd/app/main.go", "uriBaseId": "%SRCROOT%"}
    assert physical["region"] == {"startLine": 4, "startColumn": 2, "endLine": 4, "endColumn": 8}
    assert run["invocations"][0]["executionSuccessful"] is True


def test_uris_are_relative_to_the_given_root(tmp_path: Path) -> None:
    document = sarif(tmp_path, {"svc/main.go": go_source("\tslow()\n")}, base=tmp_path / "svc")
    uri = document["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert uri["artifactLocation"]["uri"] == "main.go"


def fingerprints(document: dict[str, Any]) -> list[str]:
    return [
        r["partialFingerprints"]["primaryLocationLineHash"] for r in document["runs"][0]["results"]
    ]


def test_fingerprints_survive_moved_lines_and_tell_identical_lines_apart(
    tmp_path: Path,
) -> None:
    before = fingerprints(sarif(tmp_path / "a", {"main.go": go_source("\tslow()\n\tslow()\n")}))
    moved = go_source("\tx := 1\n\t_ = x\n\n\t  slow()\n\tslow()\n")
    after = fingerprints(sarif(tmp_path / "b", {"main.go": moved}))
    assert before == after
    assert before[0] != before[1]
    assert before[0].split(":")[0] == before[1].split(":")[0]
    other_file = fingerprints(sarif(tmp_path / "c", {"other.go": go_source("\tslow()\n")}))
    assert other_file[0] != before[0]


def test_file_errors_become_failed_execution_notifications(tmp_path: Path) -> None:
    document = sarif(tmp_path, {"bad.go": b"package main\nfunc (\n"})
    invocation = document["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    (notification,) = invocation["toolExecutionNotifications"]
    assert notification["message"]["text"] == "syntax error"
    location = notification["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location["uri"] == "bad.go"
