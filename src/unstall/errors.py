"""The one exception tree of unstall.

Every error carries a cause id from :mod:`unstall.doctor.causes`, a process exit
code, an HTTP status (for answers the proxy gives to ``go``) and a fix hint.
Third-party exceptions are translated into this tree at exactly one boundary
(``raise ... from exc``), so users see a cause and a fix, never a traceback::

    UnstallError
    ├── UsageError                      exit 2: bad flags, bad configuration
    │   └── ConfigError
    ├── InputError                      400: malformed module path, version, go.sum line
    │   └── GoSumError
    ├── ToolchainError                  go missing, `go env` failed
    ├── MetricsExportError              textfile not writable, Pushgateway refused
    ├── FixFailed (check/fix.py)        a rule's fix does not parse or format
    └── FetchError                      one attempt at one upstream failed
        ├── TransientError              worth retrying (same upstream or the next one)
        │   ├── PhaseTimeout            connect / tls / first byte / stall / total
        │   ├── SlowTransfer            below the minimum throughput
        │   ├── ConnectionFailed        refused, reset, truncated, TLS failure
        │   └── UpstreamBusy            5xx and 429, with Retry-After
        ├── NotFound                    404/410: "not here", try the next upstream
        ├── UpstreamRejected            other 4xx: a definitive answer
        ├── BudgetExhausted             the retry budget refused a retry
        ├── IntegrityError              oversized, corrupt or mislabelled artifact
        │   └── ChecksumMismatch        h1 differs from go.sum
        └── ArtifactFailed              every upstream failed: the reasons of each
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from unstall.doctor.causes import cause_for


class UnstallError(Exception):
    """Base of every error unstall raises on purpose."""

    exit_code: int = 1
    http_status: int = 500
    default_cause: str = "internal"

    def __init__(self, message: str, *, cause: str | None = None, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause or self.default_cause
        self._fix = fix

    @property
    def fix(self) -> str:
        """A concrete next step for the user."""
        return self._fix or cause_for(self.cause).fix

    @property
    def layer(self) -> str:
        """The network or policy layer the cause belongs to."""
        return cause_for(self.cause).layer

    def __str__(self) -> str:
        return self.message


class UsageError(UnstallError):
    """The user asked for something unstall cannot do as asked."""

    exit_code = 2
    http_status = 400
    default_cause = "config-invalid"


class ConfigError(UsageError):
    """A configuration file, variable or flag holds an invalid value."""


class InputError(UnstallError):
    """Input data (module path, version, go.sum line) is malformed."""

    exit_code = 2
    http_status = 400
    default_cause = "bad-request"


class GoSumError(InputError):
    """A go.sum line is malformed; carries the file and line number."""

    default_cause = "gosum-malformed"

    def __init__(self, path: str, line_number: int, reason: str) -> None:
        super().__init__(f"{path}:{line_number}: {reason}")
        self.path = path
        self.line_number = line_number


class ToolchainError(UnstallError):
    """The go toolchain is missing or failed to report its environment."""

    default_cause = "go-env-error"


class MetricsExportError(UnstallError):
    """The metrics could not be written to the textfile or pushed to the Pushgateway."""

    default_cause = "config-invalid"


class FetchError(UnstallError):
    """Fetching one artifact from one upstream failed."""

    http_status = 502
    default_cause = "http-server-error"

    def __init__(
        self,
        message: str,
        *,
        cause: str | None = None,
        fix: str | None = None,
        upstream: str | None = None,
    ) -> None:
        super().__init__(message, cause=cause, fix=fix)
        self.upstream = upstream


class TransientError(FetchError):
    """A failure that may go away: retry with backoff, or fail over."""


class PhaseTimeout(TransientError):
    """A phase (connect, tls, first_byte, stall, total) ran past its deadline."""

    _CAUSE_BY_PHASE: ClassVar[dict[str, str]] = {
        "connect": "tcp-timeout",
        "tls": "tls-timeout",
        "first_byte": "http-timeout",
        "stall": "transfer-stall",
        "total": "deadline-exceeded",
    }

    def __init__(self, phase: str, seconds: float, *, upstream: str | None = None) -> None:
        super().__init__(
            f"{phase} timeout after {seconds:g}s",
            cause=self._CAUSE_BY_PHASE.get(phase, "http-timeout"),
            upstream=upstream,
        )
        self.phase = phase
        self.seconds = seconds


class SlowTransfer(TransientError):
    """The body arrived below the minimum throughput."""

    default_cause = "transfer-slow"


class ConnectionFailed(TransientError):
    """Refused, reset, truncated or a TLS failure (cause says which)."""

    default_cause = "tcp-reset"


class UpstreamBusy(TransientError):
    """5xx or 429; ``retry_after`` is the server's requested delay, if any."""

    default_cause = "http-server-error"

    def __init__(
        self,
        message: str,
        *,
        status: int,
        retry_after: float | None = None,
        upstream: str | None = None,
    ) -> None:
        super().__init__(message, upstream=upstream)
        self.status = status
        self.retry_after = retry_after


class NotFound(FetchError):
    """404 or 410: this upstream does not have the artifact."""

    default_cause = "http-not-found"

    def __init__(self, message: str, *, status: int = 404, upstream: str | None = None) -> None:
        super().__init__(message, upstream=upstream)
        self.status = status
        self.http_status = status


class UpstreamRejected(FetchError):
    """A 4xx other than 404/410: the upstream definitively refused; go gets the same status."""

    default_cause = "http-client-error"

    def __init__(self, message: str, *, status: int = 400, upstream: str | None = None) -> None:
        super().__init__(message, upstream=upstream)
        self.status = status
        self.http_status = status


class BudgetExhausted(FetchError):
    """The retry budget refused another attempt at a failing upstream."""

    default_cause = "retry-budget-exhausted"


class IntegrityError(FetchError):
    """The artifact is oversized, corrupt or not what was asked for."""

    default_cause = "integrity-zip"


class ChecksumMismatch(IntegrityError):
    """The artifact's h1 hash differs from the one go.sum records."""

    default_cause = "checksum-mismatch"

    def __init__(self, what: str, expected: str, got: str, *, upstream: str | None = None) -> None:
        super().__init__(
            f"checksum mismatch for {what}: go.sum has {expected}, upstream served {got}",
            upstream=upstream,
        )
        self.expected = expected
        self.got = got


class ArtifactFailed(FetchError):
    """Every upstream failed for one artifact; ``reasons`` holds the last error of each."""

    def __init__(self, what: str, reasons: Sequence[FetchError]) -> None:
        self.reasons = list(reasons)
        decisive = _decisive(self.reasons)
        detail = (
            "; ".join(f"{r.upstream or '?'}: {r.message}" for r in self.reasons) or "no upstream"
        )
        super().__init__(
            f"{what}: {detail}",
            cause=decisive.cause if decisive else "upstream-none",
        )
        if self.reasons and all(isinstance(r, NotFound) for r in self.reasons):
            statuses = {r.http_status for r in self.reasons}
            self.http_status = 410 if statuses == {410} else 404
        elif isinstance(decisive, UpstreamRejected):
            self.http_status = decisive.http_status

    @property
    def not_found(self) -> bool:
        """True when every upstream said 404/410."""
        return bool(self.reasons) and all(isinstance(r, NotFound) for r in self.reasons)


def _decisive(reasons: Sequence[FetchError]) -> FetchError | None:
    """The reason that explains the failure best: integrity beats transport beats 404."""
    for kind in (IntegrityError, UpstreamRejected, TransientError, FetchError):
        for reason in reasons:
            if isinstance(reason, kind) and not isinstance(reason, NotFound):
                return reason
    return reasons[0] if reasons else None


__all__ = [
    "ArtifactFailed",
    "BudgetExhausted",
    "ChecksumMismatch",
    "ConfigError",
    "ConnectionFailed",
    "FetchError",
    "GoSumError",
    "InputError",
    "IntegrityError",
    "MetricsExportError",
    "NotFound",
    "PhaseTimeout",
    "SlowTransfer",
    "ToolchainError",
    "TransientError",
    "UnstallError",
    "UpstreamBusy",
    "UpstreamRejected",
    "UsageError",
]
