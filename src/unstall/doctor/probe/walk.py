"""One sample of one source: down the layers, stopping at the first that fails."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import h11

from unstall.doctor.causes import cause_for
from unstall.doctor.model import Phases, ProbeFailure, SourceKind, Verdict
from unstall.doctor.probe.connect import Stream, connect_first, open_stream
from unstall.doctor.probe.dns import resolve
from unstall.doctor.probe.http import get_head, header_values, judge, status_text
from unstall.doctor.probe.options import ProbeOptions
from unstall.doctor.probe.proxy import ProxyEndpoint, open_via_proxy, proxy_for
from unstall.doctor.probe.target import Target
from unstall.doctor.probe.timing import PhaseLog, now
from unstall.doctor.probe.tls import HandshakeError, handshake, untrusted_issuer
from unstall.doctor.probe.transfer import read_body

Reopen = Callable[[], Awaitable[Stream]]


@dataclass(frozen=True, slots=True)
class Sample:
    """What one walk down the layers found; ``status`` is the HTTP status line if reached."""

    verdict: Verdict
    layer: str
    cause: str
    message: str
    phases: Phases
    details: tuple[tuple[str, str], ...]
    status: str = ""


async def _open_direct(
    target: Target, options: ProbeOptions, log: PhaseLog
) -> tuple[Stream, Reopen]:
    resolution = await resolve(target.host, options)
    log.dns_ms = resolution.dns_ms
    log.note("dns", f"{', '.join(resolution.addresses)} ({resolution.note})")
    connected = await connect_first(target.host, resolution.addresses, target.port, options.timeout)
    log.details.extend(connected.attempts)
    log.connect_ms = connected.connect_ms
    stream = connected.stream

    async def reopen() -> Stream:
        return await open_stream(stream.ip, stream.port, options.timeout)

    return stream, reopen


async def _open_proxied(
    proxy: ProxyEndpoint, target: Target, options: ProbeOptions, log: PhaseLog
) -> tuple[Stream, Reopen]:
    # https goes through a CONNECT tunnel; plain http is asked of the proxy itself.
    tunnel = (target.host, target.port) if target.scheme == "https" else None
    stream = await open_via_proxy(proxy, tunnel, options, log)

    async def reopen() -> Stream:
        return await open_via_proxy(proxy, tunnel, options, PhaseLog())

    return stream, reopen


async def _secure(
    stream: Stream, target: Target, options: ProbeOptions, log: PhaseLog, reopen: Reopen
) -> None:
    start = now()
    try:
        info = await handshake(stream, target.host, options.ssl_context(), options.timeout)
    except HandshakeError as exc:
        raise await _tls_failure(exc, target, reopen, options.timeout - (now() - start)) from exc
    log.tls_ms = info.tls_ms
    log.note("tls", info.version)
    log.note("issuer", info.issuer)


async def _tls_failure(
    exc: HandshakeError, target: Target, reopen: Reopen, budget: float
) -> ProbeFailure:
    where = target.where
    if exc.kind == "timeout":
        return ProbeFailure("tls-timeout", f"the TLS handshake with {where} {exc.detail}")
    if exc.kind == "untrusted":
        issuer = await untrusted_issuer(reopen, target.host, budget)
        named = f"issued by {issuer}" if issuer else "its issuer could not be read"
        return ProbeFailure(
            "tls-untrusted",
            f"the certificate of {where} does not verify ({exc.detail}); {named}: "
            "possible TLS interception",
        )
    if exc.kind == "plain":
        return ProbeFailure(
            "tls-plain-http", f"{where} answered the TLS handshake in plain HTTP ({exc.detail})"
        )
    return ProbeFailure("tls-error", f"TLS handshake with {where} failed: {exc.detail}")


def _request(target: Target, proxy: ProxyEndpoint | None) -> tuple[str, list[tuple[str, str]]]:
    """Request target and headers: absolute form when a proxy is asked for an http URL."""
    headers = [("Host", target.authority)]
    if target.authorization is not None:
        headers.append(("Authorization", target.authorization))
    if proxy is None or target.scheme == "https":
        return target.path, headers
    if proxy.authorization is not None:
        headers.append(("Proxy-Authorization", proxy.authorization))
    return target.absolute, headers


async def _exchange(
    stream: Stream,
    target: Target,
    kind: SourceKind,
    proxy: ProxyEndpoint | None,
    options: ProbeOptions,
    log: PhaseLog,
) -> Sample:
    where = target.where if proxy is None else f"{target.where} through proxy {proxy.shown}"
    conn = h11.Connection(h11.CLIENT)
    path, headers = _request(target, proxy)
    head = await get_head(stream, conn, path, headers, where=where, seconds=options.timeout)
    response = head.response
    log.ttfb_ms = head.ttfb_ms
    status = status_text(response)
    log.note("status", status)
    for location in header_values(response, "location"):
        log.note("location", location)
    failure = judge(kind, response, where)
    if failure is not None:
        raise failure
    lengths = header_values(response, "content-length")
    body = await read_body(
        stream,
        conn,
        where=where,
        expected=int(lengths[0]) if lengths and lengths[0].isdigit() else None,
        sent_at=head.sent_at,
        seconds=options.timeout,
        limit=options.transfer_bytes,
        min_throughput=options.min_throughput,
    )
    log.transfer_ms = body.transfer_ms
    log.throughput_kbps = body.throughput_kbps
    log.note("body", f"{body.received} bytes")
    if body.cause == "transfer-slow":
        return _sample(Verdict.SLOW, body.cause, body.message, log, status)
    if body.cause != "ok":
        raise ProbeFailure(body.cause, body.message)
    return _sample(Verdict.OK, "ok", status, log, status)


def _sample(verdict: Verdict, cause: str, message: str, log: PhaseLog, status: str) -> Sample:
    layer = cause_for(cause).layer
    return Sample(verdict, layer, cause, message, log.phases(), tuple(log.details), status)


async def walk(target: Target, kind: SourceKind, options: ProbeOptions) -> Sample:
    """Probe ``target`` once; a failing layer ends the walk with a FAIL sample."""
    log = PhaseLog()
    try:
        proxy = proxy_for(target.scheme, target.host, target.port, options)
        if proxy is None:
            stream, reopen = await _open_direct(target, options, log)
        else:
            stream, reopen = await _open_proxied(proxy, target, options, log)
        try:
            if target.scheme == "https":
                await _secure(stream, target, options, log, reopen)
            return await _exchange(stream, target, kind, proxy, options, log)
        finally:
            stream.abort()
    except ProbeFailure as failure:
        return Sample(
            Verdict.FAIL,
            failure.layer,
            failure.cause,
            failure.message,
            log.phases(),
            tuple(log.details),
        )


__all__ = ["Sample", "walk"]
