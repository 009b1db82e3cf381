"""The proxy layer: which proxy applies to a URL, reaching it, and the CONNECT tunnel."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

from unstall.doctor.model import ProbeFailure
from unstall.doctor.probe.connect import Stream, connect_first, host_port
from unstall.doctor.probe.dns import is_ip_literal, resolve
from unstall.doctor.probe.http import auth_schemes, read_head, request_bytes, status_text
from unstall.doctor.probe.options import ProbeOptions
from unstall.doctor.probe.target import DEFAULT_PORTS, basic_authorization
from unstall.doctor.probe.timing import PhaseLog, elapsed_ms, now
from unstall.doctor.probe.tls import HandshakeError, handshake
from unstall.http.client import USER_AGENT
from unstall.redact import redact

# Reaching the proxy failed: the proxy's own causes, so the target is not blamed. A
# resolver that does not answer stays a DNS finding: the proxy is not the problem then.
_PROXY_CAUSE = {
    "dns-nxdomain": "proxy-unreachable",
    "dns-error": "proxy-unreachable",
    "tcp-timeout": "proxy-timeout",
    "tcp-unreachable": "proxy-unreachable",
    "tcp-refused": "proxy-refused",
    "tcp-reset": "proxy-refused",
}


@dataclass(frozen=True, slots=True)
class ProxyEndpoint:
    """A parsed proxy URL; ``shown`` is the URL with its credentials redacted."""

    scheme: str
    host: str
    port: int
    shown: str
    authorization: str | None = None  # a Proxy-Authorization value from user:pass@


def _first(environ: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


def _split_entry(entry: str) -> tuple[str, int | None]:
    """NO_PROXY entry -> (host or CIDR, port or None); a bare IPv6 address has no port."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif entry.count(":") == 1:
        host, _, port = entry.partition(":")
    else:
        host, port = entry, ""
    return host, int(port) if port.isdigit() else None


def _ip_in(host: str, entry: str) -> bool:
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False


def bypasses(no_proxy: str, host: str, port: int) -> bool:
    """Whether a NO_PROXY value exempts ``host:port``.

    Entries are separated by commas or spaces: ``*`` (everything), a name (itself and its
    subdomains; a leading ``.`` or ``*.`` changes nothing), an IP or CIDR, each
    optionally with ``:port``.
    """
    host = host.lower().rstrip(".")
    for raw in no_proxy.replace(",", " ").split():
        entry, entry_port = _split_entry(raw.lower())
        if entry == "*":
            return True
        if entry_port is not None and entry_port != port:
            continue
        if is_ip_literal(host) or "/" in entry or is_ip_literal(entry):
            if _ip_in(host, entry):
                return True
            continue
        name = entry.removeprefix("*").lstrip(".").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def parse_proxy(url: str) -> ProxyEndpoint:
    """A proxy URL as curl and go take it: no scheme means ``http://``."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = parts.scheme.lower()
    shown = redact(url)
    if scheme not in DEFAULT_PORTS:
        raise ProbeFailure(
            "proxy-protocol", f"proxy {shown}: only http:// and https:// proxies can be probed"
        )
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise ProbeFailure("config-invalid", f"proxy {shown} has an invalid port") from exc
    if not parts.hostname:
        raise ProbeFailure("config-invalid", f"proxy {shown} names no host")
    authorization = basic_authorization(parts.username, parts.password)
    return ProxyEndpoint(scheme, parts.hostname, port, shown, authorization)


def proxy_for(scheme: str, host: str, port: int, options: ProbeOptions) -> ProxyEndpoint | None:
    """The proxy a request to ``scheme://host:port`` goes through, or None for direct.

    ``options.proxy`` always applies; otherwise the environment decides like go and curl:
    HTTPS_PROXY (https) or HTTP_PROXY (http), then ALL_PROXY, either case, unless NO_PROXY
    exempts the host.
    """
    if options.proxy:
        return parse_proxy(options.proxy)
    env = options.environ
    upper = "HTTPS_PROXY" if scheme == "https" else "HTTP_PROXY"
    url = _first(env, upper, upper.lower(), "ALL_PROXY", "all_proxy")
    if url is None:
        return None
    no_proxy = _first(env, "NO_PROXY", "no_proxy")
    if no_proxy is not None and bypasses(no_proxy, host, port):
        return None
    return parse_proxy(url)


async def _reach(
    proxy: ProxyEndpoint, addresses: tuple[str, ...], options: ProbeOptions, log: PhaseLog
) -> Stream:
    """TCP (and TLS for an https:// proxy) to the proxy itself."""
    try:
        connected = await connect_first(proxy.host, addresses, proxy.port, options.timeout)
    except ProbeFailure as failure:
        raise _blame_proxy(proxy, failure) from failure
    log.details.extend((f"proxy {label}", text) for label, text in connected.attempts)
    stream = connected.stream
    if proxy.scheme == "https":
        try:
            info = await handshake(stream, proxy.host, options.ssl_context(), options.timeout)
        except HandshakeError as exc:
            stream.abort()
            raise _proxy_tls_failure(proxy, exc) from exc
        log.note("proxy tls", f"{info.version}, issuer {info.issuer}")
    return stream


def _blame_proxy(proxy: ProxyEndpoint, failure: ProbeFailure) -> ProbeFailure:
    cause = _PROXY_CAUSE.get(failure.cause, failure.cause)
    return ProbeFailure(cause, f"proxy {proxy.shown}: {failure.message}")


def _proxy_tls_failure(proxy: ProxyEndpoint, exc: HandshakeError) -> ProbeFailure:
    where = f"proxy {proxy.shown}"
    if exc.kind == "plain":
        return ProbeFailure(
            "proxy-protocol",
            f"{where} answered the TLS handshake in plain text ({exc.detail}): it is a "
            "plain HTTP proxy, so its URL must start with http://",
        )
    if exc.kind == "timeout":
        return ProbeFailure("proxy-timeout", f"the TLS handshake with {where} {exc.detail}")
    if exc.kind == "untrusted":
        return ProbeFailure("tls-untrusted", f"certificate of {where} does not verify: {exc}")
    return ProbeFailure("tls-error", f"TLS handshake with {where} failed: {exc.detail}")


async def _connect(
    stream: Stream, proxy: ProxyEndpoint, authority: str, seconds: float
) -> h11.Response:
    """Ask for a tunnel to ``authority``; the 2xx response, or a proxy failure."""
    where = f"proxy {proxy.shown}"
    conn = h11.Connection(h11.CLIENT)
    headers = [("Host", authority), ("User-Agent", USER_AGENT)]
    if proxy.authorization is not None:
        headers.append(("Proxy-Authorization", proxy.authorization))
    request = request_bytes(conn, "CONNECT", authority, headers)
    try:
        async with asyncio.timeout(seconds):
            stream.writer.write(request)
            await stream.writer.drain()
            response = await read_head(conn, stream.reader)
    except TimeoutError as exc:
        raise ProbeFailure(
            "proxy-timeout", f"{where} did not answer CONNECT {authority} within {seconds:g} s"
        ) from exc
    except EOFError as exc:
        raise ProbeFailure("proxy-refused", f"{where} closed the connection on CONNECT") from exc
    except h11.RemoteProtocolError as exc:
        raise ProbeFailure("proxy-protocol", f"{where} did not answer in HTTP: {exc}") from exc
    except OSError as exc:
        raise ProbeFailure("proxy-refused", f"{where} reset the connection: {exc}") from exc
    said = f"{where} answered {status_text(response)} to CONNECT {authority}"
    if response.status_code == 407:
        schemes = auth_schemes(response, "proxy-authenticate")
        raise ProbeFailure("proxy-auth-required", f"{said}; it offers {schemes}")
    if not 200 <= response.status_code < 300:
        raise ProbeFailure("proxy-refused", said)
    return response


async def open_via_proxy(
    proxy: ProxyEndpoint,
    tunnel_to: tuple[str, int] | None,
    options: ProbeOptions,
    log: PhaseLog,
) -> Stream:
    """A stream through ``proxy``: a CONNECT tunnel to ``tunnel_to`` (https targets) or
    the proxy itself (http targets, which are then asked in absolute form).

    Records the proxy's DNS time and, as ``connect_ms``, TCP + proxy TLS + CONNECT.
    """
    log.note("proxy", proxy.shown)
    try:
        resolution = await resolve(proxy.host, options)
    except ProbeFailure as failure:
        raise _blame_proxy(proxy, failure) from failure
    log.dns_ms = resolution.dns_ms
    log.note("proxy dns", f"{', '.join(resolution.addresses)} ({resolution.note})")
    start = now()
    stream = await _reach(proxy, resolution.addresses, options, log)
    if tunnel_to is not None:
        authority = host_port(*tunnel_to)
        try:
            response = await _connect(stream, proxy, authority, options.timeout)
        except BaseException:
            stream.abort()
            raise
        log.note("CONNECT", status_text(response))
    log.connect_ms = elapsed_ms(start)
    return stream


__all__ = ["ProxyEndpoint", "bypasses", "open_via_proxy", "parse_proxy", "proxy_for"]
