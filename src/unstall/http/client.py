"""The one place that builds httpx clients: proxies and CA bundles from the environment, HTTP/2."""

from __future__ import annotations

import ssl

import httpx

from unstall import __version__
from unstall.resilience.timeouts import Timeouts

USER_AGENT = f"unstall/{__version__}"
_MAX_REDIRECTS = 10  # what go allows


async def _refuse_downgrade(response: httpx.Response) -> None:
    """go refuses https -> http redirects; so do we, so both see the same mirror."""
    location = response.headers.get("location", "")
    if response.is_redirect and response.request.url.scheme == "https":
        target = response.request.url.join(location)
        if target.scheme != "https":
            raise httpx.UnsupportedProtocol(f"refusing redirect from https to {target}")


def make_client(
    timeouts: Timeouts,
    *,
    max_connections: int = 64,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An AsyncClient whose own timeouts are only a backstop behind :class:`PhaseGuard`.

    Certificates are checked against the system trust store, as go does, not a bundle
    shipped with Python: a corporate CA installed for go works for unstall too.
    OpenSSL reads SSL_CERT_FILE and SSL_CERT_DIR for it, and ``trust_env`` keeps
    HTTP(S)_PROXY and NO_PROXY working as users configured them for other tools.
    """
    backstop = httpx.Timeout(
        connect=timeouts.connect + timeouts.tls + 1.0,
        read=max(timeouts.first_byte, timeouts.stall) + 1.0,
        write=timeouts.total,
        pool=timeouts.total,
    )
    return httpx.AsyncClient(
        http2=transport is None,
        timeout=backstop,
        follow_redirects=True,
        max_redirects=_MAX_REDIRECTS,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=32),
        headers={"User-Agent": USER_AGENT},
        trust_env=True,
        verify=ssl.create_default_context(),
        transport=transport,
        event_hooks={"response": [_refuse_downgrade]},
    )


__all__ = ["USER_AGENT", "make_client"]
