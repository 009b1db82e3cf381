"""A loopback webhook receiver for the alert tests: a threaded http.server on 127.0.0.1
that records every POST and answers per path (Slack's plain "ok" by default; set
``answers[path] = (status, body)`` for WeCom's errcode JSON or errors; ``/hold`` waits for
``release`` before answering)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Received:
    path: str
    query: str
    headers: dict[str, str]
    body: Any


class Receiver:
    """A loopback webhook: records requests; ``answers[path] = (status, body)``."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answers: dict[str, tuple[int, str]] = {}
        self.release = threading.Event()  # what /hold waits for before answering
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                parts = urlsplit(self.path)
                receiver.requests.append(
                    Received(parts.path, parts.query, dict(self.headers.items()), body)
                )
                if parts.path == "/hold":
                    receiver.release.wait(10)
                status, text = receiver.answers.get(parts.path, (200, "ok"))
                data = text.replace("{path}", self.path).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


__all__ = ["Received", "Receiver"]
