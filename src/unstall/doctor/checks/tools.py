"""The programs installs run: go, git (direct mode, private modules) and ssh."""

from __future__ import annotations

from dataclasses import dataclass

from unstall.doctor.checks.context import COMMAND_TIMEOUT, CheckContext
from unstall.doctor.model import Check, CheckStatus
from unstall.redact import redact


@dataclass(frozen=True, slots=True)
class _Tool:
    id: str
    argv: tuple[str, ...]
    missing: CheckStatus
    why: str
    install: str


_TOOLS = (
    _Tool(
        "tool-go",
        ("go", "version"),
        CheckStatus.FAIL,
        "nothing can be installed without it",
        "install Go from https://go.dev/doc/install and put its bin directory "
        "(e.g. /usr/local/go/bin) on PATH",
    ),
    _Tool(
        "tool-git",
        ("git", "--version"),
        CheckStatus.WARN,
        "go runs git for modules fetched directly (GOPROXY=direct, GOPRIVATE)",
        "install git: `apt-get install git` (Debian/Ubuntu), `dnf install git` "
        "(Fedora/RHEL), `apk add git` (Alpine)",
    ),
    _Tool(
        "tool-ssh",
        ("ssh", "-V"),
        CheckStatus.WARN,
        "git needs it for ssh:// and git@host: URLs (private repositories, insteadOf rewrites)",
        "install the OpenSSH client: `apt-get install openssh-client` (Debian/Ubuntu), "
        "`dnf install openssh-clients` (Fedora/RHEL), `apk add openssh-client` (Alpine)",
    ),
)


def check_tools(context: CheckContext) -> list[Check]:
    """One ``tool-*`` finding per program: its version, or how to install it."""
    return [_check_tool(context, tool) for tool in _TOOLS]


def _check_tool(context: CheckContext, tool: _Tool) -> Check:
    command = " ".join(tool.argv)
    result = context.run(tool.argv, timeout=COMMAND_TIMEOUT)
    if result is None:
        return Check(
            tool.id,
            tool.missing,
            f"{tool.argv[0]} is not installed (not on PATH): {tool.why}",
            fix=tool.install,
        )
    if not result.ok:
        # A go that cannot report its version cannot install anything either.
        status = CheckStatus.FAIL if tool.missing is CheckStatus.FAIL else CheckStatus.WARN
        return Check(
            tool.id,
            status,
            redact(f"`{command}` failed (exit {result.returncode}): {result.first_line()}"),
            fix=f"run `{command}` yourself and fix what it prints, or reinstall: " + tool.install,
        )
    return Check(tool.id, CheckStatus.INFO, redact(result.first_line() or f"{command}: ok"))


__all__ = ["check_tools"]
