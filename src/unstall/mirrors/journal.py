"""The journal of `unstall mirrors apply`: what each apply changed, so undo restores it exactly.

One JSON file in the state directory holds a stack of entries, oldest first. An entry
records, per tool, the value before and after, the config file the tool wrote and that
file's exact bytes before and after. Entries are never deleted: undo marks the newest
active one as undone, so ``history`` shows everything that happened.

The journal necessarily holds secrets (a registry URL with credentials, an auth token
in ``.npmrc``): it is written with mode 0600 and nothing from it is shown unredacted.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from unstall.errors import ConfigError, UsageError
from unstall.mirrors.model import Ecosystem
from unstall.redact import redact

JOURNAL_NAME = "mirrors-journal.json"
MAX_CONFIG_BYTES = 1024 * 1024
_VERSION = 1


class Status(StrEnum):
    """How far the write of one change got."""

    PENDING = "pending"  # journaled, command not (known to be) finished: a crash left it
    APPLIED = "applied"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class JournalChange:
    """One tool's part of an apply. ``before``/``after`` are the config file's bytes
    (None: the file did not exist); ``after`` is meaningful unless ``status`` is pending."""

    ecosystem: Ecosystem
    key: str
    command: tuple[str, ...]
    previous: str | None
    new: str
    config_file: Path
    before: bytes | None
    after: bytes | None = None
    status: Status = Status.PENDING
    error: str | None = None

    @property
    def existed_before(self) -> bool:
        """Whether the config file existed before the apply."""
        return self.before is not None

    def describe(self) -> str:
        """``go GOPROXY: (unset) -> http://***@.../``, redacted."""
        text = f"{self.ecosystem} {self.key}: {self.previous or '(unset)'} -> {self.new}"
        if self.status is not Status.APPLIED:
            text += f" [{self.status}{': ' + self.error if self.error else ''}]"
        return redact(text)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One apply: when, what, and whether (and when) it was undone."""

    id: int
    time: datetime
    changes: tuple[JournalChange, ...]
    undone_at: datetime | None = None

    @property
    def undone(self) -> bool:
        """True once `unstall mirrors undo` restored this entry."""
        return self.undone_at is not None

    def describe(self) -> list[str]:
        """One redacted line per change: time, entry number, ecosystem, previous -> new."""
        when = self.time.strftime("%Y-%m-%d %H:%M:%SZ")
        state = f"  (undone {self.undone_at:%Y-%m-%d %H:%M:%SZ})" if self.undone_at else ""
        return [f"{when}  #{self.id}  {change.describe()}{state}" for change in self.changes]

    def summary(self) -> dict[str, Any]:
        """The entry for ``--json``: values redacted, no commands or file contents."""
        data = _entry_to(self)
        for change in data["changes"]:
            for name in ("command", "before", "after"):
                del change[name]
            for name in ("previous", "new"):
                change[name] = None if change[name] is None else redact(change[name])
        return data


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Journal:
    """The journal file; callers hold :meth:`locked` around read-modify-write sequences."""

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.path = path
        self._clock = clock

    @classmethod
    def in_home(cls, home: Path) -> Journal:
        """The journal in the state directory (``Settings.home``)."""
        return cls(home / JOURNAL_NAME)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive across processes: two applies at once would lose each other's entry."""
        lock = self.path.with_name(self.path.name + ".lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock, "a")  # noqa: SIM115 - closed below, after the body ran
        except OSError as exc:
            raise ConfigError(
                f"cannot create {lock}: {exc.strerror or exc}",
                fix=f"Check the permissions of {self.path.parent}.",
            ) from exc
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def entries(self) -> list[JournalEntry]:
        """Every entry, oldest first; a missing journal is an empty one."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise self._corrupt(str(exc)) from exc
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("version") != _VERSION:
                raise ValueError(f"expected a version {_VERSION} journal")
            return [_entry_from(item) for item in data["entries"]]
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise self._corrupt(str(exc) or type(exc).__name__) from exc

    def last_active(self) -> JournalEntry | None:
        """The newest entry not undone yet: the top of the undo stack."""
        return next((e for e in reversed(self.entries()) if not e.undone), None)

    def begin(self, changes: Sequence[JournalChange]) -> JournalEntry:
        """Append a new entry (before anything is written, so a crash leaves a trace)."""
        entries = self.entries()
        entry = JournalEntry(
            id=max((e.id for e in entries), default=0) + 1,
            time=self._clock(),
            changes=tuple(changes),
        )
        self._write([*entries, entry])
        return entry

    def update(self, entry: JournalEntry) -> None:
        """Replace the entry with the same id."""
        entries = self.entries()
        if all(e.id != entry.id for e in entries):
            raise UsageError(f"journal entry #{entry.id} is not in {self.path}")
        self._write([entry if e.id == entry.id else e for e in entries])

    def mark_undone(self, entry: JournalEntry) -> JournalEntry:
        """Record that ``entry`` was undone now; return the updated entry."""
        done = replace(entry, undone_at=self._clock())
        self.update(done)
        return done

    def discard(self, entry: JournalEntry) -> None:
        """Drop an entry that changed nothing at all (every command failed before writing)."""
        self._write([e for e in self.entries() if e.id != entry.id])

    def _write(self, entries: Sequence[JournalEntry]) -> None:
        data = {"version": _VERSION, "entries": [_entry_to(e) for e in entries]}
        text = json.dumps(data, indent=1, sort_keys=True) + "\n"
        try:
            atomic_write(self.path, text.encode("utf-8"), mode=0o600)
        except OSError as exc:
            raise ConfigError(
                f"cannot write the mirrors journal {self.path}: {exc.strerror or exc}",
                fix=f"Check the permissions and free space of {self.path.parent}.",
            ) from exc

    def _corrupt(self, detail: str) -> ConfigError:
        return ConfigError(
            f"the mirrors journal {self.path} cannot be read: {redact(detail)}",
            fix=(
                f"It holds what `unstall mirrors undo` restores, so unstall will not "
                f"overwrite it. Repair it, or move it aside (mv {self.path} "
                f"{self.path}.broken) to start a new journal."
            ),
        )


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``path`` so a reader sees the old or the new bytes, never a mix:
    temp file in the same directory, fsync, rename, fsync of the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_config_bytes(path: Path, *, limit: int = MAX_CONFIG_BYTES) -> bytes | None:
    """The exact bytes of a tool's config file (None when absent), refusing big files:
    these are tiny files, and the journal keeps a copy of each."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        return None
    except IsADirectoryError as exc:
        raise UsageError(
            f"{path} is a directory, not a config file", fix=f"Move {path} aside."
        ) from exc
    if len(data) > limit:
        raise UsageError(
            f"{path} is larger than {limit // 1024} KiB; unstall will not journal it",
            fix=f"Config files are small: check what {path} holds, or change it by hand.",
        )
    return data


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError("file contents must be base64 text")
    return base64.b64decode(text, validate=True)


def _time(text: Any) -> datetime:
    if not isinstance(text, str):
        raise TypeError("times must be ISO 8601 text")
    return datetime.fromisoformat(text)


def _entry_to(entry: JournalEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "time": entry.time.isoformat(),
        "undone_at": entry.undone_at.isoformat() if entry.undone_at else None,
        "changes": [
            {
                "ecosystem": str(c.ecosystem),
                "key": c.key,
                "command": list(c.command),
                "previous": c.previous,
                "new": c.new,
                "config_file": str(c.config_file),
                "existed_before": c.existed_before,
                "before": _b64(c.before),
                "after": _b64(c.after),
                "status": str(c.status),
                "error": c.error,
            }
            for c in entry.changes
        ],
    }


def _optional_str(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"expected text or null, found {type(value).__name__}")
    return value


def _entry_from(item: Any) -> JournalEntry:
    changes = tuple(
        JournalChange(
            ecosystem=Ecosystem(c["ecosystem"]),
            key=str(c["key"]),
            command=tuple(str(part) for part in c["command"]),
            previous=_optional_str(c["previous"]),
            new=str(c["new"]),
            config_file=Path(c["config_file"]),
            before=_unb64(c["before"]),
            after=_unb64(c["after"]),
            status=Status(c["status"]),
            error=_optional_str(c["error"]),
        )
        for c in item["changes"]
    )
    undone = item["undone_at"]
    return JournalEntry(
        id=int(item["id"]),
        time=_time(item["time"]),
        changes=changes,
        undone_at=None if undone is None else _time(undone),
    )


__all__ = [
    "JOURNAL_NAME",
    "MAX_CONFIG_BYTES",
    "Journal",
    "JournalChange",
    "JournalEntry",
    "Status",
    "atomic_write",
    "read_config_bytes",
]
