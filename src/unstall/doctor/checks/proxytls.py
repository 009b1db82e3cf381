"""Whether an ``https://`` proxy from the environment really speaks TLS.

Pointing HTTPS_PROXY at ``https://host:port`` when the proxy there is a plain HTTP
proxy is a common slip: go then fails with "proxyconnect ... first record does not
look like a TLS handshake" and other tools with obscure TLS errors. Only proxies the
user configured are probed, with one bounded handshake each.
"""

from __future__ import annotations

import queue
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from enum import Enum
from typing import Final
from urllib.parse import urlsplit

from unstall.doctor.checks.context import CheckContext
from unstall.doctor.checks.proxyenv import PROXY_VARS, proxy_settings, show_proxy
from unstall.doctor.model import Check, CheckStatus

# What OpenSSL says when the peer answers a ClientHello with plain text such as
# "HTTP/1.1 400 Bad Request": the bytes do not parse as a TLS record.
_PLAIN_HTTP_SIGNS: Final = (
    "wrong version number",
    "record layer failure",
    "packet length too long",
    "http request",
)


class TlsAnswer(Enum):
    """What came back from the proxy's port."""

    TLS = "tls"
    PLAIN_HTTP = "plain-http"
    SILENT = "silent"  # connected, but no handshake answer in time
    UNREACHABLE = "unreachable"
    TLS_ERROR = "tls-error"


@dataclass(frozen=True, slots=True)
class TlsProbe:
    """The outcome of one handshake attempt and its detail for the message."""

    answer: TlsAnswer
    detail: str


def _is_plain_http(error: ssl.SSLError) -> bool:
    text = f"{error.reason or ''} {error}".lower().replace("_", " ")
    return any(sign in text for sign in _PLAIN_HTTP_SIGNS)


def _resolve(host: str, port: int, timeout: float) -> list[tuple[str, int]] | str:
    """Addresses of ``host``, or why there are none, within ``timeout``.

    getaddrinfo has no timeout of its own: it runs in a daemon thread that is left
    behind (and ends on its own) if the resolver stalls.
    """
    answer: queue.SimpleQueue[list[tuple[str, int]] | str] = queue.SimpleQueue()

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            answer.put([(str(info[4][0]), int(info[4][1])) for info in infos])
        except OSError as exc:
            answer.put(f"cannot resolve {host}: {exc.strerror or exc}")

    threading.Thread(target=lookup, name="doctor-proxy-resolve", daemon=True).start()
    try:
        return answer.get(timeout=timeout)
    except queue.Empty:
        return f"resolving {host} took longer than {timeout:g}s"


def _connect(host: str, port: int, deadline: float) -> socket.socket | str:
    addresses = _resolve(host, port, max(0.05, deadline - time.monotonic()))
    if isinstance(addresses, str):
        return addresses
    reason = "no address"
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            return socket.create_connection(address, timeout=remaining)
        except TimeoutError:
            reason = "no answer to the connection attempt"
        except OSError as exc:
            reason = exc.strerror or str(exc)
    return reason


def probe_tls(host: str, port: int, timeout: float) -> TlsProbe:
    """Try one TLS handshake with ``host:port`` within about ``timeout`` seconds.

    The certificate is not verified: only whether the other side speaks TLS at all
    matters here (certificate trust is the network probes' business).
    """
    deadline = time.monotonic() + timeout
    raw = _connect(host, port, deadline)
    if isinstance(raw, str):
        return TlsProbe(TlsAnswer.UNREACHABLE, raw)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with raw:
        raw.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                return TlsProbe(TlsAnswer.TLS, tls.version() or "TLS")
        except ssl.SSLError as exc:
            if _is_plain_http(exc):
                return TlsProbe(TlsAnswer.PLAIN_HTTP, str(exc.reason or exc))
            return TlsProbe(TlsAnswer.TLS_ERROR, str(exc.reason or exc))
        except TimeoutError:
            return TlsProbe(TlsAnswer.SILENT, f"no TLS answer within {timeout:g}s")
        except OSError as exc:
            return TlsProbe(TlsAnswer.TLS_ERROR, exc.strerror or str(exc))


def check_proxy_tls(context: CheckContext) -> list[Check]:
    """``proxy-tls-*``: one handshake per distinct ``https://`` proxy in the environment."""
    found: list[Check] = []
    probed: set[str] = set()
    for upper in PROXY_VARS:
        for setting in proxy_settings(context, upper):
            if not setting.value.lower().startswith("https://") or setting.value in probed:
                continue
            probed.add(setting.value)
            found.append(_judge(context, upper, setting.names[0], setting.value))
    return found


def _judge(context: CheckContext, upper: str, name: str, value: str) -> Check:
    check_id = f"proxy-tls-{upper.lower().replace('_', '-')}"
    parts = urlsplit(value)
    try:
        host, port = parts.hostname, parts.port or 443
    except ValueError:
        host = None  # the URL check reports the port
    if not host:
        return Check(check_id, CheckStatus.INFO, f"{name}: not probed (no usable host:port)")
    shown = show_proxy(value)
    hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    probe = probe_tls(host, port, context.tls_probe_timeout)
    # ${NAME#https://} keeps any credentials in the URL without printing them.
    to_http = f'export {name}="http://${{{name}#https://}}"'
    if probe.answer is TlsAnswer.TLS:
        return Check(check_id, CheckStatus.OK, f"{name}={shown} speaks TLS ({probe.detail})")
    if probe.answer is TlsAnswer.PLAIN_HTTP:
        return Check(
            check_id,
            CheckStatus.FAIL,
            f"{name}={shown} is a plain HTTP proxy: it answered the TLS handshake with "
            f"plain text ({probe.detail}); go fails with 'first record does not look like "
            "a TLS handshake'",
            fix=f"use http://{hostport}: {to_http}",
        )
    if probe.answer is TlsAnswer.SILENT:
        return Check(
            check_id,
            CheckStatus.WARN,
            f"{name}={shown}: {probe.detail}; a plain HTTP proxy waits like this for a "
            "request line, so installs through it stall",
            fix=f"if it is a plain HTTP proxy, use http://{hostport}: {to_http}",
        )
    if probe.answer is TlsAnswer.UNREACHABLE:
        return Check(
            check_id,
            CheckStatus.WARN,
            f"{name}={shown}: cannot connect to {hostport} ({probe.detail})",
            fix=f"check that the proxy runs and that {name} names the right host and port",
        )
    return Check(
        check_id,
        CheckStatus.WARN,
        f"{name}={shown}: the TLS handshake with {hostport} failed ({probe.detail})",
        fix=f"check the proxy's TLS setup; if it is a plain HTTP proxy, {to_http}",
    )


__all__ = ["TlsAnswer", "TlsProbe", "check_proxy_tls", "probe_tls"]
