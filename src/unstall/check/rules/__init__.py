"""The rules of `unstall check`, one module each (``utNNN_<topic>.py`` exposing ``RULE``)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from functools import cache
from typing import Protocol

from unstall.check.model import Finding
from unstall.check.parse import GoFile
from unstall.config import CheckTimeouts

RULE_MODULES = (
    "ut001_http_client",
    "ut002_http_server",
    "ut003_http_serve",
    "ut004_net_dial",
    "ut005_sql_dsn",
    "ut006_sql_context",
    "ut007_redis",
    "ut008_grpc_dial",
    "ut009_grpc_call",
)


class Rule(Protocol):
    """A rule: a stable id, a kebab-case name, a one-line summary, a paragraph of
    description (why it matters; SARIF's fullDescription), and the check.

    ``check`` yields findings for one parsed file, each with its fix when one exists
    (suppression comments are handled by the engine, not by rules).
    """

    id: str
    name: str
    summary: str
    description: str

    def check(self, file: GoFile, timeouts: CheckTimeouts) -> Iterable[Finding]: ...


@cache
def all_rules() -> tuple[Rule, ...]:
    """Every rule, in id order."""
    rules: list[Rule] = []
    for name in RULE_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        rules.append(module.RULE)
    return tuple(sorted(rules, key=lambda rule: rule.id))


__all__ = ["RULE_MODULES", "Rule", "all_rules"]
