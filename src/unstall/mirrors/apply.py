"""Switching Go, pip and npm to ranked sources, and undoing it exactly.

:func:`plan` turns ranked URLs into the commands each tool's CLI needs (a dry run prints
them); :func:`apply` journals every config file's exact bytes, runs the commands and
journals the bytes they left; :func:`undo` pops the newest apply: it writes the old
bytes back when nobody touched the file since, and otherwise sets only the value back
through the tool, keeping the user's other edits. Nothing here prints: every text it
returns is redacted, ready for the CLI.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from unstall.errors import ToolchainError, UnstallError, UsageError
from unstall.mirrors.journal import (
    Journal,
    JournalChange,
    JournalEntry,
    Status,
    atomic_write,
    read_config_bytes,
)
from unstall.mirrors.model import Ecosystem
from unstall.mirrors.tools import Tools
from unstall.redact import redact

_URL = re.compile(r"https?://[^\s,|]+")


@dataclass(frozen=True, slots=True)
class Change:
    """One planned write: the tool command, and the value it replaces in ``config_file``."""

    ecosystem: Ecosystem
    key: str
    command: tuple[str, ...]
    previous: str | None
    new: str
    config_file: Path

    @property
    def shell(self) -> str:
        """The command as a shell line, credentials redacted."""
        return redact(shlex.join(self.command))

    def describe(self) -> str:
        """``go GOPROXY: (unset) -> ...`` (redacted)."""
        return redact(f"{self.ecosystem} {self.key}: {self.previous or '(unset)'} -> {self.new}")


@dataclass(frozen=True, slots=True)
class Skipped:
    """An ecosystem left alone, and why (tool missing, already set...)."""

    ecosystem: Ecosystem
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    """What apply would do; ``notes`` warn about settings that shadow the config files."""

    changes: tuple[Change, ...]
    skipped: tuple[Skipped, ...] = ()
    notes: tuple[str, ...] = ()

    def commands(self) -> list[str]:
        """The exact commands apply runs, one shell line each (what --dry-run shows)."""
        return [change.shell for change in self.changes]


def go_proxy_value(urls: Sequence[str], current: str) -> str:
    """GOPROXY for ``urls``: ``|`` between mirrors (any error falls through to the next),
    then ``,direct`` or ``,off`` when the current GOPROXY ends with it."""
    last = re.split(r"[,|]", current.strip())[-1].strip()
    tail = f",{last}" if last in ("direct", "off") else ""
    return "|".join(urls) + tail


def _validated(ecosystem: Ecosystem, urls: Sequence[str], top: int) -> list[str]:
    chosen: list[str] = []
    for url in (u.strip() for u in urls):
        if not _URL.fullmatch(url):
            raise UsageError(
                redact(f"{ecosystem} source {url!r} is not an http(s) URL"),
                fix="Give sources as http:// or https:// URLs without spaces, ',' or '|'.",
            )
        if url not in chosen:
            chosen.append(url)
    if not chosen:
        raise UsageError(f"no source given for {ecosystem}")
    # pip and npm take one index: extra indexes would invite dependency confusion.
    return chosen[:top] if ecosystem is Ecosystem.GO else chosen[:1]


def plan(choices: Mapping[Ecosystem, Sequence[str]], *, top: int, tools: Tools) -> Plan:
    """The changes that switch each ecosystem to its ranked ``choices`` (best first;
    Go keeps the ``top`` best). Runs only read-only tool commands."""
    if top < 1:
        raise UsageError(f"--top must be at least 1, not {top}")
    changes: list[Change] = []
    skipped: list[Skipped] = []
    notes: list[str] = []
    for ecosystem in Ecosystem:
        if ecosystem not in choices:
            continue
        urls = _validated(ecosystem, choices[ecosystem], top)
        tool = tools[ecosystem]
        try:
            where = tool.locate()
        except ToolchainError as exc:
            skipped.append(Skipped(ecosystem, redact(exc.message)))
            continue
        previous = tool.value_in(read_config_bytes(where.config_file), where.config_file)
        effective = where.effective or ""
        new = go_proxy_value(urls, effective) if ecosystem is Ecosystem.GO else urls[0]
        if new == previous:
            skipped.append(Skipped(ecosystem, redact(f"{tool.key} is already {new}")))
            continue
        shadow = tool.overridden_by()
        if shadow:
            notes.append(
                redact(
                    f"{shadow} {where.config_file}: the new {ecosystem} source "
                    "takes effect only once that changes"
                )
            )
        command = tuple(tool.set_command(new))
        changes.append(Change(ecosystem, tool.key, command, previous, new, where.config_file))
    return Plan(tuple(changes), tuple(skipped), tuple(notes))


def apply(changes: Sequence[Change], *, journal: Journal, tools: Tools) -> JournalEntry:
    """Journal each config file as it is, run the commands, journal what they left.

    A failing command does not stop the others; its change is journaled as failed
    (with the bytes it left, so undo still works). If every command failed and no
    file changed, the entry is dropped and a ToolchainError says why.
    """
    if not changes:
        raise UsageError("nothing to apply", fix="Every ecosystem was skipped: see why above.")
    with journal.locked():
        records = []
        for change in changes:
            before = read_config_bytes(change.config_file)
            previous = tools[change.ecosystem].value_in(before, change.config_file)
            records.append(
                JournalChange(
                    change.ecosystem,
                    change.key,
                    change.command,
                    previous,
                    change.new,
                    change.config_file,
                    before,
                )
            )
        # Journaled before any write: a crash half-way still leaves the old bytes on record.
        entry = journal.begin(records)
        for index, record in enumerate(records):
            status, error = Status.APPLIED, None
            try:
                tools[record.ecosystem].run(record.command)
            except ToolchainError as exc:
                status, error = Status.FAILED, redact(exc.message)
            after = _read_now(record.config_file)
            records[index] = replace(record, after=after, status=status, error=error)
            entry = replace(entry, changes=tuple(records))
            journal.update(entry)
        if all(r.status is Status.FAILED and r.after == r.before for r in records):
            journal.discard(entry)
            raise ToolchainError(
                "nothing was changed: " + "; ".join(str(r.error) for r in records),
                cause="tool-failed",
                fix="Fix what the tool reports, then apply again.",
            )
        return entry


class UndoMethod(StrEnum):
    """How undo restored one change."""

    RESTORED_FILE = "restored-file"  # the exact previous bytes written back
    REMOVED_FILE = "removed-file"  # the file did not exist before the apply
    RESTORED_VALUE = "restored-value"  # file edited since: only the value, via the tool
    UNCHANGED = "unchanged"  # nothing left to restore


@dataclass(frozen=True, slots=True)
class UndoAction:
    """What undo did for one change; ``message`` is redacted."""

    ecosystem: Ecosystem
    config_file: Path
    method: UndoMethod
    message: str


@dataclass(frozen=True, slots=True)
class UndoReport:
    """The entry undo popped and what it did per change."""

    entry: JournalEntry
    actions: tuple[UndoAction, ...]

    def lines(self) -> list[str]:
        """One redacted line per change."""
        return [f"{a.ecosystem}: {a.message}" for a in self.actions]


def undo(*, journal: Journal, tools: Tools) -> UndoReport:
    """Restore the newest apply not undone yet, and mark it undone."""
    with journal.locked():
        entry = journal.last_active()
        if entry is None:
            raise UsageError(
                f"nothing to undo: the mirrors journal {journal.path} has no applied change",
                fix="`unstall mirrors history` lists what was applied and undone.",
            )
        actions: list[UndoAction] = []
        failures: list[str] = []
        for change in reversed(entry.changes):
            try:
                actions.append(_undo_change(change, tools))
            except UnstallError as exc:
                failures.append(f"{change.ecosystem}: {redact(exc.message)}")
            except OSError as exc:
                failures.append(redact(f"{change.ecosystem}: {change.config_file}: {exc}"))
        if failures:
            done = "; ".join(f"{a.ecosystem}: {a.message}" for a in actions)
            raise ToolchainError(
                f"undo of #{entry.id} failed for "
                + "; ".join(failures)
                + (f" (done: {done})" if done else ""),
                cause="tool-failed",
                fix="Fix what the tool reports, then run undo again (it is safe to repeat).",
            )
        return UndoReport(journal.mark_undone(entry), tuple(reversed(actions)))


def _undo_change(change: JournalChange, tools: Tools) -> UndoAction:
    path = change.config_file
    current = _read_now(path)
    untouched = change.status is not Status.PENDING and current == change.after
    if untouched or (change.status is Status.PENDING and current == change.before):
        if current == change.before:
            return _action(change, UndoMethod.UNCHANGED, f"{path} was not changed by the apply")
        if change.before is None:
            path.unlink()
            return _action(change, UndoMethod.REMOVED_FILE, f"removed {path} (it did not exist)")
        _write_back(path, change.before)
        return _action(change, UndoMethod.RESTORED_FILE, f"restored {path} byte for byte")
    # Someone edited the file since: put back only our value, through the tool, so the
    # other edits stay.
    tool = tools[change.ecosystem]
    now = tool.value_in(current, path)
    if now == change.previous:
        return _action(
            change,
            UndoMethod.UNCHANGED,
            f"{path} changed since the apply, but {change.key} is already "
            f"{change.previous or '(unset)'}",
        )
    argv = tool.unset_command() if change.previous is None else tool.set_command(change.previous)
    tool.run(argv)
    message = (
        f"{path} changed since the apply: set only {change.key} back to "
        f"{change.previous or '(unset)'} with `{shlex.join(argv)}`; other edits kept"
    )
    if now != change.new:
        message += f" (it was {now or '(unset)'}, not the applied {change.new})"
    return _action(change, UndoMethod.RESTORED_VALUE, message)


def _action(change: JournalChange, method: UndoMethod, message: str) -> UndoAction:
    return UndoAction(change.ecosystem, change.config_file, method, redact(message))


def _read_now(path: Path) -> bytes | None:
    # What is there, whatever its size: a file grown past the journal limit simply
    # compares unequal to what apply left.
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write_back(path: Path, data: bytes) -> None:
    # Through a symlink (dotfiles managers) to its target, keeping the file's mode.
    target = Path(os.path.realpath(path))
    atomic_write(target, data, mode=target.stat().st_mode & 0o7777)


def history(journal: Journal) -> list[JournalEntry]:
    """Every apply, newest first (``describe()`` gives redacted lines)."""
    return list(reversed(journal.entries()))


__all__ = [
    "Change",
    "Plan",
    "Skipped",
    "UndoAction",
    "UndoMethod",
    "UndoReport",
    "apply",
    "go_proxy_value",
    "history",
    "plan",
    "undo",
]
