"""The context-manager protocol every test server shares: started on entry, stopped on exit."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from types import TracebackType
from typing import Final, Self

_DEADLINE: Final = 10.0


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


class StreamServer(StartStop):
    """A TCP server of asyncio streams on ``host`` (loopback only) and an ephemeral port,
    on its own event loop in a thread, so synchronous tests, async tests and subprocesses
    can all talk to it. Subclasses answer a connection in :meth:`handle`; errors of a
    connection end it quietly, and stop() cancels the connections still open."""

    def __init__(
        self, host: str, *, tls: ssl.SSLContext | None = None, limit: int = 64 * 1024
    ) -> None:
        if not host.startswith("127."):
            raise ValueError(f"test servers listen on loopback only, not {host!r}")
        self.host = host
        self.tls = tls
        self.port = 0
        self._limit = limit
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(lambda _loop, _context: None)  # aborted handshakes
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(_DEADLINE)
        return self

    def stop(self) -> None:
        """Close the listener and every connection (idempotent, also when never started)."""
        if self._thread.is_alive():
            closing = asyncio.run_coroutine_threadsafe(self._close(), self._loop)
            with contextlib.suppress(Exception):
                closing.result(_DEADLINE)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(_DEADLINE)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.host, 0, ssl=self.tls, limit=self._limit
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=_DEADLINE)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.handle(reader, writer)
        except (asyncio.CancelledError, OSError, asyncio.IncompleteReadError, ValueError):
            pass  # the client went away or sent garbage: this connection is over
        finally:
            writer.transport.abort()
            self._tasks.discard(task)


__all__ = ["StartStop", "StreamServer"]
