"""Text, JSON and GitHub annotation output."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from tests.unit.check import FakeRule, go_source
from unstall.check.engine import CheckOptions, CheckRun, check_paths
from unstall.check.report import display_path, render_github, render_json, render_text
from unstall.config import CheckTimeouts

SLOW = FakeRule()
WAIT = FakeRule(id="UT902", name="fake-wait", callee="wait", replacement="w", safe=False)
NOFIX = FakeRule(id="UT903", name="fake-nofix", callee="nap", replacement=None)


def run_on(tmp_path: Path, body: str, options: CheckOptions | None = None) -> CheckRun:
    (tmp_path / "pkg").mkdir(exist_ok=True)
    (tmp_path / "pkg" / "main.go").write_bytes(go_source(body))
    return check_paths([tmp_path], [SLOW, WAIT, NOFIX], CheckTimeouts(), options or CheckOptions())


def test_text_is_ruff_like_with_relative_paths_and_a_summary(tmp_path: Path) -> None:
    run = run_on(tmp_path, "\tslow()\n\twait()\n\tnap()\n")
    assert render_text(run, tmp_path).splitlines() == [
        "pkg/main.go:4:2: UT900 slow() may block forever",
        "pkg/main.go:5:2: UT902 wait() may block forever",
        "pkg/main.go:6:2: UT903 nap() may block forever",
        "3 findings (1 fixable with --fix, 1 with --unsafe-fixes)",
    ]


def test_text_after_fixing_lists_only_what_remains(tmp_path: Path) -> None:
    run = run_on(tmp_path, "\tslow()\n\tnap()\n", CheckOptions(diff=True))
    assert render_text(run, tmp_path).splitlines() == [
        "pkg/main.go:5:2: UT903 nap() may block forever",
        "1 finding (0 fixable with --fix, 0 with --unsafe-fixes); 1 fixed",
    ]


def test_json_lists_every_finding_with_its_fix_state(tmp_path: Path) -> None:
    run = run_on(tmp_path, "\tslow()\n\twait()\n\tnap()\n", CheckOptions(diff=True))
    document = json.loads(render_json(run, tmp_path))
    assert document[0] == {
        "rule": "UT900",
        "path": "pkg/main.go",
        "line": 4,
        "column": 2,
        "end_line": 4,
        "end_column": 8,
        "message": "slow() may block forever",
        "fix": {"safe": True, "applied": True},
    }
    assert [(d["rule"], d["fix"]) for d in document[1:]] == [
        ("UT902", {"safe": False, "applied": False}),
        ("UT903", None),
    ]


def test_github_annotations_escape_properties_and_data(tmp_path: Path) -> None:
    rule = FakeRule(callee="slow")
    directory = tmp_path / "a,b:c"
    directory.mkdir()
    (directory / "main.go").write_bytes(go_source("\tslow()\n"))
    run = check_paths([tmp_path], [rule], CheckTimeouts())
    finding = run.files[0].findings[0]
    run.files[0].findings[0] = dataclasses.replace(finding, message="50% of\nresponses")
    assert render_github(run, tmp_path) == (
        "::error file=a%2Cb%3Ac/main.go,line=4,col=2,endLine=4,endColumn=8,title=UT900"
        "::50%25 of%0Aresponses\n"
    )


def test_github_reports_syntax_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.go").write_bytes(b"package main\nfunc (\n")
    run = check_paths([tmp_path], [SLOW], CheckTimeouts())
    assert render_github(run, tmp_path).startswith("::error file=bad.go,line=")
    assert render_text(run, tmp_path).splitlines()[0].endswith(": syntax error")


def test_paths_outside_the_base_stay_absolute(tmp_path: Path) -> None:
    assert display_path(tmp_path / "x.go", tmp_path / "other") == (tmp_path / "x.go").as_posix()


def test_rules_index_lists_every_rule_with_its_name_and_page() -> None:
    from unstall.check.rules import all_rules

    docs = Path(__file__).resolve().parents[3] / "docs" / "rules"
    index = (docs / "README.md").read_text(encoding="utf-8")
    for rule in all_rules():
        assert f"| [{rule.id}]({rule.id}.md) | `{rule.name}` |" in index
