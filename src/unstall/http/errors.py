"""The one boundary where httpx, httpcore, ssl and socket errors become unstall errors."""

from __future__ import annotations

import errno
import ssl

import httpx

from unstall.errors import (
    ConnectionFailed,
    FetchError,
    PhaseTimeout,
    UpstreamRejected,
)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def translate(exc: Exception, *, phase: str, upstream: str) -> FetchError:
    """Map a transport exception raised during ``phase`` to the error tree."""
    chain = _chain(exc)
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
        # Not transient: asking the same server again gets the same certificate. Other
        # upstreams are still tried.
        return FetchError(
            f"TLS certificate not trusted: {exc}", cause="tls-untrusted", upstream=upstream
        )
    if isinstance(exc, httpx.ProxyError):
        cause = "proxy-auth-required" if "407" in text else "proxy-refused"
        return ConnectionFailed(f"proxy failed: {exc}", cause=cause, upstream=upstream)
    if isinstance(exc, httpx.TimeoutException):
        label = {"connect": "connect", "tls": "tls", "first_byte": "first_byte"}.get(phase, "stall")
        return PhaseTimeout(label, 0.0, upstream=upstream)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return UpstreamRejected(str(exc), status=502, upstream=upstream)
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in text:
        return ConnectionFailed(
            f"connection refused: {exc}", cause="tcp-refused", upstream=upstream
        )
    if any(isinstance(e, ssl.SSLError) for e in chain) or phase == "tls":
        return ConnectionFailed(
            f"TLS handshake failed: {exc}", cause="tls-error", upstream=upstream
        )
    reset = (
        any(
            isinstance(e, ConnectionResetError)
            or (isinstance(e, OSError) and e.errno in (errno.ECONNRESET, errno.EPIPE))
            for e in chain
        )
        or "reset" in text
    )
    if reset:
        return ConnectionFailed(
            f"connection reset during {phase}: {_describe(exc)}",
            cause="tcp-reset",
            upstream=upstream,
        )
    if isinstance(exc, httpx.RemoteProtocolError) and phase == "body":
        return ConnectionFailed(
            f"body cut short: {exc}", cause="transfer-truncated", upstream=upstream
        )
    if isinstance(exc, httpx.ConnectError):
        cause = "dns-error" if "name or service" in text or "resolution" in text else "tcp-reset"
        return ConnectionFailed(f"cannot connect: {exc}", cause=cause, upstream=upstream)
    if isinstance(exc, httpx.TransportError):
        cause = "transfer-truncated" if phase == "body" else "tcp-reset"
        return ConnectionFailed(
            f"{type(exc).__name__} during {phase}: {_describe(exc)}",
            cause=cause,
            upstream=upstream,
        )
    return FetchError(f"{type(exc).__name__}: {exc}", cause="internal", upstream=upstream)


__all__ = ["translate"]
