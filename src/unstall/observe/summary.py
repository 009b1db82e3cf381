"""What one run did, per artifact: the data behind --report-json and the failure summary."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from unstall.doctor.causes import cause_for
from unstall.events import (
    ArtifactFinished,
    AttemptFinished,
    AttemptStarted,
    BreakerChanged,
    Event,
    HedgeStarted,
    IntegrityViolation,
    RetryScheduled,
)
from unstall.redact import redact


@dataclass(slots=True)
class ArtifactRecord:
    """One artifact's outcome as written to --report-json."""

    module: str
    version: str
    kind: str
    upstream: str | None
    attempts: int
    hedges: int
    bytes: int
    duration_s: float
    outcome: str
    cause: str
    error: str
    cached: bool


@dataclass(slots=True)
class RunSummary:
    """An event sink that keeps the per-artifact results and live counters of one run."""

    artifacts: list[ArtifactRecord] = field(default_factory=list)
    in_flight: set[str] = field(default_factory=set)
    retries: int = 0
    hedges: int = 0
    attempts: int = 0
    served_by: Counter[str] = field(default_factory=Counter)
    breaker_opened: list[str] = field(default_factory=list)
    integrity: list[IntegrityViolation] = field(default_factory=list)
    last_errors: dict[str, list[AttemptFinished]] = field(default_factory=dict)

    def __call__(self, event: Event) -> None:
        if isinstance(event, AttemptStarted):
            self.in_flight.add(event.artifact)
            self.attempts += 1
        elif isinstance(event, AttemptFinished):
            if event.outcome == "error":
                self.last_errors.setdefault(event.artifact, []).append(event)
        elif isinstance(event, RetryScheduled):
            self.retries += 1
        elif isinstance(event, HedgeStarted):
            self.hedges += 1
        elif isinstance(event, BreakerChanged) and event.state == "open":
            self.breaker_opened.append(event.upstream)
        elif isinstance(event, IntegrityViolation):
            self.integrity.append(event)
        elif isinstance(event, ArtifactFinished):
            self.in_flight.discard(event.artifact)
            if event.outcome != "failed":
                self.served_by[event.upstream or "cache"] += 1
            self.artifacts.append(
                ArtifactRecord(
                    module=event.module,
                    version=event.version,
                    kind=event.kind,
                    upstream=event.upstream,
                    attempts=event.attempts,
                    hedges=event.hedges,
                    bytes=event.bytes,
                    duration_s=round(event.duration, 4),
                    outcome=event.outcome,
                    cause=event.cause,
                    error=redact(event.error),
                    cached=event.cached,
                )
            )

    @property
    def failed(self) -> list[ArtifactRecord]:
        """Artifacts no upstream delivered."""
        return [a for a in self.artifacts if a.outcome == "failed"]

    def failure_lines(self) -> list[str]:
        """Human explanation of each failed artifact: layer, cause and fix."""
        lines = []
        for record in self.failed:
            cause = cause_for(record.cause)
            name = (
                f"{record.module}@{record.version} .{record.kind}"
                if record.version
                else (f"{record.module} {record.kind}")
            )
            lines.append(f"{name}: {cause.layer} layer, {cause.id}: {record.error}")
            lines.append(f"    fix: {cause.fix}")
        return lines

    def to_json(self, *, run_id: str, exit_code: int) -> dict[str, Any]:
        """The --report-json document."""
        return {
            "run": run_id,
            "exit_code": exit_code,
            "retries": self.retries,
            "hedges": self.hedges,
            "attempts": self.attempts,
            "artifacts": [asdict(a) for a in self.artifacts],
        }

    def write_json(self, path: Path, *, run_id: str, exit_code: int) -> None:
        """Write the report to ``path``."""
        document = self.to_json(run_id=run_id, exit_code=exit_code)
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


__all__ = ["ArtifactRecord", "RunSummary"]
