"""`unstall check` output: text (like ruff), JSON, and GitHub Actions annotations.

SARIF lives in :mod:`unstall.check.sarif`. Paths are shown relative to a base directory
(the working directory) when they are under it, with forward slashes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from unstall.check.engine import CheckRun, FileError
from unstall.check.model import Finding


def display_path(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when below it (else absolute), with "/" separators."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path(os.path.abspath(base))).as_posix()
    except ValueError:
        return absolute.as_posix()


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary(run: CheckRun) -> str:
    """ "N findings (M fixable with --fix, K with --unsafe-fixes)", plus what was fixed and
    how many files had errors."""
    remaining = len(run.remaining)
    text = (
        f"{_plural(remaining, 'finding')} ({run.fixable(unsafe=False)} fixable with --fix, "
        f"{run.fixable(unsafe=True)} with --unsafe-fixes)"
    )
    if run.fixed:
        text += f"; {run.fixed} fixed"
    if run.errors:
        text += f"; {_plural(len(run.errors), 'error')}"
    return text


def _error_line(error: FileError, base: Path) -> str:
    return f"{display_path(error.path, base)}:{error.line}:{error.column}: {error.message}"


def render_text(run: CheckRun, base: Path) -> str:
    """``path:line:col: UT001 message`` per remaining finding and error, then the summary."""
    lines: list[str] = []
    for result in run.files:
        entries: list[tuple[int, int, str]] = [
            (e.line, e.column, _error_line(e, base)) for e in result.errors
        ]
        entries += [
            (
                f.line,
                f.column,
                f"{display_path(f.path, base)}:{f.line}:{f.column}: {f.rule} {f.message}",
            )
            for f in result.remaining
        ]
        lines += [text for _, _, text in sorted(entries)]
    lines.append(summary(run))
    return "\n".join(lines) + "\n"


def finding_json(finding: Finding, base: Path) -> dict[str, Any]:
    """One finding as the documented JSON object."""
    fix = finding.fix
    return {
        "rule": finding.rule,
        "path": display_path(finding.path, base),
        "line": finding.line,
        "column": finding.column,
        "end_line": finding.end_line,
        "end_column": finding.end_column,
        "message": finding.message,
        "fix": None if fix is None else {"safe": fix.safe, "applied": finding.applied},
    }


def render_json(run: CheckRun, base: Path) -> str:
    """Every finding (fixed ones with ``"applied": true``) as a JSON list."""
    return json.dumps([finding_json(f, base) for f in run.findings], indent=2) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(title: str, path: str, line: int, column: int, end: tuple[int, int] | None) -> str:
    properties = [f"file={_escape_property(path)}", f"line={line}", f"col={column}"]
    if end is not None:
        properties += [f"endLine={end[0]}", f"endColumn={end[1]}"]
    properties.append(f"title={_escape_property(title)}")
    return "::error " + ",".join(properties) + "::"


def render_github(run: CheckRun, base: Path) -> str:
    """GitHub Actions ``::error`` workflow commands, one per remaining finding and error."""
    lines: list[str] = []
    for result in run.files:
        for error in result.errors:
            head = _command(
                f"unstall {error.kind}",
                display_path(error.path, base),
                error.line,
                error.column,
                None,
            )
            lines.append(head + _escape_data(error.message))
        for f in result.remaining:
            path = display_path(f.path, base)
            head = _command(f.rule, path, f.line, f.column, (f.end_line, f.end_column))
            lines.append(head + _escape_data(f.message))
    return "".join(line + "\n" for line in lines)


__all__ = [
    "display_path",
    "finding_json",
    "render_github",
    "render_json",
    "render_text",
    "summary",
]
