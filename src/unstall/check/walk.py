"""Which Go files `unstall check` reads: directories walked recursively, .gitignore honoured.

A directory argument is walked with the ignore rules git would apply: every ``.gitignore``
from the repository root (the nearest ancestor holding ``.git``) down to each directory,
deeper files overriding shallower ones, the last matching pattern winning (``!`` re-includes).
``vendor/``, ``testdata/`` and hidden directories are skipped, as the go tool skips them.
A file named explicitly is always checked: the user asked for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pathspec

from unstall.errors import UsageError

SKIPPED_DIRECTORIES = frozenset({"vendor", "testdata"})


@dataclass(frozen=True, slots=True)
class _IgnoreFile:
    """The patterns of one .gitignore and the directory they are relative to."""

    base: Path
    spec: pathspec.GitIgnoreSpec


def _read_ignore(directory: Path) -> _IgnoreFile | None:
    path = directory / ".gitignore"
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:  # absent or unreadable: nothing ignored by it
        return None
    return _IgnoreFile(directory, pathspec.GitIgnoreSpec.from_lines(lines))


def _ignored(path: Path, is_dir: bool, ignores: Sequence[_IgnoreFile]) -> bool:
    verdict = False
    for ignore in ignores:
        relative = path.relative_to(ignore.base).as_posix() + ("/" if is_dir else "")
        result = ignore.spec.check_file(relative).include
        if result is not None:
            verdict = result
    return verdict


def _ancestor_ignores(directory: Path) -> list[_IgnoreFile]:
    """The .gitignore files of ``directory``'s ancestors within its repository."""
    if (directory / ".git").exists():
        return []  # the repository root: its own .gitignore is read by the walk
    chain: list[Path] = []
    for parent in directory.parents:
        chain.append(parent)
        if (parent / ".git").exists():
            break
    else:
        return []  # not in a repository: only the walked tree's own files apply
    found = [_read_ignore(parent) for parent in reversed(chain)]
    return [ignore for ignore in found if ignore is not None]


def _is_go_file(name: str, include_tests: bool) -> bool:
    return name.endswith(".go") and (include_tests or not name.endswith("_test.go"))


def _walk(top: Path, include_tests: bool) -> Iterable[Path]:
    inherited = _ancestor_ignores(top)
    if inherited and _ignored(top, True, inherited):
        return
    ignores_of: dict[Path, list[_IgnoreFile]] = {}
    for current, directories, files in os.walk(top):
        here = Path(current)
        ignores = list(ignores_of.get(here.parent, inherited)) if here != top else inherited
        own = _read_ignore(here)
        if own is not None:
            ignores = [*ignores, own]
        ignores_of[here] = ignores
        # Pruning in place keeps os.walk out of skipped trees entirely.
        directories[:] = sorted(
            name
            for name in directories
            if not name.startswith(".")
            and name not in SKIPPED_DIRECTORIES
            and not _ignored(here / name, True, ignores)
        )
        for name in sorted(files):
            if _is_go_file(name, include_tests) and not _ignored(here / name, False, ignores):
                yield here / name


def go_files(paths: Sequence[Path], *, include_tests: bool = False) -> list[Path]:
    """The Go files to check under ``paths``, each once, in a stable order.

    Raises :class:`UsageError` naming the first path that does not exist.
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for given in paths:
        if not given.exists():
            raise UsageError(
                f"{given}: no such file or directory",
                fix="Pass existing Go files or directories to `unstall check`.",
            )
        # Sorted by path components, so output reads like `ls -R` and is stable.
        candidates = (
            [given]
            if given.is_file()
            else sorted(_walk(given.absolute(), include_tests), key=lambda p: p.parts)
        )
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                found.append(candidate if candidate is given else _relative_to(candidate, given))
    return found


def _relative_to(path: Path, given: Path) -> Path:
    """Keep the user's spelling: a walk of ``./pkg`` yields ``pkg/...``, not absolute paths."""
    if given.is_absolute():
        return path
    try:
        return given / path.relative_to(given.absolute())
    except ValueError:
        return path


__all__ = ["SKIPPED_DIRECTORIES", "go_files"]
