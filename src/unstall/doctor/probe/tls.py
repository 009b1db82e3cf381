"""The TLS layer: a verified handshake on an open stream, and the issuer of a refused chain."""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from cryptography import x509

from unstall.doctor.model import ProbeFailure
from unstall.doctor.probe.connect import Stream
from unstall.doctor.probe.timing import elapsed_ms, now

HandshakeKind = Literal["timeout", "untrusted", "plain", "failed"]

# What OpenSSL says when the first bytes back are not a TLS record, e.g. an HTTP error
# page from a plain proxy: "wrong version number" (1.1/3.0), "record layer failure" and
# "packet length too long" (3.x), "http request" when the other side wrote HTTP.
_NOT_TLS = (
    "wrong_version_number",
    "wrong version number",
    "record_layer_failure",
    "record layer failure",
    "packet_length_too_long",
    "packet length too long",
    "http_request",
    "unknown_protocol",
)


class HandshakeError(Exception):
    """A handshake that did not complete; ``kind`` tells the callers which cause applies."""

    def __init__(self, kind: HandshakeKind, detail: str) -> None:
        super().__init__(detail)
        self.kind: HandshakeKind = kind
        self.detail = detail


@dataclass(frozen=True, slots=True)
class TlsInfo:
    """A completed handshake: protocol version, issuer of the peer's certificate, time."""

    version: str
    issuer: str
    tls_ms: float


def issuer_of(der: bytes) -> str:
    """The issuer of a DER certificate as an RFC 4514 string ("CN=...,O=...")."""
    return x509.load_der_x509_certificate(der).issuer.rfc4514_string()


def _speaks_plain(exc: ssl.SSLError) -> bool:
    text = f"{exc.reason or ''} {exc}".lower()
    return any(marker in text for marker in _NOT_TLS)


async def handshake(
    stream: Stream, hostname: str, context: ssl.SSLContext, seconds: float
) -> TlsInfo:
    """Upgrade ``stream`` to TLS in place, checking the certificate for ``hostname``."""
    start = now()
    try:
        async with asyncio.timeout(seconds):
            # asyncio's own handshake timeout stays behind ours, so ours is the one that fires.
            await stream.writer.start_tls(
                context, server_hostname=hostname, ssl_handshake_timeout=seconds + 1.0
            )
    except TimeoutError as exc:
        raise HandshakeError("timeout", f"did not finish within {seconds:g} s") from exc
    except ssl.SSLCertVerificationError as exc:
        raise HandshakeError("untrusted", exc.verify_message or str(exc)) from exc
    except ssl.SSLError as exc:
        kind: HandshakeKind = "plain" if _speaks_plain(exc) else "failed"
        raise HandshakeError(kind, exc.reason or str(exc)) from exc
    except ConnectionResetError as exc:
        # A reset right after the ClientHello is the mark of SNI filtering.
        raise HandshakeError("failed", "connection reset during the handshake") from exc
    except OSError as exc:
        raise HandshakeError("failed", f"connection lost during the handshake ({exc})") from exc
    tls_ms = elapsed_ms(start)
    ssl_object = stream.writer.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject):
        raise HandshakeError("failed", "no TLS session after the handshake")
    der = ssl_object.getpeercert(binary_form=True)
    return TlsInfo(ssl_object.version() or "TLS", issuer_of(der) if der else "unknown", tls_ms)


@functools.cache
def _unverified() -> ssl.SSLContext:
    """A context that accepts any certificate: only to read the one a handshake refused."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def untrusted_issuer(
    reopen: Callable[[], Awaitable[Stream]], hostname: str, budget: float
) -> str | None:
    """Who issued the certificate a verified handshake refused, or None if it cannot be read.

    A second handshake that verifies nothing reads the chain the first one rejected; it
    runs within ``budget`` seconds, what is left of the TLS phase's deadline.
    """
    if budget <= 0:
        return None
    try:
        async with asyncio.timeout(budget):
            stream = await reopen()
            try:
                await stream.writer.start_tls(_unverified(), server_hostname=hostname)
                ssl_object = stream.writer.get_extra_info("ssl_object")
                der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
            finally:
                stream.abort()
        return issuer_of(der) if der else None
    except (TimeoutError, OSError, ssl.SSLError, ValueError, ProbeFailure):
        return None


__all__ = ["HandshakeError", "TlsInfo", "handshake", "issuer_of", "untrusted_issuer"]
