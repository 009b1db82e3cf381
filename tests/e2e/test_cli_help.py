"""The CLI as a newcomer first meets it: --help and --version on every command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from unstall import __version__

COMMANDS = [[], ["go"], ["prefetch"]]


def _unstall(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "unstall", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_help_and_version_on_every_command(command: list[str]) -> None:
    shown = _unstall(*command, "--help")
    assert shown.returncode == 0, shown.stderr
    assert "Usage: unstall" in shown.stdout
    version = _unstall(*command, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"unstall {__version__}"


def test_unknown_command_is_a_usage_error() -> None:
    result = _unstall("no-such-command")
    assert result.returncode == 2
    assert "No such command" in result.stderr
