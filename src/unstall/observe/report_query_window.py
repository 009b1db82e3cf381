"""The report's time window and its equal buckets, shared by every report query."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Window:
    """``[since, until]`` cut into ``buckets`` equal, half-open buckets (the last closed)."""

    since: float
    until: float
    buckets: int

    def __post_init__(self) -> None:
        if not self.until > self.since:
            raise ValueError(f"the window must end after it starts ({self.since}..{self.until})")
        if self.buckets < 1:
            raise ValueError(f"need at least one bucket, not {self.buckets}")

    @property
    def width(self) -> float:
        """Seconds per bucket."""
        return (self.until - self.since) / self.buckets

    @property
    def end(self) -> float:
        """An exclusive upper bound that still takes in ``until`` itself."""
        return math.nextafter(self.until, math.inf)

    def ranges(self) -> list[tuple[float, float]]:
        """``(start, end)`` of every bucket, ``start`` inclusive and ``end`` exclusive."""
        width = self.width
        starts = [self.since + i * width for i in range(self.buckets)]
        return [(start, end) for start, end in zip(starts, [*starts[1:], self.end], strict=True)]


__all__ = ["Window"]
