"""Suppression comments: golangci-lint's //nolint and //unstall:ignore."""

from __future__ import annotations

import pytest

from unstall.check.suppress import parse_suppressions

NAME = "http-client-no-timeout"


def covered(source: str, line: int, rule: str = "UT001") -> bool:
    return parse_suppressions(source.encode()).covers(line, rule, NAME)


@pytest.mark.parametrize(
    "comment",
    [
        "//nolint",
        "//nolint:unstall",
        "//nolint:all",
        "//nolint:UT001",
        "//nolint:ut001",
        "//nolint:gosec,UT001,UT004",
        "//nolint:UT001 // the server is ours and answers in microseconds",
        "//nolint:http-client-no-timeout",
        "//unstall:ignore UT001 the server is local",
        "//unstall:ignore UT004,UT001",
        "//unstall:ignore because it is a probe",
    ],
)
def test_directive_on_the_finding_line_suppresses(comment: str) -> None:
    assert covered(f"x := f() {comment}\n", 1)


@pytest.mark.parametrize(
    "comment",
    [
        "//nolint:UT004",
        "//nolint:gosec",
        "//unstall:ignore UT004 other rule",
        "// nolint:UT001",  # prose, not a directive (golangci-lint agrees)
        "//nolintUT001",
    ],
)
def test_directive_for_other_rules_or_malformed_does_not(comment: str) -> None:
    assert not covered(f"x := f() {comment}\n", 1)


def test_comment_only_line_above_covers_the_next_line_only() -> None:
    source = "\t//nolint:UT001\n\tx := f()\n\ty := f()\n"
    assert covered(source, 2)
    assert not covered(source, 3)


def test_trailing_directive_does_not_cover_the_line_below() -> None:
    source = "a := f() //nolint:UT001\nb := f()\n"
    assert covered(source, 1)
    assert not covered(source, 2)


def test_no_directives_suppress_nothing() -> None:
    assert not covered("x := f() // a plain comment\n", 1)
