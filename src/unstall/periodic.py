"""Background work repeated on a schedule for as long as a block runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

_log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def every(seconds: float, work: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
    """Run ``work`` every ``seconds`` (after each pause) until the block ends. A run that
    fails is logged and the schedule goes on: one bad probe must not end the probing."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await work()
            except Exception:
                _log.exception("periodic %s failed; next run in %gs", work, seconds)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


__all__ = ["every"]
