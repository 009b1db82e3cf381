"""A source URL taken apart into what each layer of a probe needs."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from unstall.doctor.model import ProbeFailure
from unstall.doctor.probe.connect import host_port
from unstall.redact import redact

DEFAULT_PORTS = {"http": 80, "https": 443}


def basic_authorization(username: str | None, password: str | None) -> str | None:
    """The ``Basic`` credentials of a URL's (percent-encoded) user:pass@, if it has any."""
    if username is None:
        return None
    pair = f"{unquote(username)}:{unquote(password or '')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


@dataclass(frozen=True, slots=True)
class Target:
    """Scheme, host, port, request path, Host header and credentials of a probed URL."""

    scheme: str
    host: str
    port: int
    path: str  # origin form: /path?query
    authority: str  # the Host header: host, and :port when not the scheme's default
    authorization: str | None = None  # Basic, from user:pass@ (private package indexes)

    @property
    def absolute(self) -> str:
        """The absolute form a plain HTTP proxy is asked for (credentials left out)."""
        return f"{self.scheme}://{self.authority}{self.path}"

    @property
    def where(self) -> str:
        return host_port(self.host, self.port)


def parse_target(url: str) -> Target:
    """Parse ``url`` or raise :class:`ProbeFailure` (``config-invalid``)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ProbeFailure("config-invalid", f"{redact(url)} is not an http:// or https:// URL")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise ProbeFailure("config-invalid", f"{redact(url)} has an invalid port") from exc
    host = parts.hostname
    if not host:
        raise ProbeFailure("config-invalid", f"{redact(url)} names no host")
    authority = host_port(host, port) if parts.port else (f"[{host}]" if ":" in host else host)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    authorization = basic_authorization(parts.username, parts.password)
    return Target(scheme, host, port, path, authority, authorization)


__all__ = ["DEFAULT_PORTS", "Target", "basic_authorization", "parse_target"]
