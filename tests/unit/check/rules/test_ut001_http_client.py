"""UT001 http-client-no-timeout: what it flags, what it leaves alone, and its fixes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.check.rules.helpers import assert_valid_go, fixed
from unstall.check.model import Finding
from unstall.check.parse import parse_go
from unstall.check.rules import RULE_MODULES
from unstall.check.rules.ut001_http_client import RULE
from unstall.config import CheckTimeouts

TIMEOUTS = CheckTimeouts()


def check(source: str, timeouts: CheckTimeouts = TIMEOUTS) -> list[Finding]:
    return list(RULE.check(parse_go(Path("main.go"), source.encode()), timeouts))


def go(body: str, imports: str = '"net/http"') -> str:
    return f"package main\n\nimport {imports}\n\nfunc run() {{\n{body}}}\n"


def test_rule_is_registered_with_its_metadata() -> None:
    assert "ut001_http_client" in RULE_MODULES
    assert (RULE.id, RULE.name) == ("UT001", "http-client-no-timeout")
    assert RULE.summary
    assert "Timeout" in RULE.description


def test_empty_client_literal_is_flagged_and_safely_fixed() -> None:
    source = go("\tc := &http.Client{}\n\t_ = c\n")
    [finding] = check(source)
    assert (finding.rule, finding.line, finding.column) == ("UT001", 6, 8)
    assert (finding.end_line, finding.end_column) == (6, 21)
    assert finding.message == (
        "http.Client without Timeout or Transport never times out; set Timeout"
    )
    assert finding.fix is not None
    assert finding.fix.safe
    assert finding.fix.imports == ("time",)
    text = fixed(source, finding)
    assert "c := &http.Client{Timeout: 30 * time.Second}" in text
    assert_valid_go(text)


def test_multiline_literal_gets_timeout_on_its_own_line() -> None:
    source = go("\tc := http.Client{\n\t\tJar: nil,\n\t}\n\t_ = c\n")
    [finding] = check(source)
    assert finding.fix is not None
    text = fixed(source, finding)
    assert "http.Client{\n\t\tTimeout: 30 * time.Second,\n\t\tJar: nil,\n\t}" in text
    assert_valid_go(text)


def test_inline_literal_with_fields_keeps_them() -> None:
    source = go("\tc := http.Client{Jar: nil}\n\t_ = c\n")
    [finding] = check(source)
    assert finding.fix is not None
    text = fixed(source, finding)
    assert "http.Client{Timeout: 30 * time.Second, Jar: nil}" in text
    assert_valid_go(text)


def test_empty_multiline_literal_gets_a_trailing_comma() -> None:
    source = go("\tc := http.Client{ // no options yet\n\t}\n\t_ = c\n")
    [finding] = check(source)
    assert finding.fix is not None
    text = fixed(source, finding)
    assert "http.Client{Timeout: 30 * time.Second, // no options yet\n\t}" in text
    assert_valid_go(text)


def test_configured_timeout_and_aliased_packages_are_used() -> None:
    source = go("\tc := &h.Client{}\n\t_ = c\n\t_ = t.Now\n", '(\n\th "net/http"\n\tt "time"\n)')
    [finding] = check(source, CheckTimeouts(http_client="5 * time.Minute"))
    assert finding.fix is not None
    assert finding.fix.imports == ()  # "time" is imported already, as t
    text = fixed(source, finding)
    assert "&h.Client{Timeout: 5 * t.Minute}" in text
    assert text.count('"time"') == 1
    assert_valid_go(text)


def test_timeout_without_the_time_package_needs_no_import() -> None:
    source = go("\tc := &http.Client{}\n\t_ = c\n")
    [finding] = check(source, CheckTimeouts(http_client="30_000_000_000"))
    assert finding.fix is not None
    assert finding.fix.imports == ()
    assert "&http.Client{Timeout: 30_000_000_000}" in fixed(source, finding)


@pytest.mark.parametrize(
    "body",
    [
        # Timeout or Transport set in the literal.
        "\tc := &http.Client{Timeout: 10 * time.Second}\n\t_ = c\n",
        "\tc := &http.Client{Transport: &http.Transport{}}\n\t_ = c\n",
        # Timeout assigned to the same variable later in the function.
        "\tc := &http.Client{}\n\tc.Timeout = 10 * time.Second\n",
        "\tvar c = http.Client{Jar: nil}\n\tc.Timeout = time.Second\n",
        "\ts := struct{ c *http.Client }{}\n\ts.c = &http.Client{}\n\ts.c.Timeout = time.Second\n",
        # A positional literal sets every field, Transport included.
        "\tc := http.Client{nil, nil, nil, 0}\n\t_ = c\n",
        # A different package's Client type.
        "\tc := &other.Client{}\n\t_ = c\n",
    ],
)
def test_bounded_clients_are_not_flagged(body: str) -> None:
    source = go(body + "\t_ = time.Now\n", '(\n\t"net/http"\n\t"time"\n\t"example.test/other"\n)')
    assert check(source) == []


def test_timeout_assigned_before_the_literal_or_to_another_variable_does_not_count() -> None:
    source = go(
        "\tc := &http.Client{}\n\td := &http.Client{Timeout: 1}\n\td.Timeout = 2\n\t_ = c\n"
    )
    [finding] = check(source)
    assert finding.line == 6


def test_timeout_assigned_in_another_function_does_not_count() -> None:
    source = (
        'package main\n\nimport "net/http"\n\n'
        "func a() *http.Client {\n\tc := &http.Client{}\n\treturn c\n}\n\n"
        "func b(c *http.Client) {\n\tc.Timeout = 1\n}\n"
    )
    [finding] = check(source)
    assert finding.line == 6


@pytest.mark.parametrize("helper", ["Get", "Head", "Post", "PostForm"])
def test_package_helpers_are_flagged_with_a_suggested_fix(helper: str) -> None:
    arguments = {
        "Get": '"http://127.0.0.1/"',
        "Head": '"http://127.0.0.1/"',
        "Post": '"http://127.0.0.1/", "text/plain", nil',
        "PostForm": '"http://127.0.0.1/", nil',
    }[helper]
    source = go(f"\tresp, err := http.{helper}({arguments})\n\t_, _ = resp, err\n")
    [finding] = check(source)
    assert (finding.line, finding.column) == (6, 15)
    assert finding.message == (
        f"http.{helper} uses http.DefaultClient, which has no timeout; "
        "use an http.Client with Timeout"
    )
    assert finding.fix is not None
    assert not finding.fix.safe  # a client Timeout also bounds reading the body
    assert finding.fix.imports == ("time",)
    text = fixed(source, finding)
    assert f"(&http.Client{{Timeout: 30 * time.Second}}).{helper}({arguments})" in text
    assert_valid_go(text)


def test_default_client_use_is_flagged_with_a_suggested_fix() -> None:
    source = go("\tresp, err := http.DefaultClient.Do(nil)\n\t_, _ = resp, err\n")
    [finding] = check(source)
    assert (finding.line, finding.column, finding.end_column) == (6, 15, 33)
    assert finding.message == "http.DefaultClient has no timeout; use an http.Client with Timeout"
    assert finding.fix is not None
    assert not finding.fix.safe
    text = fixed(source, finding)
    assert "(&http.Client{Timeout: 30 * time.Second}).Do(nil)" in text
    assert_valid_go(text)


def test_default_client_in_an_if_header_is_parenthesised() -> None:
    source = go("\tif c := http.DefaultClient; c != nil {\n\t}\n")
    [finding] = check(source)
    text = fixed(source, finding)
    assert "if c := (&http.Client{Timeout: 30 * time.Second}); c != nil {" in text
    assert_valid_go(text)


def test_default_client_as_a_value_is_not_parenthesised() -> None:
    source = go("\tc := http.DefaultClient\n\t_ = c\n")
    [finding] = check(source)
    text = fixed(source, finding)
    assert "c := &http.Client{Timeout: 30 * time.Second}\n" in text
    assert_valid_go(text)


@pytest.mark.parametrize(
    "setup",
    ["\thttp.DefaultClient.Timeout = 10 * time.Second\n", "\thttp.DefaultClient = &client\n"],
)
def test_a_file_that_bounds_the_default_client_is_not_flagged(setup: str) -> None:
    source = go(
        "\tclient := http.Client{Timeout: time.Second}\n"
        + setup
        + '\thttp.Get("http://127.0.0.1/")\n\t_ = http.DefaultClient\n',
        '(\n\t"net/http"\n\t"time"\n)',
    )
    assert check(source) == []


def test_files_without_net_http_are_ignored() -> None:
    source = go('\thttp.Get("x")\n\tc := &http.Client{}\n\t_ = c\n', '"example.test/http"')
    assert check(source) == []


@pytest.mark.parametrize(
    "source",
    [
        "",
        "package main\n",
        'package main\nimport "net/http"\nfunc f() { c := &http.Client{ }',
        'package main\nimport "net/http"\nvar c = http.Client{Jar: }\nvar d = http.Get(',
        'package main\nimport "net/http"\nvar c = http.DefaultClient.\n',
        'package main\nimport "net/http"\nvar c, d = &http.Client{}\n',
    ],
)
def test_odd_input_does_not_raise(source: str) -> None:
    findings = check(source)
    assert all(f.rule == "UT001" for f in findings)
