"""How a probe runs: per-phase deadline, samples, proxy, resolver, trust store."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType


def _no_environ() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    """Settings of :func:`unstall.doctor.probe.probe_source`.

    ``timeout`` is the deadline of *each* phase (DNS, TCP, proxy, TLS, HTTP head,
    transfer), so a failing source costs at most one ``timeout`` per phase it reaches.
    ``proxy`` overrides the proxy ``environ`` names (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY,
    either case); ``dns_server`` replaces the nameservers of /etc/resolv.conf.
    """

    timeout: float = 5.0
    samples: int = 1
    proxy: str | None = None
    dns_server: tuple[str, int] | None = None
    environ: Mapping[str, str] = field(default_factory=_no_environ)
    transfer_bytes: int = 256 * 1024
    min_throughput: int = 2048  # bytes/s, the download engine's default minimum
    ssl_context: Callable[[], ssl.SSLContext] = ssl.create_default_context
    hosts_file: Path = Path("/etc/hosts")

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive, not {self.timeout}")
        if self.samples < 1:
            raise ValueError(f"samples must be at least 1, not {self.samples}")
        if self.transfer_bytes < 1:
            raise ValueError(f"transfer_bytes must be at least 1, not {self.transfer_bytes}")


__all__ = ["ProbeOptions"]
