"""Exporting a command's metrics: a node-exporter textfile or a Prometheus Pushgateway.

A one-shot command (go, prefetch, doctor, fleet) has no /metrics to scrape, so it
leaves its metrics where Prometheus finds them: a ``*.prom`` file in the textfile
collector's directory, replaced atomically, or a push to a Pushgateway, grouped by
command. Failures become :class:`MetricsExportError` with the path or the redacted
URL and what to do; the caller decides that they never change an exit code.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Final
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import ProxyHandler, Request, build_opener

from prometheus_client import push_to_gateway, write_to_textfile
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from unstall.errors import MetricsExportError
from unstall.observe.metrics import Metrics
from unstall.redact import redact

PUSH_TIMEOUT: Final = 10.0
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain"})
# Only serve's store sets it; a command's export would claim an empty cache.
_NOT_EXPORTED: Final = frozenset({"unstall_cache_zip_bytes"})

_Send = Callable[[], None]


class _Exported:
    """A command's metrics as exported: serve-only families left out, ``labels`` added."""

    def __init__(self, metrics: Metrics, labels: Mapping[str, str]) -> None:
        self._metrics = metrics
        self._labels = dict(labels)

    def collect(self) -> Iterator[Metric]:
        for family in self._metrics.registry.collect():
            if family.name in _NOT_EXPORTED:
                continue
            exported = Metric(family.name, family.documentation, family.type, family.unit)
            exported.samples = [
                sample._replace(labels={**self._labels, **sample.labels})
                for sample in family.samples
            ]
            yield exported


def write_textfile(
    metrics: Metrics, path: Path, *, labels: Mapping[str, str] | None = None
) -> None:
    """Write ``metrics`` in the text exposition format to ``path``, atomically.

    ``labels`` are added to every sample: with ``{"command": "go"}`` the files of
    different commands in one textfile-collector directory never hold the same series
    (the collector rejects duplicates), as the Pushgateway's grouping does for pushes.

    prometheus-client writes a temporary file next to ``path`` (named ``path`` plus
    pid and thread, so the textfile collector, which reads ``*.prom`` only, never
    picks it up) and renames it over ``path``: a reader sees the old file or the new
    one, never part of one. The directory is created when missing.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(path), _Exported(metrics, labels or {}))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise MetricsExportError(
            f"cannot write the metrics textfile {path}: {reason}",
            fix=f"Make {path.parent} writable for this user, or pass another "
            "--metrics-textfile PATH (the textfile collector's directory, a name ending .prom).",
        ) from exc


def read_textfile_sample(path: Path, name: str, labels: Mapping[str, str]) -> float | None:
    """The value of one sample in an earlier textfile, or None (no file, no such sample).

    Lets a run carry a value over from the previous run's file (the time of the last
    success, which a failed run would otherwise erase when it replaces the file).
    """
    try:
        text = path.read_text(encoding="utf-8")
        families = list(text_string_to_metric_families(text))
    except (OSError, UnicodeDecodeError, ValueError):
        return None  # unreadable or not ours: nothing to carry over
    for family in families:
        for sample in family.samples:
            if sample.name == name and sample.labels == dict(labels):
                return float(sample.value)
    return None


def push(
    metrics: Metrics,
    url: str,
    *,
    job: str = "unstall",
    grouping: Mapping[str, str] | None = None,
    timeout: float = PUSH_TIMEOUT,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Replace the ``job``/``grouping`` group on the Pushgateway at ``url`` with ``metrics``.

    Credentials in the URL (``https://user:pass@gateway:9091``) are sent as HTTP basic
    auth and appear in no error. HTTP(S)_PROXY and NO_PROXY from ``environ`` apply,
    except to loopback gateways, which are always reached directly.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MetricsExportError(
            f"--pushgateway {redact(url)!r} is not an http:// or https:// URL",
            cause="config-invalid",
            fix="Pass the Pushgateway's base URL, e.g. --pushgateway http://pushgateway.example.test:9091.",
        )
    host = parts.hostname
    netloc = parts.netloc.rpartition("@")[2]
    gateway = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    credentials = None
    if parts.username is not None:
        credentials = (unquote(parts.username), unquote(parts.password or ""))
    proxies = _proxies(host, os.environ if environ is None else environ)

    def handler(
        url: str,
        method: str,
        timeout: float | None,
        headers: list[tuple[str, str]],
        data: bytes,
    ) -> _Send:
        return _sender(url, method, timeout, headers, data, proxies, credentials)

    try:
        push_to_gateway(
            gateway,
            job=job,
            registry=_Exported(metrics, {}),  # the grouping key labels what is pushed
            grouping_key=dict(grouping or {}),
            timeout=timeout,
            handler=handler,
        )
    except HTTPError as exc:
        raise MetricsExportError(
            f"the Pushgateway at {redact(url)} answered {exc.code} {exc.reason}",
            fix="Check the URL (the gateway's base, without /metrics) and its credentials.",
        ) from exc
    except (URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, URLError) else exc
        raise MetricsExportError(
            f"cannot reach the Pushgateway at {redact(url)}: {redact(str(reason))}",
            fix="Check that the Pushgateway runs and that this host can reach it.",
        ) from exc


def _sender(
    url: str,
    method: str,
    timeout: float | None,
    headers: list[tuple[str, str]],
    data: bytes,
    proxies: dict[str, str],
    credentials: tuple[str, str] | None,
) -> _Send:
    def send() -> None:
        request = Request(url, data=data, method=method)
        for name, value in headers:
            request.add_header(name, value)
        if credentials is not None:
            token = base64.b64encode(":".join(credentials).encode()).decode("ascii")
            request.add_header("Authorization", f"Basic {token}")
        # Our own ProxyHandler: the proxies come from the injected environment, not
        # from whatever urllib would read from this process's.
        opener = build_opener(ProxyHandler(proxies))
        with opener.open(request, timeout=timeout) as response:
            response.read()

    return send


def _proxies(host: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The proxy per scheme for ``host``, from ``environ`` as curl and go read it."""
    if _is_loopback(host):
        return {}
    if _no_proxy(host, _variable(environ, "no_proxy")):
        return {}
    found = {scheme: _variable(environ, f"{scheme}_proxy") for scheme in ("http", "https")}
    return {scheme: value for scheme, value in found.items() if value}


def _variable(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name) or environ.get(name.upper()) or ""


def _no_proxy(host: str, no_proxy: str) -> bool:
    """NO_PROXY as curl reads it: ``*``, or names matching the host or a parent domain."""
    host = host.lower().rstrip(".")
    for entry in no_proxy.split(","):
        name = entry.strip().lower().lstrip("*").lstrip(".").rstrip(".")
        name = name.rsplit(":", 1)[0] if name.count(":") == 1 else name  # drop a port
        if entry.strip() == "*" or (name and (host == name or host.endswith("." + name))):
            return True
    return False


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


__all__ = [
    "PUSH_TIMEOUT",
    "push",
    "read_textfile_sample",
    "write_textfile",
]
