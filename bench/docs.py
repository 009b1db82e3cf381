"""docs/benchmarks.md is shared by every benchmark: each one rewrites only its own section."""

from __future__ import annotations

from pathlib import Path
from typing import Final

DOCS: Final = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
PREAMBLE: Final = (
    "# Benchmarks\n\n"
    "Numbers below are produced by the scripts in `bench/`; rerun the command shown to "
    "refresh them.\n"
)


def replace_section(document: str, title: str, section: str) -> str:
    """``document`` with the level-2 section headed ``title`` replaced by ``section`` (or
    appended). The section runs from its heading to the next level-2 heading or the end;
    every other section is left byte for byte as it was."""
    lines = document.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == title), None)
    if start is None:
        return document.rstrip("\n") + "\n\n" + section
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    return "".join(lines[:start]) + section + ("\n" + tail if tail else "")


def write_section(title: str, section: str, docs: Path = DOCS) -> None:
    """Put ``section`` (starting with ``title``) into ``docs``, creating it if needed."""
    document = docs.read_text(encoding="utf-8") if docs.exists() else PREAMBLE
    docs.write_text(replace_section(document, title, section), encoding="utf-8")


__all__ = ["DOCS", "PREAMBLE", "replace_section", "write_section"]
