"""UT006 sql-call-without-context: database/sql calls that ignore the context in scope."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.check.rules.helpers import assert_valid_go, fixed_all
from unstall.check.model import Finding
from unstall.check.parse import parse_go
from unstall.check.rules.ut006_sql_context import RULE
from unstall.config import CheckTimeouts


def check(source: str) -> list[Finding]:
    return list(RULE.check(parse_go(Path("main.go"), source.encode()), CheckTimeouts()))


WITH_CONTEXT = """package main

import (
	"context"
	"database/sql"
)

func load(ctx context.Context, db *sql.DB, id int) error {
	rows, err := db.Query("SELECT name FROM users WHERE id = ?", id)
	if err != nil {
		return err
	}
	defer rows.Close()
	db.QueryRow("SELECT 1").Scan(&id)
	db.Exec("DELETE FROM users")
	stmt, _ := db.Prepare("SELECT 1")
	stmt.Exec()
	db.Ping()
	tx, _ := db.Begin()
	tx.Exec("UPDATE users SET n = 1")
	return tx.Commit()
}
"""


def test_every_method_is_flagged_with_position_and_message() -> None:
    findings = check(WITH_CONTEXT)
    assert [(f.line, f.column) for f in findings] == [
        (9, 15),
        (14, 2),
        (15, 2),
        (16, 13),
        (17, 2),
        (18, 2),
        (19, 11),
        (20, 2),
    ]
    assert findings[0].rule == "UT006"
    assert findings[0].message.startswith("db.Query ignores the context in scope")
    assert "QueryContext(ctx, ...)" in findings[0].message


def test_fix_uses_context_variants_and_begin_tx() -> None:
    findings = check(WITH_CONTEXT)
    assert all(f.fix is not None and f.fix.safe and f.fix.imports == () for f in findings)
    text = fixed_all(WITH_CONTEXT, findings)
    assert 'db.QueryContext(ctx, "SELECT name FROM users WHERE id = ?", id)' in text
    assert 'db.QueryRowContext(ctx, "SELECT 1").Scan(&id)' in text
    assert 'db.ExecContext(ctx, "DELETE FROM users")' in text
    assert 'db.PrepareContext(ctx, "SELECT 1")' in text
    assert "stmt.ExecContext(ctx)" in text
    assert "db.PingContext(ctx)" in text
    assert "db.BeginTx(ctx, nil)" in text
    assert 'tx.ExecContext(ctx, "UPDATE users SET n = 1")' in text
    assert_valid_go(text)
    assert check(text) == []


def test_no_context_in_scope_is_not_flagged() -> None:
    source = """package main

import "database/sql"

func load(db *sql.DB) {
	db.Query("SELECT 1")
	db.Ping()
}
"""
    assert check(source) == []


def test_http_request_gives_its_context() -> None:
    source = """package main

import (
	"database/sql"
	"net/http"
)

type server struct{ db *sql.DB }

func (s *server) handle(w http.ResponseWriter, r *http.Request) {
	s.db.Exec("INSERT INTO hits DEFAULT VALUES")
}
"""
    [finding] = check(source)
    assert "ExecContext(r.Context(), ...)" in finding.message
    text = fixed_all(source, [finding])
    assert 's.db.ExecContext(r.Context(), "INSERT INTO hits DEFAULT VALUES")' in text
    assert_valid_go(text)


def test_context_param_is_preferred_and_closures_see_outer_context() -> None:
    source = """package main

import (
	ctxpkg "context"
	"database/sql"
	"net/http"
)

var db *sql.DB

func run(c ctxpkg.Context, r *http.Request) {
	go func() {
		db.Ping()
	}()
}
"""
    [finding] = check(source)
    assert fixed_all(source, [finding]).count("db.PingContext(c)") == 1


def test_local_context_from_with_timeout_is_used_when_declared_before() -> None:
    source = """package main

import (
	"context"
	"database/sql"
	"time"
)

func load(db *sql.DB) {
	db.Ping()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	db.Exec("SELECT 1")
}
"""
    [finding] = check(source)
    assert finding.line == 13
    assert 'db.ExecContext(ctx, "SELECT 1")' in fixed_all(source, [finding])


def test_lookalike_receivers_are_not_flagged() -> None:
    source = """package main

import (
	"context"
	"database/sql"

	"gorm.io/gorm"
)

type repo struct {
	orm *gorm.DB
	db  *sql.DB
}

func (r *repo) load(ctx context.Context, g *gorm.DB, conn *sql.Conn) {
	g.Exec("SELECT 1")
	r.orm.Exec("SELECT 1")
	conn.Raw(nil)
	db := g
	db.Exec("SELECT 1")
	r.db.QueryContext(ctx, "SELECT 1")
}
"""
    assert check(source) == []


def test_a_local_shadowing_a_package_sql_variable_is_not_flagged() -> None:
    source = """package main

import (
	"context"
	"database/sql"
)

type fake struct{}

func (fake) Ping() {}

var db *sql.DB

func load(ctx context.Context, db fake) {
	db.Ping()
}
"""
    assert check(source) == []


def test_sql_open_result_and_tx_prepare_are_tracked() -> None:
    source = """package main

import (
	"context"
	"database/sql"
)

func load(ctx context.Context) {
	conn, _ := sql.Open("mysql", "")
	tx, _ := conn.BeginTx(ctx, nil)
	stmt, _ := tx.Prepare("SELECT 1")
	stmt.QueryRow(1)
}
"""
    findings = check(source)
    assert [f.line for f in findings] == [11, 12]
    text = fixed_all(source, findings)
    assert 'tx.PrepareContext(ctx, "SELECT 1")' in text
    assert "stmt.QueryRowContext(ctx, 1)" in text
    assert_valid_go(text)


def test_without_database_sql_import_nothing_is_flagged() -> None:
    source = """package main

import "context"

func load(ctx context.Context, db *sql.DB) {
	db.Ping()
}
"""
    assert check(source) == []


@pytest.mark.parametrize(
    "source",
    [
        "",
        'package main\nimport "database/sql"\n'
        "func f(ctx context.Context, db *sql.DB) { db.Query( }",
        'package main\nimport "database/sql"\nvar x = db.Query("x")',
        'package main\nimport "database/sql"\nfunc f(_ context.Context, db *sql.DB) { db.Ping() }',
        'package main\nimport "database/sql"\nfunc f(context.Context, *sql.DB) { x().Ping() }',
    ],
)
def test_odd_input_does_not_raise(source: str) -> None:
    check(source)
