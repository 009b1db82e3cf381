"""What every rule test does with a finding: apply its fix the way the engine does
(edits, then missing imports; gofmt is the engine's last step) and check the result is Go."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from unstall.check.fix import add_imports, apply_edits
from unstall.check.model import Finding
from unstall.check.parse import parse_go, syntax_error


def fixed_all(source: str, findings: Iterable[Finding]) -> str:
    """``source`` with the fixes of ``findings`` applied and their imports added."""
    fixes = [f.fix for f in findings if f.fix is not None]
    data = apply_edits(source.encode(), [edit for fix in fixes for edit in fix.edits])
    return add_imports(data, [path for fix in fixes for path in fix.imports]).decode()


def fixed(source: str, finding: Finding) -> str:
    """``source`` with one finding's fix applied (it must have one)."""
    assert finding.fix is not None
    return fixed_all(source, [finding])


def imported(text: str) -> set[str]:
    """The import paths a Go source imports."""
    return set(parse_go(Path("main.go"), text.encode()).imports().values())


def assert_valid_go(text: str) -> None:
    """The text parses, and gofmt (installed with Go here) accepts it."""
    assert syntax_error(parse_go(Path("main.go"), text.encode()).tree) is None, text
    gofmt = shutil.which("gofmt")
    if gofmt is not None:
        result = subprocess.run(
            [gofmt, "-e"], input=text.encode(), capture_output=True, check=False, timeout=60
        )
        assert result.returncode == 0, result.stderr.decode() + text


__all__ = ["assert_valid_go", "fixed", "fixed_all", "imported"]
