"""The engine with fake rules: selection, suppression, fixing, re-checking, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.unit.check import BrokenRule, FakeRule, go_source
from unstall.check.engine import (
    CheckOptions,
    check_file,
    check_paths,
    select_rules,
    unified_diff,
)
from unstall.check.fix import gofmt_formatter
from unstall.check.rules import Rule
from unstall.config import CheckTimeouts
from unstall.errors import UsageError

TIMEOUTS = CheckTimeouts()
SLOW = FakeRule()
WAIT = FakeRule(
    id="UT902",
    name="fake-wait",
    callee="wait",
    replacement="wait",
    argument="time.Second",
    safe=False,
    imports=("time",),
)
NEEDS_GOFMT = pytest.mark.skipif(shutil.which("gofmt") is None, reason="gofmt is not installed")


def write(tmp_path: Path, name: str, source: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(source)
    return path


def test_select_and_ignore_take_ids_names_and_comma_lists() -> None:
    rules: list[Rule] = [SLOW, WAIT, BrokenRule()]
    assert select_rules(rules) == (SLOW, WAIT, rules[2])
    assert select_rules(rules, ["ut900,fake-wait"]) == (SLOW, WAIT)
    assert select_rules(rules, ["UT900", "UT902"], ["UT902"]) == (SLOW,)
    assert select_rules(rules, (), ["UT901, UT902"]) == (SLOW,)


def test_unknown_rule_id_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="UT999"):
        select_rules([SLOW], ["UT999"])


def test_findings_are_reported_with_positions_and_files_are_untouched(tmp_path: Path) -> None:
    source = go_source("\tx := slow()\n\t_ = x\n")
    path = write(tmp_path, "main.go", source)
    result = check_file(path, [SLOW], TIMEOUTS)
    assert [(f.rule, f.line, f.column, f.end_column) for f in result.findings] == [
        ("UT900", 4, 7, 13)
    ]
    assert path.read_bytes() == source


def test_suppressed_findings_are_dropped(tmp_path: Path) -> None:
    body = (
        "\tslow() //nolint:UT900\n\t//unstall:ignore fake-slow-call ok here\n\tslow()\n\tslow()\n"
    )
    result = check_file(write(tmp_path, "main.go", go_source(body)), [SLOW], TIMEOUTS)
    assert [f.line for f in result.findings] == [7]


@NEEDS_GOFMT
def test_fix_writes_safe_fixes_keeps_the_mode_and_marks_them_applied(tmp_path: Path) -> None:
    path = write(tmp_path, "main.go", go_source("\tslow()\n\twait()\n"))
    path.chmod(0o640)
    options = CheckOptions(fix=True)
    result = check_file(path, [SLOW, WAIT], TIMEOUTS, options, gofmt_formatter())
    text = path.read_text()
    assert "\tfast()\n\twait()\n" in text
    assert path.stat().st_mode & 0o777 == 0o640
    assert [(f.rule, f.applied) for f in result.findings] == [("UT900", True), ("UT902", False)]
    assert [f.rule for f in result.remaining] == ["UT902"]
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


@NEEDS_GOFMT
def test_unsafe_fixes_add_the_import_and_a_second_fix_changes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "main.go", go_source("\twait()\n"))
    options = CheckOptions(fix=True, unsafe_fixes=True)
    rule = FakeRule(
        id="UT902",
        callee="wait",
        replacement="wait2",
        argument="time.Second",
        safe=False,
        imports=("time",),
    )
    first = check_file(path, [rule], TIMEOUTS, options, gofmt_formatter())
    fixed = path.read_bytes()
    assert b'import "time"' in fixed
    assert b"wait2(time.Second)" in fixed
    assert first.remaining == []
    second = check_file(path, [rule], TIMEOUTS, options, gofmt_formatter())
    assert path.read_bytes() == fixed
    assert second.findings == []
    assert not second.changed


def test_diff_shows_the_fix_and_writes_nothing(tmp_path: Path) -> None:
    source = go_source("\tslow()\n")
    path = write(tmp_path, "main.go", source)
    result = check_file(path, [SLOW], TIMEOUTS, CheckOptions(diff=True))
    assert path.read_bytes() == source
    patch = unified_diff(result, "main.go")
    assert patch.startswith("--- a/main.go\n+++ b/main.go\n")
    assert "-\tslow()\n+\tfast()\n" in patch


def test_diff_of_a_file_without_final_newline_marks_it(tmp_path: Path) -> None:
    path = write(tmp_path, "main.go", b"package main\n\nfunc main() { slow() }")
    result = check_file(path, [SLOW], TIMEOUTS, CheckOptions(diff=True))
    assert "\\ No newline at end of file\n" in unified_diff(result, "main.go")


def test_syntax_error_is_reported_and_other_files_still_checked(tmp_path: Path) -> None:
    write(tmp_path, "bad.go", b"package main\n\nfunc main( {\n")
    write(tmp_path, "good.go", go_source("\tslow()\n"))
    run = check_paths([tmp_path], [SLOW], TIMEOUTS, CheckOptions(fix=True))
    assert [(e.path.name, e.kind, e.message) for e in run.errors] == [
        ("bad.go", "syntax", "syntax error")
    ]
    assert run.errors[0].line == 3
    assert run.fixed == 1
    assert (tmp_path / "bad.go").read_bytes() == b"package main\n\nfunc main( {\n"


def test_a_raising_rule_is_an_internal_error_and_other_rules_still_run(tmp_path: Path) -> None:
    path = write(tmp_path, "main.go", go_source("\tslow()\n"))
    result = check_file(path, [BrokenRule(), SLOW], TIMEOUTS)
    assert [f.rule for f in result.findings] == ["UT900"]
    assert result.errors[0].kind == "internal"
    assert "UT901" in result.errors[0].message
    assert "boom" in result.errors[0].message


def test_a_fix_that_breaks_the_file_is_not_written(tmp_path: Path) -> None:
    source = go_source("\tslow()\n")
    path = write(tmp_path, "main.go", source)
    breaking = FakeRule(replacement="fast(")
    result = check_file(path, [breaking], TIMEOUTS, CheckOptions(fix=True))
    assert path.read_bytes() == source
    assert result.errors[0].kind == "fix"
    assert [f.applied for f in result.findings] == [False]


def test_unreadable_path_is_a_read_error(tmp_path: Path) -> None:
    directory = tmp_path / "dir.go"
    directory.mkdir()
    result = check_file(directory, [SLOW], TIMEOUTS)
    assert result.errors[0].kind == "read"


def test_fixable_counts_split_safe_and_unsafe(tmp_path: Path) -> None:
    write(tmp_path, "main.go", go_source("\tslow()\n\twait()\n\twait()\n"))
    run = check_paths([tmp_path], [SLOW, WAIT], TIMEOUTS)
    assert (run.fixable(unsafe=False), run.fixable(unsafe=True), run.fixed) == (1, 2, 0)
