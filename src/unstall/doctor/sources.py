"""Which sources doctor probes: the machine's own, read from the toolchains, or --source.

Defaults are never written in unstall: the Go module proxies and checksum database come
from ``go env``, the pip index from pip and the npm registry from npm, as each tool
would use them now.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlsplit

from unstall.doctor.model import Source, SourceKind
from unstall.errors import UsageError
from unstall.gotool.env import parse_goproxy

# (argv) -> stdout of a successful run, or None (missing tool, failure, timeout)
ReadCommand = Callable[[Sequence[str]], str | None]

# pip keeps its default index in its own code; asking pip itself keeps unstall free of
# a copy that could go stale.
_PIP_DEFAULT_INDEX = ("from pip._internal.models.index import PyPI; print(PyPI.simple_url)",)


def checksum_db_name(gosumdb: str) -> str | None:
    """The database name in GOSUMDB (``name[+key] [url]``); None when it is off.

    An explicit URL does not change the name a proxy is asked about: go asks each
    proxy for ``/sumdb/<name>/supported`` before using the URL.
    """
    value = gosumdb.strip()
    if not value or value == "off":
        return None
    return value.split()[0].split("+", 1)[0] or None


def go_sources(go_env: Mapping[str, str]) -> list[Source]:
    """Each GOPROXY entry, and the checksum database through each of them."""
    proxies = parse_goproxy(go_env.get("GOPROXY", "")).proxies
    sumdb = checksum_db_name(go_env.get("GOSUMDB", ""))
    found = [Source(p.url, SourceKind.GOPROXY, "go env GOPROXY") for p in proxies]
    if sumdb is not None:
        found += [
            Source(f"{p.url}/sumdb/{sumdb}/supported", SourceKind.SUMDB, "go env GOSUMDB")
            for p in proxies
        ]
    return found


def pip_index(environ: Mapping[str, str], read: ReadCommand) -> str | None:
    """The index pip would use: PIP_INDEX_URL, pip's configuration, or pip's default.

    The user's ``python3`` on PATH is asked first (its pip reads their configuration),
    then the interpreter running unstall.
    """
    if environ.get("PIP_INDEX_URL"):
        return environ["PIP_INDEX_URL"]
    for python in dict.fromkeys(("python3", sys.executable)):
        configured = read([python, "-m", "pip", "config", "get", "global.index-url"])
        if configured and configured.strip():
            return configured.strip()
        default = read([python, "-c", *_PIP_DEFAULT_INDEX])
        if default and default.strip():
            return default.strip()
    return None


def npm_registry(environ: Mapping[str, str], read: ReadCommand) -> str | None:
    """The registry npm would use (its config includes the environment and its default)."""
    for name in ("NPM_CONFIG_REGISTRY", "npm_config_registry"):
        if environ.get(name):
            return environ[name]
    answer = read(["npm", "config", "get", "registry"])
    value = answer.strip() if answer else ""
    return value if value.startswith(("http://", "https://")) else None


def machine_sources(
    go_env: Mapping[str, str] | None, environ: Mapping[str, str], read: ReadCommand
) -> list[Source]:
    """Every source this machine's installs use, in a stable order."""
    found = go_sources(go_env) if go_env is not None else []
    pip = pip_index(environ, read)
    if pip:
        found.append(Source(pip, SourceKind.PIP, "pip"))
    npm = npm_registry(environ, read)
    if npm:
        found.append(Source(npm, SourceKind.NPM, "npm config"))
    return found


def given_sources(urls: Sequence[str]) -> list[Source]:
    """``--source`` URLs, checked: http(s) with a host."""
    found = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(
                f"--source {url!r} is not an http:// or https:// URL with a host",
                fix="Pass a full URL, e.g. --source https://mirror.example.test/",
            )
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise UsageError(f"--source {url!r}: {exc}") from exc
        found.append(Source(url, SourceKind.URL, "--source"))
    return found


__all__ = [
    "ReadCommand",
    "checksum_db_name",
    "given_sources",
    "go_sources",
    "machine_sources",
    "npm_registry",
    "pip_index",
]
