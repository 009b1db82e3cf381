"""What doctor finds: environment checks, probed sources, their phases and verdicts.

Plain records shared by the checks, the probes and the command's output; the JSON
shape of ``unstall doctor --json`` is :func:`report_json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from unstall.doctor.causes import cause_for


class CheckStatus(StrEnum):
    """How an environment finding weighs: ``fail`` breaks installs, ``warn`` may."""

    OK = "ok"
    INFO = "info"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Check:
    """One environment finding; ``message`` and ``fix`` are already redacted."""

    id: str
    status: CheckStatus
    message: str
    fix: str = ""


class SourceKind(StrEnum):
    """What a probed URL is, which decides how its HTTP answer is judged."""

    GOPROXY = "goproxy"  # a GOPROXY entry: any answer below 500 at its root is fine
    SUMDB = "sumdb"  # <proxy>/sumdb/<name>/supported: 404/410 means not proxied
    PIP = "pip"
    NPM = "npm"
    URL = "url"  # given with --source


@dataclass(frozen=True, slots=True)
class Source:
    """A URL to probe and why it is probed."""

    url: str
    kind: SourceKind = SourceKind.URL
    origin: str = "--source"  # where it came from: "go env GOPROXY", "npm config", ...


class Verdict(StrEnum):
    OK = "ok"
    SLOW = "slow"
    FAIL = "fail"


PHASE_KEYS: Final = ("dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "transfer_ms", "throughput_kbps")


@dataclass(frozen=True, slots=True)
class Phases:
    """Time per layer of one probe (or the median over samples); None: not reached.

    Through a proxy, ``dns_ms`` and ``connect_ms`` are the proxy's, and ``connect_ms``
    includes the CONNECT exchange that opens the tunnel.
    """

    dns_ms: float | None = None
    connect_ms: float | None = None
    tls_ms: float | None = None
    ttfb_ms: float | None = None
    transfer_ms: float | None = None
    throughput_kbps: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {key: getattr(self, key) for key in PHASE_KEYS}


class ProbeFailure(Exception):
    """A probe stopped at ``layer`` for ``cause`` (a catalogue id)."""

    def __init__(self, cause: str, message: str, *, layer: str | None = None) -> None:
        super().__init__(message)
        self.cause = cause
        self.layer = layer or cause_for(cause).layer
        self.message = message


@dataclass(frozen=True, slots=True)
class SourceReport:
    """The verdict for one source, with the phases that led to it.

    ``details`` are human-readable facts for the table (addresses, TLS version and
    issuer, proxy and CONNECT status, HTTP status, spread over samples); they are not
    part of the JSON, whose shape is fixed.
    """

    url: str
    verdict: Verdict
    layer: str
    cause: str
    message: str
    fix: str
    phases: Phases
    kind: SourceKind = SourceKind.URL
    details: tuple[tuple[str, str], ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        return {
            "url": self.url,
            "verdict": self.verdict.value,
            "layer": self.layer,
            "cause": self.cause,
            "message": self.message,
            "fix": self.fix,
            "phases": self.phases.as_dict(),
        }


def report_json(checks: list[Check], sources: list[SourceReport]) -> dict[str, object]:
    """The document ``unstall doctor --json`` prints."""
    return {
        "checks": [
            {"id": c.id, "status": c.status.value, "message": c.message, "fix": c.fix}
            for c in checks
        ],
        "sources": [s.as_dict() for s in sources],
    }


__all__ = [
    "PHASE_KEYS",
    "Check",
    "CheckStatus",
    "Phases",
    "ProbeFailure",
    "Source",
    "SourceKind",
    "SourceReport",
    "Verdict",
    "report_json",
]
