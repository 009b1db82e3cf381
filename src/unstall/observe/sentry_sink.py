"""Failures to Sentry (the ``sentry`` extra), one Sentry issue per error group.

The sink turns every failure on the bus (an upstream attempt that errored, an artifact
that failed, a source doctor failed, a fleet host that did not end ok) into one Sentry
event whose fingerprint is the error group id the history stores, so Sentry's issues
and ``unstall report``'s error groups are the same groups. Messages are redacted before
they leave the process, and once more by ``before_send`` over the whole event.

This module imports ``sentry_sdk`` only when a :class:`SentrySink` is built: the base
install lacks it, and :func:`failure_of` is useful without it.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, cast

from unstall import __version__
from unstall.errors import ConfigError
from unstall.events import (
    ArtifactFinished,
    AttemptFinished,
    DoctorVerdict,
    Event,
    FleetHostChanged,
    RunStarted,
)
from unstall.observe.error_groups import Failure, failure_of, group_of
from unstall.redact import redact

if TYPE_CHECKING:
    from sentry_sdk import Client
    from sentry_sdk._types import Event as SentryEvent

# Sentry truncates tag values at 200 characters; cut them ourselves so it stays readable.
_TAG_CHARS: Final = 200
_FLUSH_SECONDS: Final = 5.0
# At most one Sentry event per error group in this many seconds (the rest are counted).
GROUP_INTERVAL_S: Final = 60.0
# What reported the failure, as a tag to filter on in Sentry.
_SOURCES: Final[dict[type, str]] = {
    AttemptFinished: "attempt",
    ArtifactFinished: "artifact",
    DoctorVerdict: "doctor",
    FleetHostChanged: "fleet",
}


def redact_event(event: Any) -> Any:
    """``event`` (any JSON-like value) with every string redacted, keys included."""
    if isinstance(event, str):
        return redact(event)
    if isinstance(event, Mapping):
        return {redact_event(k): redact_event(v) for k, v in event.items()}
    if isinstance(event, list | tuple):
        return [redact_event(v) for v in event]
    return event


def _before_send(event: SentryEvent, hint: dict[str, Any]) -> SentryEvent:
    # The last gate before the network: whatever the SDK added (contexts, extra) is
    # redacted too, not only the message built here.
    return cast("SentryEvent", redact_event(event))


def _tag(value: str | None) -> str | None:
    return redact(value)[:_TAG_CHARS] if value else None


class SentrySink:
    """Event sink sending each failure to Sentry with ``fingerprint = [group id]``.

    Uses its own ``sentry_sdk.Client`` (no global ``init``): no default or automatic
    integrations, no PII, no sessions, no stack traces. Call :meth:`close` to send what
    is queued.
    """

    def __init__(
        self,
        dsn: str,
        *,
        command: str = "",
        run_id: str = "",
        clock: Callable[[], float] = time.time,
        sdk: ModuleType | None = None,
        group_interval: float = GROUP_INTERVAL_S,
    ) -> None:
        # The extra is imported only when a sink is wanted; tests may pass their own.
        sentry = sdk if sdk is not None else importlib.import_module("sentry_sdk")

        self.command = command
        self.run_id = run_id
        self._clock = clock
        self._group_interval = group_interval
        self._last_sent: dict[str, float] = {}
        self._held: dict[str, int] = {}
        try:
            # PII stays off by leaving send_default_pii unset (its default; newer SDKs
            # deprecate setting it), and without integrations nothing collects any.
            client = sentry.Client(
                dsn,
                default_integrations=False,
                auto_enabling_integrations=False,
                integrations=[],
                send_client_reports=False,
                auto_session_tracking=False,
                attach_stacktrace=False,
                max_breadcrumbs=0,
                release=f"unstall@{__version__}",
                before_send=_before_send,
            )
        except Exception as exc:  # BadDsn and friends: a configuration mistake
            raise ConfigError(
                f"UNSTALL_SENTRY_DSN is not a usable Sentry DSN ({redact(dsn)}): "
                f"{redact(str(exc))}",
                fix="set UNSTALL_SENTRY_DSN to the DSN from the Sentry project's settings",
            ) from exc
        self._client: Client = client

    def __call__(self, event: Event) -> None:
        """Send ``event`` to Sentry when it is a failure."""
        if isinstance(event, RunStarted):
            self.command = self.command or event.command
            self.run_id = self.run_id or event.run_id
            return
        failure = failure_of(event, self.command, now=self._clock())
        if failure is None:
            return
        key, _ = group_of(failure)
        now = self._clock()
        last = self._last_sent.get(key)
        if last is not None and now - last < self._group_interval:
            # A flapping mirror behind `unstall serve` fails thousands of times an hour:
            # one event per group per interval tells Sentry as much and spares the quota.
            self._held[key] = self._held.get(key, 0) + 1
            return
        self._last_sent[key] = now
        payload = self.payload(failure, event)
        payload["extra"]["held_back"] = self._held.pop(key, 0)
        self._client.capture_event(cast("SentryEvent", payload))

    def payload(self, failure: Failure, event: Event) -> dict[str, Any]:
        """The Sentry event of ``failure`` (reported by ``event``)."""
        key, message = group_of(failure)
        tags = {
            "cause": _tag(failure.cause),
            "upstream": _tag(failure.upstream),
            "host": _tag(failure.host),
            "command": _tag(failure.command),
            "module": _tag(failure.module),
            "source": _SOURCES.get(type(event), "other"),
        }
        return {
            "message": message,
            "level": "error",
            "logger": "unstall",
            "fingerprint": [key],
            "timestamp": datetime.fromtimestamp(failure.at, UTC),
            "tags": {k: v for k, v in tags.items() if v},
            "extra": {"group_id": key, "run_id": self.run_id},
        }

    def close(self, timeout: float = _FLUSH_SECONDS) -> None:
        """Send what is queued (waiting at most ``timeout`` seconds) and stop the client."""
        self._client.flush(timeout=timeout)
        self._client.close(timeout=timeout)


__all__ = ["GROUP_INTERVAL_S", "SentrySink", "failure_of", "group_of", "redact_event"]
