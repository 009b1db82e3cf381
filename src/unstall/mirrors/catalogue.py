"""The candidates to rank: the shipped catalogue, configured mirrors, --candidate, and the
source each toolchain uses now (read from the toolchain, never written down)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from urllib.parse import urlsplit

from unstall.doctor.sources import ReadCommand, npm_registry, pip_index
from unstall.errors import ConfigError, UsageError
from unstall.gotool.env import parse_goproxy
from unstall.mirrors.model import Candidate, Ecosystem, Sample

CURRENT = "current"


def load_catalogue(text: str | None = None) -> tuple[list[Candidate], dict[Ecosystem, Sample]]:
    """The shipped catalogue (or ``text``): its mirrors and the sample artifact per ecosystem."""
    if text is None:
        text = resources.files("unstall.mirrors").joinpath("catalogue.toml").read_text("utf-8")
    try:
        data = tomllib.loads(text)
        mirrors = [
            Candidate(_url(m["url"]), Ecosystem(m["ecosystem"]), "catalogue", m.get("name", ""))
            for m in data.get("mirror", [])
        ]
        samples = {
            Ecosystem(name): Sample(Ecosystem(name), str(table["project"]))
            for name, table in data.get("sample", {}).items()
        }
    except (tomllib.TOMLDecodeError, KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"the mirror catalogue is malformed: {exc}") from exc
    return mirrors, samples


def current_sources(
    go_env: Mapping[str, str] | None,
    environ: Mapping[str, str],
    read: ReadCommand,
    ecosystems: Sequence[Ecosystem] = tuple(Ecosystem),
) -> list[Candidate]:
    """What each toolchain is configured with now: every GOPROXY proxy, pip's index, npm's
    registry (only the tools of ``ecosystems`` are asked)."""
    found: list[Candidate] = []
    if go_env is not None and Ecosystem.GO in ecosystems:
        found += [
            Candidate(_url(p.url), Ecosystem.GO, CURRENT, "go env GOPROXY")
            for p in parse_goproxy(go_env.get("GOPROXY", "")).proxies
        ]
    pip = pip_index(environ, read) if Ecosystem.PIP in ecosystems else None
    if pip:
        found.append(Candidate(_url(pip), Ecosystem.PIP, CURRENT, "pip"))
    npm = npm_registry(environ, read) if Ecosystem.NPM in ecosystems else None
    if npm:
        found.append(Candidate(_url(npm), Ecosystem.NPM, CURRENT, "npm config"))
    return found


def parse_candidate(text: str, ecosystems: Sequence[Ecosystem]) -> Candidate:
    """``--candidate [ECOSYSTEM=]URL``; the prefix may be left out when one ecosystem is
    ranked."""
    name, sep, url = text.partition("=")
    if sep and name in {e.value for e in Ecosystem} and "://" not in name:
        ecosystem = Ecosystem(name)
    elif len(ecosystems) == 1:
        ecosystem, url = ecosystems[0], text
    else:
        raise UsageError(
            f"--candidate {text!r} does not say which ecosystem it serves",
            fix="Write --candidate go=URL (or pip=, npm=), or rank one --ecosystem.",
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"--candidate {text!r} is not an http:// or https:// URL",
            fix="Pass e.g. --candidate go=https://mirror.example.test",
        )
    return Candidate(_url(url), ecosystem, "--candidate")


def merge(
    groups: Iterable[Iterable[Candidate]], ecosystems: Sequence[Ecosystem]
) -> list[Candidate]:
    """Candidates of the wanted ecosystems, each URL once (the first origin named wins,
    so list "current" first)."""
    seen: set[tuple[Ecosystem, str]] = set()
    found = []
    for group in groups:
        for candidate in group:
            key = (candidate.ecosystem, candidate.url)
            if candidate.ecosystem in ecosystems and key not in seen:
                seen.add(key)
                found.append(candidate)
    return found


def _url(url: str) -> str:
    """One spelling per URL (no trailing slash), so duplicates are found."""
    return url.strip().rstrip("/")


__all__ = ["CURRENT", "current_sources", "load_catalogue", "merge", "parse_candidate"]
