"""The context-manager protocol every test server shares: started on entry, stopped on exit."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class StartStop:
    """Base of the test servers: subclasses define ``start`` (returning self) and ``stop``."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


__all__ = ["StartStop"]
