"""Answers that may change upstream: reused for a TTL, kept as a last resort, bounded.

``@v/list`` and ``@latest`` change when a module is tagged, so they are only
trusted for ``list_ttl`` seconds; the last good answer is still kept for
stale-if-error. "Not found" from every upstream is remembered for
``negative_ttl`` seconds so a client retrying a missing version does not turn
into a storm upstream. The table is a bounded LRU: random paths from a hostile
client cannot grow it without limit.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from unstall.errors import NotFound

V = TypeVar("V")

DEFAULT_MAX_ENTRIES: Final = 50_000


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V | None
    missing: NotFound | None
    at: float


class AnswerCache(Generic[V]):
    """A TTL cache of good answers and of definitive "not found" answers."""

    def __init__(
        self,
        *,
        ttl: float,
        negative_ttl: float,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[object, _Entry[V]] = OrderedDict()

    @property
    def negative_ttl(self) -> float:
        return self._negative_ttl

    def fresh(self, key: object) -> V | NotFound | None:
        """The answer for ``key`` if still within its TTL: a value, a NotFound, or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        age = self._clock() - entry.at
        if entry.missing is not None:
            return entry.missing if age < self._negative_ttl else None
        return entry.value if age < self._ttl else None

    def last_good(self, key: object) -> V | None:
        """The last good answer for ``key`` at any age (for stale-if-error)."""
        entry = self._entries.get(key)
        return None if entry is None else entry.value

    def remember(self, key: object, value: V) -> None:
        self._put(key, _Entry(value, None, self._clock()))

    def remember_missing(self, key: object, missing: NotFound) -> None:
        """Remember a definitive not-found; an older good answer stays for stale-if-error."""
        if self._negative_ttl <= 0:
            return
        previous = self._entries.get(key)
        value = None if previous is None else previous.value
        self._put(key, _Entry(value, missing, self._clock()))

    def _put(self, key: object, entry: _Entry[V]) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


K = TypeVar("K")


class ByteBoundedLru(Generic[K, V]):
    """An LRU map whose entries are weighed in bytes; the least recently used go first."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self.used = 0

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: K, value: V, size: int) -> None:
        if size > self._max:
            return
        previous = self._entries.pop(key, None)
        if previous is not None:
            self.used -= previous[1]
        self._entries[key] = (value, size)
        self.used += size
        while self.used > self._max:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.used -= dropped

    def __len__(self) -> int:
        return len(self._entries)


__all__ = ["AnswerCache", "ByteBoundedLru"]
