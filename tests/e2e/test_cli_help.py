"""The CLI as a newcomer first meets it: --help and --version on every command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from unstall import __version__

README = Path(__file__).resolve().parents[2] / "README.md"


def _command_paths() -> list[list[str]]:
    """Every command, and every subcommand of a command group (``mirrors rank``...)."""
    import typer.main

    from unstall.cli.main import build_app

    paths: list[list[str]] = []
    for name, command in sorted(typer.main.get_command(build_app()).commands.items()):  # type: ignore[attr-defined]
        paths.append([name])
        subcommands = getattr(command, "commands", {})  # a command group
        paths += [[name, sub] for sub in sorted(subcommands)]
    return paths


def _command_names() -> list[str]:
    return [path[0] for path in _command_paths() if len(path) == 1]


COMMANDS = [[], *_command_paths()]


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


def test_every_command_is_registered_and_has_a_readme_example() -> None:
    names = _command_names()
    assert {"go", "prefetch", "serve"} <= set(names)
    readme = README.read_text(encoding="utf-8")
    for name in names:
        assert f"\nunstall {name}" in readme, f"README has no example of `unstall {name}`"
        assert f"## `unstall {name}`" in readme
    for path in _command_paths():
        if len(path) == 2:
            assert f"\nunstall {' '.join(path)}" in readme, (
                f"no example of `unstall {' '.join(path)}`"
            )


def test_unknown_command_is_a_usage_error() -> None:
    result = _unstall("no-such-command")
    assert result.returncode == 2
    assert "No such command" in result.stderr


def test_a_command_imports_only_its_own_module() -> None:
    # Start-up is part of every command's time (unstall report's budget is 3 s): the
    # report must not pay for the SSH library, the Go parser or the ASGI server.
    probe = (
        "import sys\n"
        "from unstall.cli import main\n"
        "sys.argv = ['unstall', 'report', '--version']\n"
        "try:\n"
        "    main.main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('asyncssh', 'tree_sitter', 'uvicorn', 'unstall.cli.fleet_cmd')"
        " if m in sys.modules))\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().splitlines()[-1] == "[]"
