"""Applying fixes to one Go source: edits, missing imports, then gofmt.

A bad fix must never corrupt a file, so the result is checked twice before anyone writes
it: tree-sitter must parse it without errors, and gofmt (when installed) must accept and
format it. Either failing raises :class:`FixFailed` and the caller keeps the original.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from unstall.check.model import Edit, Finding, Fix
from unstall.check.parse import parse_go, syntax_error
from unstall.errors import UnstallError

Formatter = Callable[[bytes], bytes]
"""Formats Go source (gofmt); raises :class:`FixFailed` when the source does not format."""

_GOFMT_TIMEOUT = 60.0
_DUMMY_PATH = Path("<fixed>")


class FixFailed(UnstallError):
    """The fixed source did not parse or format: nothing was written."""

    exit_code = 2
    default_cause = "internal"


@dataclass(frozen=True, slots=True)
class FixOutcome:
    """The fixed source and which findings' fixes went into it."""

    source: bytes
    applied: tuple[Finding, ...]


def _conflicts(edit: Edit, taken: Sequence[Edit]) -> bool:
    # Two edits at one start offset have no defined order, so they conflict too.
    return any(
        (edit.start < other.end and other.start < edit.end) or edit.start == other.start
        for other in taken
    )


def wanted(finding: Finding, unsafe: bool) -> Fix | None:
    """The fix of ``finding`` to apply: safe ones always, unsafe ones only when asked."""
    fix = finding.fix
    if fix is None or not fix.edits or (not fix.safe and not unsafe):
        return None
    return fix


def apply_edits(source: bytes, edits: Sequence[Edit]) -> bytes:
    """``source`` with non-overlapping ``edits`` applied (from the end, so offsets hold)."""
    result = source
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        result = result[: edit.start] + edit.text.encode("utf-8") + result[edit.end :]
    return result


def add_imports(source: bytes, paths: Sequence[str]) -> bytes:
    """``source`` importing every path of ``paths`` (those already imported are skipped)."""
    file = parse_go(_DUMMY_PATH, source)
    # Only imports usable by name count: a "_" or "." import of "time" does not make
    # "time.Second" resolve, and importing a path a second time is legal Go.
    imported = set(file.imports().values())
    missing = sorted({p for p in paths if p not in imported})
    if not missing:
        return source
    specs = "".join(f'\n\t"{path}"' for path in missing)
    declarations = [n for n in file.root.children if n.type == "import_declaration"]
    for declaration in declarations:
        spec_list = next((c for c in declaration.children if c.type == "import_spec_list"), None)
        if spec_list is not None:
            # Right after "(": the first group, normally the standard library's; gofmt
            # sorts the group.
            at = spec_list.start_byte + 1
            return source[:at] + specs.encode() + source[at:]
    if declarations:
        first = declarations[0]
        spec = next(c for c in first.named_children if c.type == "import_spec")
        block = f"import (\n\t{file.text(spec)}{specs}\n)"
        return source[: first.start_byte] + block.encode() + source[first.end_byte :]
    package = next((c for c in file.root.children if c.type == "package_clause"), None)
    at = package.end_byte if package is not None else 0
    one = len(missing) == 1
    added = f'\n\nimport "{missing[0]}"\n' if one else f"\n\nimport ({specs}\n)\n"
    return source[:at] + added.encode() + source[at:]


def gofmt_formatter() -> Formatter | None:
    """A formatter running the ``gofmt`` found on PATH, or None when there is none."""
    binary = shutil.which("gofmt")
    if binary is None:
        return None

    def run(source: bytes) -> bytes:
        try:
            done = subprocess.run(
                [binary], input=source, capture_output=True, timeout=_GOFMT_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise FixFailed(f"gofmt could not run: {exc}") from exc
        if done.returncode != 0:
            message = done.stderr.decode("utf-8", "replace").strip().replace("<standard input>", "")
            raise FixFailed(f"the fixed source does not format with gofmt: {message}")
        return done.stdout

    return run


def apply_fixes(
    source: bytes,
    findings: Sequence[Finding],
    *,
    unsafe: bool = False,
    formatter: Formatter | None = None,
) -> FixOutcome:
    """Apply the fixes of ``findings`` (first come, first kept when edits overlap; a finding
    whose fix was dropped stays unfixed), add their imports and format the result.

    Returns the original bytes unchanged when no fix applies. Raises :class:`FixFailed`
    when the result is not valid Go.
    """
    taken: list[Edit] = []
    imports: list[str] = []
    applied: list[Finding] = []
    for finding in findings:
        fix = wanted(finding, unsafe)
        if fix is None or any(_conflicts(edit, taken) for edit in fix.edits):
            continue
        taken.extend(fix.edits)
        imports.extend(fix.imports)
        applied.append(finding)
    if not applied:
        return FixOutcome(source, ())
    result = add_imports(apply_edits(source, taken), imports)
    error = syntax_error(parse_go(_DUMMY_PATH, result).tree)
    if error is not None:
        line, column = error
        raise FixFailed(f"a fix produced invalid Go (syntax error at {line}:{column})")
    if formatter is not None:
        result = formatter(result)
    return FixOutcome(result, tuple(applied))


__all__ = [
    "FixFailed",
    "FixOutcome",
    "Formatter",
    "add_imports",
    "apply_edits",
    "apply_fixes",
    "gofmt_formatter",
    "wanted",
]
