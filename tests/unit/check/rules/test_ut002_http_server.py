"""UT002 http-server-no-read-header-timeout: what it flags, what it leaves alone, its fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.check.rules.helpers import assert_valid_go, fixed
from unstall.check.model import Finding
from unstall.check.parse import parse_go
from unstall.check.rules import RULE_MODULES
from unstall.check.rules.ut002_http_server import RULE
from unstall.config import CheckTimeouts

TIMEOUTS = CheckTimeouts()
MESSAGE = (
    "http.Server without ReadHeaderTimeout waits forever for request headers; set ReadHeaderTimeout"
)


def check(source: str, timeouts: CheckTimeouts = TIMEOUTS) -> list[Finding]:
    return list(RULE.check(parse_go(Path("main.go"), source.encode()), timeouts))


IMPORTS = '(\n\t"net/http"\n\t"time"\n)'


def go(body: str, imports: str = IMPORTS) -> str:
    uses_time = "\t_ = time.Now\n" if '"time"' in imports else ""
    return f"package main\n\nimport {imports}\n\nfunc run() {{\n{body}{uses_time}}}\n"


def test_rule_is_registered_with_its_metadata() -> None:
    assert "ut002_http_server" in RULE_MODULES
    assert (RULE.id, RULE.name) == ("UT002", "http-server-no-read-header-timeout")
    assert RULE.summary
    assert "ReadHeaderTimeout" in RULE.description


def test_server_without_header_timeout_is_flagged_and_safely_fixed() -> None:
    source = go('\tsrv := &http.Server{\n\t\tAddr: ":8080",\n\t}\n\t_ = srv\n', '"net/http"')
    [finding] = check(source)
    assert (finding.rule, finding.line, finding.column) == ("UT002", 6, 10)
    assert (finding.end_line, finding.end_column) == (8, 3)
    assert finding.message == MESSAGE
    assert finding.fix is not None
    assert finding.fix.safe
    assert finding.fix.imports == ("time",)
    text = fixed(source, finding)
    assert '\t\tReadHeaderTimeout: 10 * time.Second,\n\t\tAddr: ":8080",\n' in text
    # Read/WriteTimeout would cut off streaming responses and long uploads.
    assert "ReadTimeout" not in text.replace("ReadHeaderTimeout", "")
    assert "WriteTimeout" not in text
    assert_valid_go(text)


def test_empty_server_literal_is_fixed_inline() -> None:
    source = go("\tsrv := http.Server{}\n\t_ = srv\n")
    [finding] = check(source)
    text = fixed(source, finding)
    assert "srv := http.Server{ReadHeaderTimeout: 10 * time.Second}" in text
    assert_valid_go(text)


@pytest.mark.parametrize(
    "fields",
    [
        "ReadHeaderTimeout: 0",
        "ReadHeaderTimeout: 0 * time.Second",
        "ReadHeaderTimeout: time.Duration(0)",
        "ReadHeaderTimeout: -1",
        "ReadHeaderTimeout: -time.Second",
        # Negative disables the limit even when ReadTimeout is set (net/http's rule).
        "ReadHeaderTimeout: -1, ReadTimeout: 5 * time.Second",
        "ReadTimeout: 0",
        "ReadTimeout: -2 * time.Second",
        "ReadHeaderTimeout: 0, ReadTimeout: (0)",
        "WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute",
    ],
)
def test_zero_or_negative_timeouts_are_flagged(fields: str) -> None:
    source = go(f"\tsrv := &http.Server{{{fields}}}\n\t_ = srv\n")
    [finding] = check(source)
    assert finding.message == MESSAGE
    text = fixed(source, finding)
    assert "ReadHeaderTimeout: 10 * time.Second" in text
    assert text.count("ReadHeaderTimeout") == 1  # replaced, never duplicated
    assert_valid_go(text)


def test_disabled_header_timeout_is_replaced_in_place() -> None:
    source = go('\tsrv := &http.Server{Addr: ":1", ReadHeaderTimeout: -1}\n\t_ = srv\n')
    [finding] = check(source)
    text = fixed(source, finding)
    assert 'http.Server{Addr: ":1", ReadHeaderTimeout: 10 * time.Second}' in text


@pytest.mark.parametrize(
    "fields",
    [
        "ReadHeaderTimeout: 10 * time.Second",
        "ReadTimeout: 30 * time.Second",
        "ReadHeaderTimeout: 0, ReadTimeout: time.Minute",
        "ReadHeaderTimeout: headerTimeout",
        "ReadHeaderTimeout: cfg.Timeout()",
        "ReadHeaderTimeout: 2e9",
    ],
)
def test_servers_with_a_header_limit_are_not_flagged(fields: str) -> None:
    source = go(f"\tsrv := &http.Server{{{fields}}}\n\t_ = srv\n")
    assert check(source) == []


@pytest.mark.parametrize(
    "assignment",
    [
        "\tsrv.ReadHeaderTimeout = 5 * time.Second\n",
        "\tsrv.ReadTimeout = 5 * time.Second\n",
    ],
)
def test_a_later_field_assignment_is_not_flagged(assignment: str) -> None:
    source = go('\tsrv := &http.Server{Addr: ":8080"}\n' + assignment + "\t_ = srv\n")
    assert check(source) == []


def test_assignment_to_a_struct_field_holding_the_server_counts() -> None:
    source = go(
        '\tvar app struct{ srv *http.Server }\n\tapp.srv = &http.Server{Addr: ":1"}\n'
        "\tapp.srv.ReadHeaderTimeout = time.Second\n"
    )
    assert check(source) == []


def test_an_assignment_to_another_field_or_variable_does_not_count() -> None:
    source = go(
        '\tsrv := &http.Server{Addr: ":8080"}\n\tother := &http.Server{ReadTimeout: 1}\n'
        "\tsrv.WriteTimeout = time.Second\n\tother.ReadTimeout = time.Second\n\t_ = srv\n"
    )
    [finding] = check(source)
    assert finding.line == 9


def test_aliased_packages_and_configured_timeout_are_used() -> None:
    source = go(
        "\tsrv := nh.Server{}\n\t_ = srv\n\t_ = tm.Now\n", '(\n\tnh "net/http"\n\ttm "time"\n)'
    )
    [finding] = check(source, CheckTimeouts(http_server_read_header="3 * time.Second"))
    text = fixed(source, finding)
    assert "nh.Server{ReadHeaderTimeout: 3 * tm.Second}" in text
    assert finding.fix is not None
    assert finding.fix.imports == ()  # "time" is imported already, as tm
    assert text.count('"time"') == 1
    assert_valid_go(text)


def test_other_packages_and_positional_literals_are_ignored() -> None:
    source = go(
        '\ta := other.Server{}\n\tb := http.Server{":1", nil}\n\t_, _ = a, b\n',
        '(\n\t"net/http"\n\t"example.test/other"\n)',
    )
    assert check(source) == []


@pytest.mark.parametrize(
    "source",
    [
        "",
        'package main\nimport "net/http"\nvar s = http.Server{ReadHeaderTimeout: }\n',
        'package main\nimport "net/http"\nvar s = &http.Server{ReadTimeout: -(}\n',
        'package main\nimport "net/http"\nvar s = http.Server{ReadHeaderTimeout: 0x_zz}\n',
        'package main\nimport "net/http"\nfunc f() { s := http.Server{',
    ],
)
def test_odd_input_does_not_raise(source: str) -> None:
    findings = check(source)
    assert all(f.rule == "UT002" for f in findings)
