"""`unstall check`: find Go driver calls without timeouts, and fix them."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated

import typer

from unstall.check.engine import CheckOptions, CheckRun, check_paths, select_rules, unified_diff
from unstall.check.fix import gofmt_formatter
from unstall.check.report import display_path, render_github, render_json, render_text, summary
from unstall.check.rules import all_rules
from unstall.check.sarif import render_sarif
from unstall.cli.common import VersionOption, handle_errors, settings_from


class OutputFormat(enum.StrEnum):
    """How findings are printed."""

    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    GITHUB = "github"


def repository_root(start: Path) -> Path:
    """The nearest directory at or above ``start`` holding ``.git`` (SARIF URIs are
    relative to it), else ``start``."""
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return start


def exit_code(run: CheckRun) -> int:
    """2 when a file could not be read, checked by a rule or fixed safely; 1 when findings
    (or syntax errors) remain; 0 otherwise."""
    if any(error.kind != "syntax" for error in run.errors):
        return 2
    return 1 if run.remaining or run.errors else 0


def _render(run: CheckRun, output: OutputFormat, cwd: Path) -> str:
    if output is OutputFormat.JSON:
        return render_json(run, cwd)
    if output is OutputFormat.SARIF:
        return render_sarif(run, repository_root(cwd))
    if output is OutputFormat.GITHUB:
        return render_github(run, cwd)
    return render_text(run, cwd)


@handle_errors
def check_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="PATH",
            help="Go files or directories (walked recursively, .gitignore honoured). "
            "Default: the current directory.",
            show_default=False,
        ),
    ] = None,
    fix: Annotated[bool, typer.Option("--fix", help="Apply safe fixes to the files.")] = False,
    unsafe_fixes: Annotated[
        bool,
        typer.Option(
            "--unsafe-fixes",
            help="Also apply suggested fixes that may change behaviour (with --fix or --diff).",
        ),
    ] = False,
    diff: Annotated[
        bool,
        typer.Option("--diff", help="Print a unified diff of the fixes; write nothing."),
    ] = False,
    select: Annotated[
        list[str] | None,
        typer.Option(
            "--select", metavar="IDS", help="Only these rules (ids or names, comma-separated)."
        ),
    ] = None,
    ignore: Annotated[
        list[str] | None,
        typer.Option("--ignore", metavar="IDS", help="Skip these rules (comma-separated)."),
    ] = None,
    output: Annotated[
        OutputFormat,
        typer.Option("--format", help="Output format.", case_sensitive=False),
    ] = OutputFormat.TEXT,
    include_tests: Annotated[
        bool, typer.Option("--include-tests", help="Also check _test.go files.")
    ] = False,
    version: Annotated[bool, VersionOption] = False,
) -> None:
    """Find Go driver calls without timeouts (HTTP, net, SQL, Redis, gRPC) and fix them.

    Suppress a finding with //nolint:UT001 or //unstall:ignore UT001 reason on its line or
    the line above. Exit status: 0 when no findings remain (after fixes), 1 when findings
    remain, 2 on errors (usage, unreadable path, a file that could not be fixed safely).
    """
    cwd = Path.cwd()
    rules = select_rules(all_rules(), select or (), ignore or ())
    options = CheckOptions(
        fix=fix, unsafe_fixes=unsafe_fixes, diff=diff, include_tests=include_tests
    )
    timeouts = settings_from({}).check.timeouts
    formatter = gofmt_formatter() if options.fixing else None
    run = check_paths(paths or [Path(".")], rules, timeouts, options, formatter)
    if diff:
        # stdout is the patch alone (CI redirects it to a file); the rest goes to stderr.
        patch = "".join(unified_diff(r, display_path(r.path, cwd)) for r in run.files)
        sys.stdout.write(patch)
        for error in run.errors:
            where = f"{display_path(error.path, cwd)}:{error.line}:{error.column}"
            sys.stderr.write(f"{where}: {error.message}\n")
        sys.stderr.write(summary(run) + "\n")
    else:
        sys.stdout.write(_render(run, output, cwd))
        if output is not OutputFormat.TEXT:
            for error in run.errors:
                where = f"{display_path(error.path, cwd)}:{error.line}:{error.column}"
                sys.stderr.write(f"{where}: {error.message}\n")
    sys.stdout.flush()
    raise typer.Exit(exit_code(run))


__all__ = ["OutputFormat", "check_command", "exit_code", "repository_root"]
