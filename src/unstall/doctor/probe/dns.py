"""The DNS layer: the hosts file first, then dnspython's async resolver, A and AAAA at once."""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import dns.asyncresolver
import dns.exception
import dns.resolver

from unstall.doctor.model import ProbeFailure
from unstall.doctor.probe.options import ProbeOptions
from unstall.doctor.probe.timing import elapsed_ms, now

_RECORD_TYPES = ("A", "AAAA")


@dataclass(frozen=True, slots=True)
class Resolution:
    """The addresses of a host; ``dns_ms`` is None when no lookup was needed."""

    addresses: tuple[str, ...]
    dns_ms: float | None
    note: str


def is_ip_literal(host: str) -> bool:
    """Whether ``host`` is an IPv4 or IPv6 address rather than a name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def hosts_file_addresses(text: str, host: str) -> list[str]:
    """The addresses a hosts file (``text``) gives ``host``, in file order, without repeats."""
    wanted = host.lower().rstrip(".")
    found: list[str] = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2 or not is_ip_literal(fields[0]):
            continue
        names = {name.lower().rstrip(".") for name in fields[1:]}
        if wanted in names and fields[0] not in found:
            found.append(fields[0])
    return found


def _read_hosts(path: Path) -> str:
    # A few hundred bytes at most: reading it inline costs less than a thread hop.
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _resolver(options: ProbeOptions) -> tuple[dns.asyncresolver.Resolver, str]:
    """The resolver to ask and how to name it in messages."""
    if options.dns_server is not None:
        address, port = options.dns_server
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.port = port  # before the nameservers: they take the port set at that time
        resolver.nameservers = [address]
        return resolver, f"DNS server {address}:{port}"
    try:
        resolver = dns.asyncresolver.Resolver(configure=True)
    except dns.exception.DNSException as exc:
        raise ProbeFailure("dns-error", f"no usable resolver configuration: {exc}") from exc
    # Single-label proxy names ("proxy") rely on the search domains, as with getaddrinfo.
    resolver.use_search_by_default = True
    servers = ", ".join(str(server) for server in resolver.nameservers)
    return resolver, f"the system resolver ({servers or 'no nameserver'})"


async def resolve(host: str, options: ProbeOptions) -> Resolution:
    """Every address of ``host``, or :class:`ProbeFailure` with a ``dns-*`` cause."""
    if is_ip_literal(host):
        return Resolution((host,), None, "IP literal: no DNS lookup")
    start = now()
    listed = hosts_file_addresses(_read_hosts(options.hosts_file), host)
    if listed:
        # As the system resolver does (nsswitch "files dns"): the hosts file wins.
        return Resolution(tuple(listed), elapsed_ms(start), f"from {options.hosts_file}")
    resolver, server = _resolver(options)
    resolver.timeout = options.timeout
    resolver.lifetime = options.timeout
    tasks = [
        asyncio.create_task(resolver.resolve(host, rdtype, lifetime=options.timeout))
        for rdtype in _RECORD_TYPES
    ]
    # Our own deadline as well as dnspython's lifetime: the phase must end on time.
    done, pending = await asyncio.wait(tasks, timeout=options.timeout)
    dns_ms = elapsed_ms(start)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    addresses: list[str] = []
    timed_out = bool(pending)
    nxdomain = False
    errors: list[BaseException] = []
    for task in tasks:
        if task not in done:
            continue
        exc = task.exception()
        if exc is None:
            addresses.extend(rdata.to_text() for rdata in task.result())
        elif isinstance(exc, dns.resolver.NXDOMAIN):
            nxdomain = True
        elif isinstance(exc, dns.exception.Timeout):
            timed_out = True
        elif not isinstance(exc, dns.resolver.NoAnswer):
            errors.append(exc)
    if addresses:
        partial = " (one record type unanswered)" if timed_out else ""
        return Resolution(tuple(addresses), dns_ms, f"answered by {server}{partial}")
    if nxdomain:
        raise ProbeFailure("dns-nxdomain", f"{host} does not exist (NXDOMAIN from {server})")
    if timed_out:
        raise ProbeFailure(
            "dns-timeout", f"{server} did not answer for {host} within {options.timeout:g} s"
        )
    if errors:
        raise ProbeFailure("dns-error", f"resolving {host} with {server} failed: {errors[0]}")
    raise ProbeFailure("dns-error", f"{server} has no A or AAAA record for {host}")


__all__ = ["Resolution", "hosts_file_addresses", "is_ip_literal", "resolve"]
