"""UT007 redis-timeout-disabled: negative go-redis timeouts are reported, defaults are not."""

from __future__ import annotations

from pathlib import Path

import pytest

from unstall.check.model import Finding
from unstall.check.parse import parse_go
from unstall.check.rules.ut007_redis import RULE
from unstall.config import CheckTimeouts

V9 = "github.com/redis/go-redis/v9"
V8 = "github.com/go-redis/redis/v8"


def check(body: str, imports: str = f'"{V9}"') -> list[Finding]:
    source = f"package main\n\nimport (\n{imports}\n)\n\n{body}"
    return list(RULE.check(parse_go(Path("main.go"), source.encode()), CheckTimeouts()))


def test_read_timeout_minus_one_is_reported_at_the_field() -> None:
    findings = check(
        'func f() {\n\t_ = redis.NewClient(&redis.Options{\n\t\tAddr: "127.0.0.1:6379",\n'
        "\t\tReadTimeout: -1,\n\t})\n}\n"
    )
    assert len(findings) == 1
    finding = findings[0]
    assert (finding.rule, finding.line, finding.column) == ("UT007", 10, 3)
    assert finding.end_column == 18  # just after "ReadTimeout: -1"
    assert finding.message.startswith("redis.Options ReadTimeout: -1 disables the read timeout")
    assert "default: 3s" in finding.message
    assert finding.fix is None  # report only


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("-2", "-2 disables write deadlines entirely"),
        ("time.Duration(-1)", "-1 disables the write timeout"),
        ("(-2)", "-2 disables write deadlines"),
        ("-1 * time.Second", "-1000000000 (negative)"),
    ],
)
def test_write_timeout_negative_spellings(value: str, expected: str) -> None:
    findings = check(f"var o = redis.Options{{WriteTimeout: {value}}}\n", imports=f'"time"\n"{V9}"')
    assert [f.rule for f in findings] == ["UT007"]
    assert expected in findings[0].message
    assert "WriteTimeout" in findings[0].message


@pytest.mark.parametrize(
    "kind", ["Options", "ClusterOptions", "FailoverOptions", "UniversalOptions", "RingOptions"]
)
def test_every_options_type_is_checked(kind: str) -> None:
    findings = check(f"var o = &redis.{kind}{{ReadTimeout: -2}}\n")
    assert len(findings) == 1
    assert findings[0].message.startswith(f"redis.{kind} ReadTimeout: -2")


def test_dial_timeout_negative_is_reported_with_its_own_explanation() -> None:
    [finding] = check("var o = redis.Options{DialTimeout: -1}\n")
    assert "DialTimeout: -1 is not a dial timeout" in finding.message
    assert "5s default" in finding.message


def test_each_disabled_field_is_one_finding() -> None:
    findings = check("var o = redis.Options{ReadTimeout: -1, WriteTimeout: -1, DialTimeout: 5}\n")
    fields = [f.message.split(":")[0] for f in findings]
    assert fields == ["redis.Options ReadTimeout", "redis.Options WriteTimeout"]
    assert [f.line for f in findings] == [7, 7]


@pytest.mark.parametrize(
    "literal",
    [
        "redis.Options{}",  # the trap: go-redis has default timeouts
        'redis.Options{Addr: "127.0.0.1:6379"}',
        "redis.Options{ReadTimeout: 0, WriteTimeout: 2 * time.Second}",
        "redis.Options{ReadTimeout: timeout}",  # not a constant: not judged
        "redis.Options{PoolTimeout: -1, MaxRetries: -1}",  # not socket timeouts
        "redis.Client{}",
    ],
)
def test_defaults_and_unknown_values_are_not_reported(literal: str) -> None:
    assert check(f"var timeout = time.Second\nvar o = {literal}\n", f'"time"\n"{V9}"') == []


def test_match_is_by_import_path_not_by_name() -> None:
    aliased = check("var o = rdb.Options{ReadTimeout: -1}\n", imports=f'rdb "{V9}"')
    assert [f.rule for f in aliased] == ["UT007"]
    other = check(
        "var o = redis.Options{ReadTimeout: -1}\n", imports='redis "example.test/notredis"'
    )
    assert other == []


def test_v8_is_checked_too() -> None:
    [finding] = check("var o = redis.Options{ReadTimeout: -1}\n", imports=f'"{V8}"')
    assert "ContextTimeoutEnabled" not in finding.message


CONTEXT_BODY = (
    "func get(rdb *redis.Client) {{\n"
    "\tctx, cancel := context.WithTimeout(context.Background(), time.Second)\n"
    '\tdefer cancel()\n\trdb.Get(ctx, "k")\n}}\n'
    "var o = redis.Options{{ReadTimeout: -1{extra}}}\n"
)


def test_context_deadlines_get_the_v9_context_timeout_note() -> None:
    [finding] = check(CONTEXT_BODY.format(extra=""), imports=f'"context"\n"time"\n"{V9}"')
    assert "v9 ignores the context deadlines" in finding.message
    assert "ContextTimeoutEnabled is true" in finding.message


def test_no_note_when_context_timeouts_are_enabled_or_v8() -> None:
    enabled = check(
        CONTEXT_BODY.format(extra=", ContextTimeoutEnabled: true"),
        imports=f'"context"\n"time"\n"{V9}"',
    )
    assert len(enabled) == 1
    assert "ContextTimeoutEnabled" not in enabled[0].message
    v8 = check(CONTEXT_BODY.format(extra=""), imports=f'"context"\n"time"\n"{V8}"')
    assert len(v8) == 1
    assert "ContextTimeoutEnabled" not in v8[0].message


def test_no_note_without_context_deadlines() -> None:
    [finding] = check("var o = redis.Options{ReadTimeout: -1}\n")
    assert "ContextTimeoutEnabled" not in finding.message


@pytest.mark.parametrize(
    "body",
    [
        "var o = redis.Options{ReadTimeout: }\n",
        "var o = redis.Options{ReadTimeout: -}\n",
        "var o = redis.Options{-1, -2}\n",
        "var o = redis.Options{ReadTimeout: 0x_zz}\n",
        "func f() { redis.Options{ReadTimeout: -1\n",
    ],
)
def test_odd_input_does_not_raise(body: str) -> None:
    findings = check(body)
    assert all(f.rule == "UT007" for f in findings)


def test_rule_metadata() -> None:
    assert (RULE.id, RULE.name) == ("UT007", "redis-timeout-disabled")
    assert RULE.summary
    assert "ContextTimeoutEnabled" in RULE.description
