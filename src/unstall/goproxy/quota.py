"""A size quota on stored zips, evicting the least recently used first.

Only zips count and only zips go: they are nearly all of the bytes, while the
small ``.info``/``.mod`` files keep ``@v/list`` and offline answers complete. The
recency order lives in memory and in each zip's atime, which is set explicitly
(``relatime`` mounts would otherwise not record reads), so a restart keeps it.
A zip used in the last few seconds is never evicted: it may be on its way to a
client, and a quota briefly exceeded is better than an answer cut off.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

_log = logging.getLogger(__name__)

IN_USE_SECONDS: Final = 10.0
_ATIME_EVERY: Final = 60.0  # seconds between atime updates of one zip


class ZipQuota:
    """Tracks stored zips under ``root`` and keeps their total at most ``max_bytes``."""

    def __init__(
        self,
        root: Path,
        max_bytes: int,
        *,
        clock: Callable[[], float] = time.time,
        on_evict: Callable[[Path, int, int], None] | None = None,
    ) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._clock = clock
        self._on_evict = on_evict
        self.on_change: Callable[[int], None] | None = None  # gets ``used`` after changes
        # path -> (size, last use); oldest first
        self._zips: OrderedDict[Path, tuple[int, float]] = OrderedDict()
        self.used = 0
        found = sorted(stored_zips(root), key=lambda item: item[2])
        for path, size, used_at in found:
            self._zips[path] = (size, used_at)
            self.used += size
        self.evict()

    def __len__(self) -> int:
        return len(self._zips)

    def added(self, path: Path) -> None:
        """A zip was stored (or found stored): count it as just used, then enforce."""
        if path not in self._zips:
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                return
            self._zips[path] = (size, self._clock())
            self.used += size
        self.touch(path)
        self.evict()
        if self.on_change is not None:
            self.on_change(self.used)

    def touch(self, path: Path) -> None:
        """``path`` was served: it becomes the most recently used."""
        entry = self._zips.get(path)
        if entry is None:
            self.added(path)
            return
        size, previous = entry
        now = self._clock()
        self._zips[path] = (size, now)
        self._zips.move_to_end(path)
        if now - previous >= _ATIME_EVERY:
            with contextlib.suppress(OSError):
                os.utime(path, (now, path.stat().st_mtime))

    def rescan(self, found: list[tuple[Path, int, float]]) -> None:
        """Take in a fresh :func:`stored_zips` listing: zips other processes stored count
        (as just used), zips deleted by others no longer do; then enforce the quota."""
        present = {path for path, _, _ in found}
        for path in [p for p in self._zips if p not in present]:
            self.used -= self._zips.pop(path)[0]
        now = self._clock()
        for path, size, _atime in found:
            if path not in self._zips:
                self._zips[path] = (size, now)
                self.used += size
        self.evict()
        if self.on_change is not None:
            self.on_change(self.used)

    def evict(self) -> None:
        """Delete least recently used zips until the total fits (zips in use excepted)."""
        if self.used <= self.max_bytes:
            return
        cutoff = self._clock() - IN_USE_SECONDS
        for path in list(self._zips):
            if self.used <= self.max_bytes:
                break
            size, used_at = self._zips[path]
            if used_at > cutoff:
                break  # ordered by use: everything after this is in use too
            del self._zips[path]
            self.used -= size
            for stale in (path, path.with_suffix(".ziphash")):
                stale.unlink(missing_ok=True)
            _log.info("evicted %s (%d bytes) to stay under the cache quota", path, size)
            if self._on_evict is not None:
                self._on_evict(path, size, self.used)
            if self.on_change is not None:
                self.on_change(self.used)


def stored_zips(root: Path) -> Iterator[tuple[Path, int, float]]:
    """Every ``*.zip`` in the layout with its size and atime (temporary files excepted)."""
    for folder, dirs, files in os.walk(root):
        if folder == str(root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.endswith(".zip"):
                path = Path(folder) / name
                with contextlib.suppress(FileNotFoundError):
                    stat = path.stat()
                    yield path, stat.st_size, stat.st_atime


__all__ = ["IN_USE_SECONDS", "ZipQuota", "stored_zips"]
