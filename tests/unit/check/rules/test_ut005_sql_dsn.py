"""UT005 sql-dsn-no-timeout: literal MySQL/PostgreSQL DSNs without a connect timeout."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.check.rules.helpers import assert_valid_go, fixed
from unstall.check.model import Finding
from unstall.check.parse import parse_go
from unstall.check.rules.ut005_sql_dsn import RULE, postgres_seconds
from unstall.config import CheckTimeouts

TIMEOUTS = CheckTimeouts()


def check(source: str, timeouts: CheckTimeouts = TIMEOUTS) -> list[Finding]:
    return list(RULE.check(parse_go(Path("main.go"), source.encode()), timeouts))


def sql_open(driver: str, dsn: str) -> str:
    return f"""package main

import "database/sql"

func open() (*sql.DB, error) {{
	return sql.Open({driver}, {dsn})
}}
"""


def test_mysql_dsn_without_timeout_is_flagged_at_the_literal() -> None:
    source = sql_open('"mysql"', '"app:secret@tcp(db.example.test:3306)/shop"')
    [finding] = check(source)
    assert finding.rule == "UT005"
    assert (finding.line, finding.column) == (6, 27)
    assert "MySQL DSN without timeout=" in finding.message
    assert "secret" not in finding.message  # the DSN (and its password) is never echoed


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ('"app@tcp(db.example.test)/shop"', '"app@tcp(db.example.test)/shop?timeout=10s"'),
        (
            '"app@tcp(db.example.test)/shop?parseTime=true"',
            '"app@tcp(db.example.test)/shop?parseTime=true&timeout=10s"',
        ),
        ('"app@tcp(db.example.test)/shop?"', '"app@tcp(db.example.test)/shop?timeout=10s"'),
        ("`app@tcp(db.example.test)/shop`", "`app@tcp(db.example.test)/shop?timeout=10s`"),
        ('""', '"/?timeout=10s"'),
        # readTimeout is not the dial timeout
        ('"app@tcp(h)/shop?readTimeout=5s"', '"app@tcp(h)/shop?readTimeout=5s&timeout=10s"'),
    ],
)
def test_mysql_fix_appends_timeout_safely(dsn: str, expected: str) -> None:
    source = sql_open('"mysql"', dsn)
    [finding] = check(source)
    assert finding.fix is not None
    assert finding.fix.safe
    assert finding.fix.imports == ()
    text = fixed(source, finding)
    assert f'sql.Open("mysql", {expected})' in text
    assert_valid_go(text)
    assert check(text) == []


def test_mysql_dsn_with_timeout_is_not_flagged() -> None:
    assert check(sql_open('"mysql"', '"app@tcp(h:3306)/shop?timeout=5s&parseTime=true"')) == []


def test_a_dsn_that_is_not_a_literal_is_not_flagged() -> None:
    assert check(sql_open('"mysql"', "dsn")) == []
    assert check(sql_open('"postgres"', 'os.Getenv("DATABASE_URL")')) == []
    assert check(sql_open('"mysql"', '"app@tcp(h)/" + name')) == []


def test_other_drivers_are_not_flagged() -> None:
    assert check(sql_open('"sqlite3"', '"file:shop.db"')) == []


def test_postgres_url_without_connect_timeout_gets_a_suggested_fix() -> None:
    source = sql_open('"pgx"', '"postgres://app@db.example.test:5432/shop?sslmode=disable"')
    [finding] = check(source)
    assert "PostgreSQL DSN without connect_timeout" in finding.message
    assert "PGCONNECT_TIMEOUT" in finding.message
    assert finding.fix is not None
    assert not finding.fix.safe
    text = fixed(source, finding)
    assert '/shop?sslmode=disable&connect_timeout=10"' in text
    assert_valid_go(text)
    assert check(text) == []


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ('"postgresql://127.0.0.1/shop"', '"postgresql://127.0.0.1/shop?connect_timeout=10"'),
        ('"host=127.0.0.1 dbname=shop"', '"host=127.0.0.1 dbname=shop connect_timeout=10"'),
        ('""', '"connect_timeout=10"'),
    ],
)
def test_postgres_fixes(dsn: str, expected: str) -> None:
    source = sql_open('"postgres"', dsn)
    [finding] = check(source)
    assert finding.fix is not None
    assert f'sql.Open("postgres", {expected})' in fixed(source, finding)


@pytest.mark.parametrize(
    "dsn",
    [
        '"postgres://app@127.0.0.1/shop?connect_timeout=5"',
        '"host=127.0.0.1 connect_timeout=5 dbname=shop"',
        '"connect_timeout = 5"',
    ],
)
def test_postgres_with_connect_timeout_is_not_flagged(dsn: str) -> None:
    assert check(sql_open('"postgres"', dsn)) == []


def test_driver_from_a_variable_is_inferred_from_the_dsn_shape() -> None:
    assert len(check(sql_open("driver", '"postgres://127.0.0.1/shop"'))) == 1
    assert len(check(sql_open("driver", '"app@tcp(127.0.0.1:3306)/shop"'))) == 1
    assert check(sql_open("driver", '"file:shop.db"')) == []


def test_pgx_connect_and_pgxpool_new_with_aliases() -> None:
    source = """package main

import (
	"context"

	pg "github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func open(ctx context.Context) {
	pg.Connect(ctx, "postgres://127.0.0.1/shop")
	pgxpool.New(ctx, "host=127.0.0.1")
	pgxpool.New(ctx, "host=127.0.0.1 connect_timeout=3")
}
"""
    findings = check(source)
    assert [f.line for f in findings] == [11, 12]
    assert all(f.fix is not None for f in findings)
    assert not any(f.fix is not None and f.fix.safe for f in findings)


def test_unimported_lookalikes_are_not_flagged() -> None:
    source = """package main

func open() {
	sql.Open("mysql", "app@tcp(h)/shop")
	pgx.Connect(nil, "postgres://127.0.0.1/shop")
}
"""
    assert check(source) == []


def test_configured_duration_becomes_whole_seconds_for_postgres() -> None:
    source = sql_open('"postgres"', '"postgres://127.0.0.1/shop"')
    [finding] = check(source, CheckTimeouts(sql_dsn="1m30s"))
    assert "connect_timeout=90" in fixed(source, finding)


@pytest.mark.parametrize(
    ("duration", "seconds"),
    [("10s", 10), ("1m30s", 90), ("500ms", 1), ("2.5s", 3), ("1h", 3600), ("soon", 10)],
)
def test_postgres_seconds(duration: str, seconds: int) -> None:
    assert postgres_seconds(duration) == seconds


@pytest.mark.parametrize(
    "source",
    [
        "",
        'package main\nimport "database/sql"\nfunc f() { sql.Open("mysql" }',
        'package main\nimport "database/sql"\nfunc f() { sql.Open() }',
        'package main\nimport "database/sql"\nfunc f() { sql.Open("mysql", "noslash") }',
        'package main\nimport "database/sql"\n'
        'func f() { sql.Open("postgres", "postgres://h/d#x") }',
    ],
)
def test_odd_input_does_not_raise(source: str) -> None:
    check(source)
