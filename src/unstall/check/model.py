"""What `unstall check` reports: findings, and the edits that fix them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace source bytes ``start:end`` with ``text`` (UTF-8)."""

    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Fix:
    """Edits that remove a finding. ``safe`` fixes are applied by ``--fix``; unsafe ones
    (behaviour may change) only with ``--unsafe-fixes``. ``imports`` are import paths the
    edited file must import ("time", "context"), added when missing."""

    safe: bool
    edits: tuple[Edit, ...]
    imports: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule violation. Lines and columns are 1-based (columns count characters)."""

    rule: str
    path: Path
    line: int
    column: int
    end_line: int
    end_column: int
    message: str
    fix: Fix | None = None
    applied: bool = field(default=False, compare=False)


__all__ = ["Edit", "Finding", "Fix"]
