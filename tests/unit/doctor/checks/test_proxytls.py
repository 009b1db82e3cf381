"""An https:// proxy URL pointing at a plain HTTP proxy, probed on 127.0.0.1 only."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import trustme

from tests.unit.doctor.checks import by_id, make_context
from unstall.doctor.checks.proxytls import TlsAnswer, check_proxy_tls, probe_tls
from unstall.doctor.model import CheckStatus

Handler = Callable[[socket.socket], None]
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class LocalServer:
    """Accepts connections on 127.0.0.1 in a thread and hands each to ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port: int = self.listener.getsockname()[1]
        self.handler = handler
        self.connections = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with conn, suppress(OSError):
                conn.settimeout(5)
                self.handler(conn)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)
        self.listener.close()


@contextmanager
def serving(handler: Handler) -> Iterator[LocalServer]:
    server = LocalServer(handler)
    server.thread.start()
    try:
        yield server
    finally:
        server.stop()


def plain_http_proxy(conn: socket.socket) -> None:
    """What a plain HTTP proxy does with a ClientHello: a 400 in plain text."""
    conn.recv(4096)
    conn.sendall(BAD_REQUEST)


def silent_proxy(conn: socket.socket) -> None:
    """A plain HTTP proxy still waiting for the end of a request line."""
    with suppress(OSError):
        while conn.recv(4096):
            pass


@pytest.fixture
def tls_proxy_handler() -> Handler:
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)

    def handle(conn: socket.socket) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)

    return handle


def test_a_plain_http_proxy_behind_an_https_url_fails_with_the_http_fix(tmp_path: Path) -> None:
    with serving(plain_http_proxy) as server:
        url = f"https://127.0.0.1:{server.port}"
        context = make_context(tmp_path, environ={"HTTPS_PROXY": url})

        check = by_id(check_proxy_tls(context), "proxy-tls-https-proxy")

    assert check.status is CheckStatus.FAIL
    assert "plain HTTP proxy" in check.message
    assert check.fix == (
        f'use http://127.0.0.1:{server.port}: export HTTPS_PROXY="http://${{HTTPS_PROXY#https://}}"'
    )


def test_the_failure_never_shows_the_proxy_password(tmp_path: Path) -> None:
    with serving(plain_http_proxy) as server:
        url = f"https://alice:pw-123@127.0.0.1:{server.port}"
        checks = check_proxy_tls(make_context(tmp_path, environ={"https_proxy": url}))

    assert [c.status for c in checks] == [CheckStatus.FAIL]
    assert "pw-123" not in checks[0].message + checks[0].fix
    assert "https://***@127.0.0.1" in checks[0].message


def test_a_proxy_that_speaks_tls_passes(tmp_path: Path, tls_proxy_handler: Handler) -> None:
    with serving(tls_proxy_handler) as server:
        url = f"https://127.0.0.1:{server.port}"
        context = make_context(tmp_path, environ={"HTTPS_PROXY": url})

        check = by_id(check_proxy_tls(context), "proxy-tls-https-proxy")

    assert check.status is CheckStatus.OK
    assert "speaks TLS" in check.message


def test_a_proxy_that_never_answers_is_bounded_by_the_probe_timeout(tmp_path: Path) -> None:
    with serving(silent_proxy) as server:
        url = f"https://127.0.0.1:{server.port}"
        context = make_context(tmp_path, environ={"ALL_PROXY": url}, tls_probe_timeout=0.3)

        started = time.monotonic()
        check = by_id(check_proxy_tls(context), "proxy-tls-all-proxy")

    assert time.monotonic() - started < 10  # did not hang
    assert check.status is CheckStatus.WARN
    assert "no TLS answer" in check.message
    assert "http://127.0.0.1:" in check.fix


def test_a_proxy_that_is_down_is_reported_unreachable(tmp_path: Path) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()

    probe = probe_tls("127.0.0.1", port, 2.0)
    check = by_id(
        check_proxy_tls(
            make_context(tmp_path, environ={"HTTPS_PROXY": f"https://127.0.0.1:{port}"})
        ),
        "proxy-tls-https-proxy",
    )

    assert probe.answer is TlsAnswer.UNREACHABLE
    assert check.status is CheckStatus.WARN
    assert "cannot connect" in check.message


def test_http_proxies_are_not_probed_and_one_url_is_probed_once(tmp_path: Path) -> None:
    with serving(plain_http_proxy) as server:
        url = f"https://127.0.0.1:{server.port}"
        environ = {
            "HTTP_PROXY": f"http://127.0.0.1:{server.port}",
            "HTTPS_PROXY": url,
            "https_proxy": url,
            "ALL_PROXY": url,
        }

        checks = check_proxy_tls(make_context(tmp_path, environ=environ))

    assert [c.id for c in checks] == ["proxy-tls-https-proxy"]
    assert server.connections == 1
