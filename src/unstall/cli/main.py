"""The `unstall` command line.

Each command's module is imported only when that command runs: together they pull in
tree-sitter, asyncssh, uvicorn and the rest, several hundred milliseconds that
`unstall report` or `unstall doctor` should not pay. `--help` and unknown commands
build the whole app.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Annotated, Any, Final

import typer

from unstall.cli.common import VersionOption

# name -> (module, attribute, registration keywords); a typer.Typer attribute is a group.
_COMMANDS: Final[dict[str, tuple[str, str, dict[str, Any]]]] = {
    "go": (
        "unstall.cli.go_cmd",
        "go_command",
        {
            "options_metavar": "[OPTIONS] GO_ARGS...",
            "context_settings": {
                "allow_extra_args": True,
                "ignore_unknown_options": True,
                "allow_interspersed_args": False,
            },
        },
    ),
    "prefetch": ("unstall.cli.prefetch_cmd", "prefetch_command", {}),
    "serve": ("unstall.cli.serve_cmd", "serve_command", {}),
    "doctor": ("unstall.cli.doctor_cmd", "doctor_command", {}),
    "check": ("unstall.cli.check_cmd", "check_command", {}),
    "mirrors": ("unstall.cli.mirrors_cmd", "mirrors_app", {}),
    "fleet": ("unstall.cli.fleet_cmd", "fleet_app", {}),
    "report": ("unstall.cli.report_cmd", "report_app", {}),
}


def _root(version: Annotated[bool, VersionOption] = False) -> None:
    """Make Go dependency installs and Go driver calls stop stalling."""


def build_app(only: str | None = None) -> typer.Typer:
    """The app with every command, or with command ``only`` alone."""
    app = typer.Typer(
        name="unstall",
        help="Make Go dependency installs and Go driver calls stop stalling.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(_root)
    for name, (module, attribute, keywords) in _COMMANDS.items():
        if only is not None and name != only:
            continue
        target = getattr(importlib.import_module(module), attribute)
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=name)
        else:
            app.command(name, **keywords)(target)
    return app


def _command_of(argv: Sequence[str]) -> str | None:
    # The root takes only flags (--help, --version), so the first word is the command.
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return first if first in _COMMANDS else None


def main() -> None:
    """Console-script entry point."""
    build_app(_command_of(sys.argv[1:]))(prog_name="unstall")


__all__ = ["build_app", "main"]
