"""Reading ``go env`` and interpreting GOPROXY, GOPRIVATE and GONOPROXY as go does."""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from unstall.errors import ToolchainError, UsageError
from unstall.goproxy.upstream import UpstreamSpec

_GO_ENV_TIMEOUT = 60.0


def find_go(env: Mapping[str, str] | None = None) -> str:
    """Path of the go binary, or a ToolchainError that says how to install it."""
    found = shutil.which("go", path=(env or os.environ).get("PATH"))
    if found is None:
        raise ToolchainError("the go command was not found on PATH", cause="go-missing")
    return found


def read_go_env(
    go: str, *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``go env -json`` as a dict (run in ``cwd`` so GOMOD names that module)."""
    try:
        done = subprocess.run(
            [go, "env", "-json"],
            cwd=cwd,
            env=dict(env) if env is not None else None,
            capture_output=True,
            text=True,
            timeout=_GO_ENV_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolchainError(f"`go env -json` failed: {exc}") from exc
    if done.returncode != 0:
        raise ToolchainError(f"`go env -json` failed: {done.stderr.strip()}")
    try:
        values = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise ToolchainError(f"`go env -json` printed no JSON: {exc}") from exc
    return {str(k): str(v) for k, v in values.items()}


@dataclass(frozen=True, slots=True)
class ProxyList:
    """GOPROXY parsed: the proxy URLs, and what follows them (direct, off or nothing)."""

    proxies: tuple[UpstreamSpec, ...]
    tail: str | None
    tail_fallthrough_on_error: bool

    def go_value(self, local_url: str) -> str:
        """The GOPROXY to give go when ``local_url`` stands for every proxy in the list."""
        if self.tail is None:
            return local_url
        return f"{local_url}{'|' if self.tail_fallthrough_on_error else ','}{self.tail}"


def parse_goproxy(value: str, *, mirrors: Sequence[str] = ()) -> ProxyList:
    """Split GOPROXY on ``,`` and ``|`` keeping each separator (Go 1.15 semantics).

    Entries after ``direct`` or ``off`` are unreachable for go, so they are ignored
    too. Configured ``mirrors`` join the proxies (falling through on any error).
    A scheme-less entry means https, as for go.
    """
    entries: list[tuple[str, bool]] = []
    current = ""
    for char in value.strip():
        if char in ",|":
            entries.append((current.strip(), char == "|"))
            current = ""
        else:
            current += char
    entries.append((current.strip(), False))
    proxies: list[UpstreamSpec] = []
    tail: str | None = None
    tail_fallthrough = False
    previous_fallthrough = False
    for url, fallthrough in entries:
        if not url:
            continue
        if url in ("direct", "off"):
            tail, tail_fallthrough = url, previous_fallthrough
            break
        if "://" not in url:
            url = "https://" + url
        if not url.startswith(("http://", "https://")):
            raise UsageError(
                f"GOPROXY entry {url!r} is not an http(s) proxy",
                fix="A file:// proxy needs no network: run plain go; otherwise use http(s) URLs.",
            )
        proxies.append(UpstreamSpec(url, fallthrough_on_error=fallthrough))
        previous_fallthrough = fallthrough
    known = {p.url.rstrip("/") for p in proxies}
    for mirror in mirrors:
        url = mirror if "://" in mirror else "https://" + mirror
        if url.rstrip("/") not in known:
            known.add(url.rstrip("/"))
            proxies.append(UpstreamSpec(url, fallthrough_on_error=True))
    return ProxyList(tuple(proxies), tail, tail_fallthrough)


def match_prefix_patterns(patterns: str, path: str) -> bool:
    """GOPRIVATE-style matching: a glob matches a path prefix of as many elements as it has."""
    for pattern in (p.strip().rstrip("/") for p in patterns.split(",")):
        if not pattern:
            continue
        depth = pattern.count("/") + 1
        elements = path.split("/")
        if len(elements) < depth:
            continue
        prefix = "/".join(elements[:depth])
        # path.Match: '*' does not cross '/', which holds here since depths are equal;
        # its negated class is '[^...]', fnmatch's is '[!...]'.
        if fnmatch.fnmatchcase(prefix, pattern.replace("[^", "[!")):
            return True
    return False


def go_env_or_environ() -> dict[str, str]:
    """go's view of its environment (GOPROXY, GOPRIVATE, ...), or the process environment
    when go is not installed (a proxy server or a cache warmer does not need go)."""
    try:
        return read_go_env(find_go())
    except ToolchainError:
        return dict(os.environ)


def private_patterns(go_env: Mapping[str, str]) -> str:
    """Patterns of modules never sent to a proxy: GONOPROXY, defaulting to GOPRIVATE."""
    return go_env.get("GONOPROXY") or go_env.get("GOPRIVATE") or ""


def gosum_paths(go_env: Mapping[str, str]) -> list[Path]:
    """go.sum of the main module and go.work.sum of the workspace, when there are such."""
    paths = []
    gomod = go_env.get("GOMOD", "")
    if gomod and gomod != os.devnull and gomod.endswith("go.mod"):
        paths.append(Path(gomod).with_name("go.sum"))
    gowork = go_env.get("GOWORK", "")
    if gowork and gowork != "off" and gowork.endswith(".work"):
        paths.append(Path(gowork).with_name("go.work.sum"))
        paths.append(Path(gowork).with_name("go.sum"))
    return paths


__all__ = [
    "ProxyList",
    "find_go",
    "go_env_or_environ",
    "gosum_paths",
    "match_prefix_patterns",
    "parse_goproxy",
    "private_patterns",
    "read_go_env",
]
