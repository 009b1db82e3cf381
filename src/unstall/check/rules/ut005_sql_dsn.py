"""UT005 sql-dsn-no-timeout: a literal MySQL or PostgreSQL DSN without a connect timeout.

Only string literals are read: a DSN built at run time (a variable, a config value,
``fmt.Sprintf``) cannot be judged here, so it is never flagged. The DSN itself never
appears in a message, because it may hold a password.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from urllib.parse import parse_qsl

from tree_sitter import Node

from unstall.check.model import Edit, Finding, Fix
from unstall.check.parse import GoFile
from unstall.check.rules.ut004_net_dial import string_literal_value
from unstall.config import CheckTimeouts

_MYSQL_DRIVERS = frozenset({"mysql"})
_POSTGRES_DRIVERS = frozenset({"postgres", "pgx", "pgx/v4", "pgx/v5"})
# (import path, function names, index of the DSN argument) for the pgx entry points.
_PGX_CALLS = (
    ("github.com/jackc/pgx/v5", ("Connect",), 1),
    ("github.com/jackc/pgx/v4", ("Connect",), 1),
    ("github.com/jackc/pgx/v5/pgxpool", ("New",), 1),
    ("github.com/jackc/pgx/v4/pgxpool", ("Connect",), 1),
)
_URL_PREFIXES = ("postgres://", "postgresql://")
_MYSQL_SHAPE = re.compile(r"@(tcp|tcp6|unix)\(|^[^/?]*\)/")
_PG_KEY_VALUE = re.compile(r"(?:^|\s)connect_timeout\s*=")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def postgres_seconds(duration: str) -> int:
    """A Go duration ("10s", "1m30s") as the whole seconds ``connect_timeout`` takes
    (libpq and pgx read an integer), rounded up and at least 1; 10 when unreadable."""
    parts = _DURATION_PART.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration.strip():
        return 10
    seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    return max(1, math.ceil(seconds))


def _mysql_has_timeout(dsn: str) -> bool | None:
    """Whether a go-sql-driver/mysql DSN sets ``timeout``; None if it is not a DSN the
    driver would accept (it needs a "/" before the database name)."""
    slash = dsn.rfind("/")
    if slash < 0:
        return None
    _, _, query = dsn[slash:].partition("?")
    return any(pair.partition("=")[0] == "timeout" for pair in query.split("&"))


def _postgres_has_timeout(dsn: str) -> bool:
    if dsn.startswith(_URL_PREFIXES):
        query = dsn.partition("?")[2].partition("#")[0]
        return any(key == "connect_timeout" for key, _ in parse_qsl(query, keep_blank_values=True))
    return _PG_KEY_VALUE.search(dsn) is not None


def _kind(driver: str | None, dsn: str) -> str | None:
    """ "mysql", "postgres" or None (another database, or nothing to go on)."""
    if driver is not None:
        if driver in _MYSQL_DRIVERS:
            return "mysql"
        return "postgres" if driver in _POSTGRES_DRIVERS else None
    if dsn.startswith(_URL_PREFIXES):
        return "postgres"
    return "mysql" if _MYSQL_SHAPE.search(dsn) else None


class SqlDsnRule:
    """Flags literal DSNs without a connect timeout in sql.Open, pgx.Connect, pgxpool.New."""

    id = "UT005"
    name = "sql-dsn-no-timeout"
    summary = "database DSN without a connect timeout"
    description = (
        "Opening a database connection waits as long as the driver lets it. "
        "go-sql-driver/mysql has no dial timeout unless the DSN sets timeout=, and "
        "PostgreSQL drivers (lib/pq, pgx) wait without limit unless connect_timeout is "
        "set in the DSN or PGCONNECT_TIMEOUT in the environment. An unreachable database "
        "then stalls the first query, often for minutes."
    )

    def check(self, file: GoFile, timeouts: CheckTimeouts) -> Iterator[Finding]:
        """Yield a finding for each literal DSN without its driver's timeout parameter."""
        opened = ("database/sql", *(import_path for import_path, _, _ in _PGX_CALLS))
        if not any(file.names_for(import_path) for import_path in opened):
            return  # nothing here opens a database
        for call in file.calls():
            target = self._target(file, call)
            if target is None:
                continue
            driver, literal = target
            dsn = string_literal_value(file, literal)
            if dsn is None:
                continue
            kind = _kind(driver, dsn)
            if kind == "mysql":
                finding = self._mysql(file, call, literal, dsn, timeouts)
            elif kind == "postgres":
                finding = self._postgres(file, call, literal, dsn, timeouts)
            else:
                finding = None
            if finding is not None:
                yield finding

    def _target(self, file: GoFile, call: Node) -> tuple[str | None, Node] | None:
        """(driver name if known, DSN argument node) when ``call`` opens a database."""
        arguments = file.arguments(call)
        if file.package_call(call, "database/sql", "Open") and len(arguments) == 2:
            driver_node = arguments[0]
            if driver_node.type in ("interpreted_string_literal", "raw_string_literal"):
                return string_literal_value(file, driver_node), arguments[1]
            return None, arguments[1]
        for import_path, names, index in _PGX_CALLS:
            if file.package_call(call, import_path, *names) and len(arguments) > index:
                return "pgx", arguments[index]
        return None

    def _mysql(
        self, file: GoFile, call: Node, literal: Node, dsn: str, timeouts: CheckTimeouts
    ) -> Finding | None:
        has_timeout = _mysql_has_timeout(dsn)
        if has_timeout is True:
            return None
        if has_timeout is None and dsn:
            return None  # not a DSN the driver accepts; nothing sensible to append
        if not dsn:
            addition = f"/?timeout={timeouts.sql_dsn}"
        elif "?" not in dsn[dsn.rfind("/") :]:
            addition = f"?timeout={timeouts.sql_dsn}"
        else:
            separator = "" if dsn.endswith(("?", "&")) else "&"
            addition = f"{separator}timeout={timeouts.sql_dsn}"
        insert_at = literal.end_byte - 1  # before the closing quote
        fix = Fix(
            safe=True,
            edits=(Edit(insert_at, insert_at, addition),),
            description=f"append timeout={timeouts.sql_dsn} to the DSN",
        )
        message = (
            "MySQL DSN without timeout=: dialing an unreachable server waits for the OS "
            f"connect timeout; add timeout={timeouts.sql_dsn}"
        )
        return file.finding(self.id, literal, message, fix)

    def _postgres(
        self, file: GoFile, call: Node, literal: Node, dsn: str, timeouts: CheckTimeouts
    ) -> Finding | None:
        if _postgres_has_timeout(dsn):
            return None
        seconds = postgres_seconds(timeouts.sql_dsn)
        if dsn.startswith(_URL_PREFIXES):
            if "#" in dsn:
                addition = None  # a fragment would swallow an appended parameter
            elif "?" in dsn:
                separator = "" if dsn.endswith(("?", "&")) else "&"
                addition = f"{separator}connect_timeout={seconds}"
            else:
                addition = f"?connect_timeout={seconds}"
        else:
            separator = " " if dsn.strip() else ""
            addition = f"{separator}connect_timeout={seconds}"
        fix = None
        if addition is not None:
            insert_at = literal.end_byte - 1
            # Suggested only: PGCONNECT_TIMEOUT may already bound this connection at run
            # time, and a DSN value overrides it.
            fix = Fix(
                safe=False,
                edits=(Edit(insert_at, insert_at, addition),),
                description=f"add connect_timeout={seconds} to the DSN",
            )
        message = (
            "PostgreSQL DSN without connect_timeout: connecting to an unreachable server "
            f"waits without limit unless PGCONNECT_TIMEOUT is set; add connect_timeout={seconds}"
        )
        return file.finding(self.id, literal, message, fix)


RULE = SqlDsnRule()

__all__ = ["RULE", "SqlDsnRule", "postgres_seconds"]
