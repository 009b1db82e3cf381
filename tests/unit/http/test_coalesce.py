"""One socket write per answer: the coalescing transport and uvicorn protocol."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
from starlette.types import Receive, Scope, Send

from unstall.gotool.runner import serve_on_loopback
from unstall.http.coalesce import CoalescingTransport


class RecordingTransport(asyncio.Transport):
    """Records what reaches the 'socket': each writelines call is one system call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[bytes]] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.calls.append([bytes(data)])

    def writelines(self, list_of_data: Any) -> None:
        self.calls.append([bytes(d) for d in list_of_data])

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 4242)}.get(name, default)


def test_writes_of_one_loop_step_reach_the_transport_together() -> None:
    async def scenario() -> list[list[list[bytes]]]:
        inner = RecordingTransport()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
        transport.write(b"")  # nothing to send: no empty piece
        transport.write(b"hello")
        seen = [list(inner.calls)]  # nothing written yet, within the same step
        assert transport.get_write_buffer_size() == 7 + 43
        await asyncio.sleep(0)
        seen.append(list(inner.calls))
        transport.write(b"next")
        await asyncio.sleep(0)
        seen.append(list(inner.calls))
        return seen

    seen = asyncio.run(scenario())
    assert seen[0] == []
    assert seen[1] == [[b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", b"hello"]]
    assert seen[2][-1] == [b"next"]
    assert len(seen[2]) == 2


def test_close_sends_what_is_pending_and_abort_drops_it() -> None:
    async def scenario() -> tuple[RecordingTransport, RecordingTransport]:
        loop = asyncio.get_running_loop()
        closing_inner, aborting_inner = RecordingTransport(), RecordingTransport()
        closing = CoalescingTransport(closing_inner, loop)
        closing.write(b"last words")
        closing.close()
        aborting = CoalescingTransport(aborting_inner, loop)
        aborting.write(b"never sent")
        aborting.abort()
        await asyncio.sleep(0)  # the scheduled flushes run and find nothing to do
        return closing_inner, aborting_inner

    closing_inner, aborting_inner = asyncio.run(scenario())
    assert closing_inner.calls == [[b"last words"]]
    assert closing_inner.closed
    assert aborting_inner.calls == []
    assert aborting_inner.aborted


def test_nothing_is_written_to_a_transport_already_closing() -> None:
    async def scenario() -> RecordingTransport:
        inner = RecordingTransport()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())
        transport.write(b"too late")
        inner.closed = True  # the peer went away before the loop came round
        await asyncio.sleep(0)
        return inner

    assert asyncio.run(scenario()).calls == []


def test_extra_info_comes_from_the_real_transport() -> None:
    async def scenario() -> Any:
        transport = CoalescingTransport(RecordingTransport(), asyncio.get_running_loop())
        return transport.get_extra_info("peername"), transport.get_extra_info("nope", "x")

    assert asyncio.run(scenario()) == (("127.0.0.1", 4242), "x")


_CHUNK = bytes(range(256)) * 4096  # 1 MiB


async def _streaming_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Small whole answers, and a 3 MiB streamed one that must pass flow control."""
    assert scope["type"] == "http"
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for more in (True, True, False):
            await send({"type": "http.response.body", "body": _CHUNK, "more_body": more})
        return
    body = scope["path"].encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def test_uvicorn_with_the_coalescing_protocol_serves_whole_answers() -> None:
    async def scenario() -> tuple[list[str], str, int, bytes]:
        async with (
            serve_on_loopback(_streaming_app) as base,
            httpx.AsyncClient(base_url=base, trust_env=False) as client,
        ):
            small = await asyncio.gather(*(client.get(f"/answer/{i}") for i in range(50)))
            streamed = await client.get("/stream")
            head = await client.head("/answer/head")
            host, port = base.removeprefix("http://").split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"GET /closing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            closing = await asyncio.wait_for(reader.read(), 30)  # EOF: the server closed
            writer.close()
        return (
            [r.text for r in small],
            hashlib.sha256(streamed.content).hexdigest(),
            head.status_code,
            closing,
        )

    small, streamed, head_status, closing = asyncio.run(scenario())
    assert small == [f"/answer/{i}" for i in range(50)]
    assert streamed == hashlib.sha256(_CHUNK * 3).hexdigest()
    assert head_status == 200
    assert closing.startswith(b"HTTP/1.1 200 ")
    assert closing.endswith(b"\r\n\r\n/closing")
