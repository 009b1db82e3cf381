"""UT003 http-serve-no-timeouts: what it flags, what it leaves alone, and its fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.check.rules.helpers import assert_valid_go, fixed, imported
from unstall.check.model import Finding
from unstall.check.parse import parse_go
from unstall.check.rules import RULE_MODULES
from unstall.check.rules.ut003_http_serve import RULE
from unstall.config import CheckTimeouts

TIMEOUTS = CheckTimeouts()


def check(source: str, timeouts: CheckTimeouts = TIMEOUTS) -> list[Finding]:
    return list(RULE.check(parse_go(Path("main.go"), source.encode()), timeouts))


def go(body: str, imports: str = '(\n\t"net"\n\t"net/http"\n)') -> str:
    return (
        f"package main\n\nimport {imports}\n\n"
        f"func run(l net.Listener, mux *http.ServeMux) error {{\n{body}}}\n"
    )


def test_rule_is_registered_with_its_metadata() -> None:
    assert "ut003_http_serve" in RULE_MODULES
    assert (RULE.id, RULE.name) == ("UT003", "http-serve-no-timeouts")
    assert RULE.summary
    assert "ReadHeaderTimeout" in RULE.description


@pytest.mark.parametrize(
    ("call", "replacement"),
    [
        (
            'http.ListenAndServe(":8080", mux)',
            '(&http.Server{Addr: ":8080", Handler: mux, ReadHeaderTimeout: 10 * time.Second})'
            ".ListenAndServe()",
        ),
        (
            'http.ListenAndServe(":8080", nil)',
            '(&http.Server{Addr: ":8080", ReadHeaderTimeout: 10 * time.Second}).ListenAndServe()',
        ),
        (
            'http.ListenAndServeTLS(":8443", "cert.pem", "key.pem", mux)',
            '(&http.Server{Addr: ":8443", Handler: mux, ReadHeaderTimeout: 10 * time.Second})'
            '.ListenAndServeTLS("cert.pem", "key.pem")',
        ),
        (
            "http.Serve(l, mux)",
            "(&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}).Serve(l)",
        ),
        (
            'http.ServeTLS(l, nil, "cert.pem", "key.pem")',
            "(&http.Server{ReadHeaderTimeout: 10 * time.Second})"
            '.ServeTLS(l, "cert.pem", "key.pem")',
        ),
    ],
)
def test_serve_functions_are_flagged_and_safely_fixed(call: str, replacement: str) -> None:
    source = go(f"\treturn {call}\n")
    [finding] = check(source)
    function = call.split("(")[0].removeprefix("http.")
    assert (finding.rule, finding.line, finding.column) == ("UT003", 9, 9)
    assert (finding.end_line, finding.end_column) == (9, 9 + len(call))
    assert finding.message == (
        f"http.{function} serves without timeouts; use an http.Server with ReadHeaderTimeout"
    )
    assert finding.fix is not None
    assert finding.fix.safe
    assert finding.fix.imports == ("time",)
    text = fixed(source, finding)
    assert f"\treturn {replacement}\n" in text
    assert "time" in imported(text)
    assert_valid_go(text)


def test_call_as_a_statement_and_a_multiline_handler() -> None:
    source = go(
        '\tgo http.ListenAndServe(":1", http.HandlerFunc(func(w http.ResponseWriter, '
        "r *http.Request) {\n\t\tw.WriteHeader(204)\n\t}))\n\treturn nil\n"
    )
    [finding] = check(source)
    assert (finding.line, finding.end_line) == (9, 11)
    text = fixed(source, finding)
    assert '\tgo (&http.Server{Addr: ":1", Handler: http.HandlerFunc(func(' in text
    assert "ReadHeaderTimeout: 10 * time.Second}).ListenAndServe()\n" in text
    assert_valid_go(text)


def test_aliased_packages_and_configured_timeout_are_used() -> None:
    source = go(
        '\t_ = t.Now\n\treturn web.ListenAndServe(":8080", nil)\n',
        '(\n\t"net"\n\tweb "net/http"\n\tt "time"\n)',
    ).replace("*http.ServeMux", "*web.ServeMux")
    [finding] = check(source, CheckTimeouts(http_server_read_header="time.Second"))
    text = fixed(source, finding)
    assert '(&web.Server{Addr: ":8080", ReadHeaderTimeout: t.Second}).ListenAndServe()' in text
    assert text.count('"time"') == 1  # already imported, as t: not a second time
    assert_valid_go(text)


@pytest.mark.parametrize(
    "call",
    ["http.ListenAndServe(args...)", 'http.ListenAndServe(":1")', "http.Serve(l, mux, nil)"],
)
def test_unusual_arguments_are_flagged_without_a_fix(call: str) -> None:
    [finding] = check(go(f"\treturn {call}\n"))
    assert finding.fix is None


@pytest.mark.parametrize(
    "body",
    [
        # A server value's own methods: UT002 judges how that server was built.
        '\tsrv := &http.Server{Addr: ":1"}\n\treturn srv.ListenAndServe()\n',
        # Same names in another package.
        '\treturn other.ListenAndServe(":1", nil)\n',
        # Not a call: a function value.
        "\tf := http.Serve\n\t_ = f\n\treturn nil\n",
        # Other net/http functions.
        '\thttp.Handle("/", mux)\n\treturn nil\n',
    ],
)
def test_other_calls_are_not_flagged(body: str) -> None:
    source = go(body, '(\n\t"net"\n\t"net/http"\n\t"example.test/other"\n)')
    assert check(source) == []


def test_files_without_net_http_are_ignored() -> None:
    source = go('\treturn http.ListenAndServe(":1", nil)\n', '"example.test/http"')
    assert check(source) == []


@pytest.mark.parametrize(
    "source",
    [
        "",
        'package main\nimport "net/http"\nfunc f() { http.ListenAndServe(":1", ',
        'package main\nimport "net/http"\nvar e = http.Serve(,)\n',
        'package main\nimport "net/http"\nvar e = http.ListenAndServe\n',
    ],
)
def test_odd_input_does_not_raise(source: str) -> None:
    findings = check(source)
    assert all(f.rule == "UT003" for f in findings)
