"""A clock tests move by hand, for anything that takes a ``clock`` callable."""

from __future__ import annotations


class FakeClock:
    """Returns ``now``; :meth:`advance` moves it. Monotonic or wall time alike."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


__all__ = ["FakeClock"]
