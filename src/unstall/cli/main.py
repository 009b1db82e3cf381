"""The `unstall` command line."""

from __future__ import annotations

from typing import Annotated

import typer

from unstall.cli.check_cmd import check_command
from unstall.cli.common import VersionOption
from unstall.cli.doctor_cmd import doctor_command
from unstall.cli.fleet_cmd import fleet_app
from unstall.cli.go_cmd import go_command
from unstall.cli.mirrors_cmd import mirrors_app
from unstall.cli.prefetch_cmd import prefetch_command
from unstall.cli.report_cmd import report_app
from unstall.cli.serve_cmd import serve_command

app = typer.Typer(
    name="unstall",
    help="Make Go dependency installs and Go driver calls stop stalling.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(version: Annotated[bool, VersionOption] = False) -> None:
    """Make Go dependency installs and Go driver calls stop stalling."""


app.command(
    "go",
    options_metavar="[OPTIONS] GO_ARGS...",
    context_settings={
        "allow_extra_args": True,
        "ignore_unknown_options": True,
        "allow_interspersed_args": False,
    },
)(go_command)
app.command("prefetch")(prefetch_command)
app.command("serve")(serve_command)
app.command("doctor")(doctor_command)
app.command("check")(check_command)
app.add_typer(mirrors_app, name="mirrors")
app.add_typer(fleet_app, name="fleet")
app.add_typer(report_app, name="report")


def main() -> None:
    """Console-script entry point."""
    app(prog_name="unstall")


__all__ = ["app", "main"]
