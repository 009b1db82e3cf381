"""Where a response body goes: memory for metadata, a resumable file for zips."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Protocol

from unstall.errors import IntegrityError


class BodySink(Protocol):
    """A destination for a body that may be resumed from ``offset``."""

    @property
    def offset(self) -> int:
        """Bytes already held; a retry asks for the rest with Range."""

    validator: str | None
    """ETag or Last-Modified of the response the held bytes came from."""

    max_bytes: int

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; raise IntegrityError past ``max_bytes``."""

    def reset(self) -> None:
        """Drop what is held: the server ignored or refused the Range request."""

    def close(self, *, keep: bool) -> None:
        """Release the sink; ``keep`` asks to keep held bytes for a later resume."""


class MemorySink:
    """Collects a small body (list, .info, .mod, sumdb answers) in memory."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.validator: str | None = None
        self._buffer = bytearray()

    @property
    def offset(self) -> int:
        return len(self._buffer)

    def write(self, chunk: bytes) -> None:
        if len(self._buffer) + len(chunk) > self.max_bytes:
            raise IntegrityError(
                f"body larger than the {self.max_bytes} byte limit", cause="integrity-size"
            )
        self._buffer += chunk

    def reset(self) -> None:
        self._buffer.clear()

    def close(self, *, keep: bool) -> None:
        self._buffer.clear()

    def getvalue(self) -> bytes:
        """The body received so far."""
        return bytes(self._buffer)


class FileSink:
    """Streams a large body into a file on disk that outlives failed attempts, for Range.

    With ``meta`` the file is resumable across processes: the response validator
    (ETag or Last-Modified) is kept beside it, and a later sink opened on the same
    path continues from the bytes already there with ``If-Range``. An exclusive
    lock keeps two processes from writing one partial file; :meth:`open` returns
    None when another process holds it.
    """

    def __init__(self, path: Path, max_bytes: int, *, meta: Path | None = None) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._meta = meta
        self._validator: str | None = None
        resumable = meta is not None and path.exists()
        self._file = open(path, "r+b" if resumable else "wb")  # noqa: SIM115 - see close()
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            raise
        self._size = 0
        if resumable and meta is not None:
            self._validator = _read_validator(meta)
            if self._validator is None:
                self._file.truncate()
            self._size = self._file.seek(0, os.SEEK_END)

    @classmethod
    def open(cls, path: Path, max_bytes: int, *, meta: Path) -> FileSink | None:
        """A resumable sink on ``path``, or None while another process writes it."""
        try:
            return cls(path, max_bytes, meta=meta)
        except BlockingIOError:
            return None

    @property
    def offset(self) -> int:
        return self._size

    @property
    def validator(self) -> str | None:
        return self._validator

    @validator.setter
    def validator(self, value: str | None) -> None:
        if value != self._validator and self._meta is not None:
            self._meta.write_text(json.dumps({"validator": value}), encoding="utf-8")
        self._validator = value

    def write(self, chunk: bytes) -> None:
        if self._size + len(chunk) > self.max_bytes:
            raise IntegrityError(
                f"body larger than the {self.max_bytes} byte limit", cause="integrity-size"
            )
        self._file.write(chunk)
        self._size += len(chunk)

    def reset(self) -> None:
        self._file.seek(0)
        self._file.truncate()
        self._size = 0

    def sync(self) -> Path:
        """Flush to disk (fsync) and keep the file open; readers see every byte."""
        self._file.flush()
        os.fsync(self._file.fileno())
        return self.path

    def close(self, *, keep: bool) -> None:
        """Close; ``keep`` leaves a resumable partial behind, otherwise it is deleted
        (a committed copy lives on under its final name)."""
        self._file.flush()
        self._file.close()
        if not keep or self._meta is None or self._validator is None:
            self.path.unlink(missing_ok=True)
            if self._meta is not None:
                self._meta.unlink(missing_ok=True)


def _read_validator(meta: Path) -> str | None:
    try:
        value = json.loads(meta.read_text(encoding="utf-8")).get("validator")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


__all__ = ["BodySink", "FileSink", "MemorySink"]
