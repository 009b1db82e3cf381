"""Where a response body goes: memory for metadata, a resumable file for zips."""

from __future__ import annotations

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

    def getvalue(self) -> bytes:
        """The body received so far."""
        return bytes(self._buffer)


class FileSink:
    """Streams a large body into a temporary file that survives failed attempts for Range."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.validator: str | None = None
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._size = 0

    @property
    def offset(self) -> int:
        return self._size

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

    def discard(self) -> None:
        """Close and delete the temporary file (a committed copy lives on under its name)."""
        self._file.close()
        self.path.unlink(missing_ok=True)


__all__ = ["BodySink", "FileSink", "MemorySink"]
