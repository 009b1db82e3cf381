"""The environment checks of ``unstall doctor``: one finding per fact, each with a fix.

:func:`run_checks` runs every group in a fixed order (system, tools, go env, go.mod,
proxy variables, proxy TLS, git, package indexes, trust, DNS) over a
:class:`CheckContext`; :func:`default_context` builds the context of this machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Final

from unstall.doctor.checks.context import (
    CheckContext,
    CommandResult,
    CommandRunner,
    SubprocessRunner,
)
from unstall.doctor.checks.gitconf import check_git_config
from unstall.doctor.checks.goenv import check_go_env
from unstall.doctor.checks.gomod import check_go_mod
from unstall.doctor.checks.indexes import check_indexes
from unstall.doctor.checks.proxyenv import check_proxy_env
from unstall.doctor.checks.proxytls import check_proxy_tls
from unstall.doctor.checks.resolver import check_resolver
from unstall.doctor.checks.system import check_system
from unstall.doctor.checks.tools import check_tools
from unstall.doctor.checks.trust import check_trust
from unstall.doctor.model import Check, CheckStatus
from unstall.errors import ToolchainError
from unstall.gotool.env import find_go, read_go_env
from unstall.redact import redact

CheckGroup = Callable[[CheckContext], list[Check]]

GROUPS: Final[tuple[tuple[str, CheckGroup], ...]] = (
    ("system", check_system),
    ("tools", check_tools),
    ("goenv", check_go_env),
    ("gomod", check_go_mod),
    ("proxy", check_proxy_env),
    ("proxy-tls", check_proxy_tls),
    ("git", check_git_config),
    ("indexes", check_indexes),
    ("trust", check_trust),
    ("dns", check_resolver),
)


def run_checks(context: CheckContext) -> list[Check]:
    """Every environment finding, grouped, in a stable order.

    A group that breaks on something unexpected becomes one ``<group>-error`` finding
    instead of ending the diagnosis; every message and fix is redacted once more so
    no credential slips through a path that forgot to.
    """
    found: list[Check] = []
    for name, group in GROUPS:
        try:
            found += group(context)
        except Exception as exc:  # one broken group must not hide the rest
            found.append(
                Check(
                    f"{name}-error",
                    CheckStatus.WARN,
                    f"the {name} checks stopped early: {type(exc).__name__}: {exc}",
                    fix="re-run with UNSTALL_DEBUG=1 and report the traceback",
                )
            )
    return [
        Check(check.id, check.status, redact(check.message), redact(check.fix)) for check in found
    ]


def default_context(cwd: Path) -> CheckContext:
    """The context of this machine: its environment, real commands and ``go env``."""
    environ = dict(os.environ)
    try:
        go_env: dict[str, str] | None = read_go_env(find_go(environ), cwd=cwd, env=environ)
    except ToolchainError:
        go_env = None  # the tools and go env checks say why
    return CheckContext(
        environ=environ,
        run=SubprocessRunner(environ, cwd),
        go_env=go_env,
        cwd=cwd,
    )


__all__ = [
    "GROUPS",
    "CheckContext",
    "CommandResult",
    "CommandRunner",
    "SubprocessRunner",
    "default_context",
    "run_checks",
]
