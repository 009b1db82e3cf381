"""Wiring of the optional tracing sinks: Sentry (``sentry`` extra), OTLP traces (``otel``).

``attach_tracing`` subscribes the Sentry sink when ``UNSTALL_SENTRY_DSN`` is set and the
OpenTelemetry sink when an OTLP endpoint is given, and returns one closer for both. The
extras are imported only when asked for: the base install has neither, and asking for
one that is missing is a configuration error naming the ``pip install`` that fixes it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Final

from unstall.errors import ConfigError
from unstall.events import EventBus

_log = logging.getLogger(__name__)

SENTRY_DSN_VARIABLE: Final = "UNSTALL_SENTRY_DSN"
# What each extra must provide; checked before anything is subscribed.
_SENTRY_MODULES: Final = ("sentry_sdk",)
_OTEL_MODULES: Final = (
    "opentelemetry.sdk.trace",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
)

Importer = Callable[[str], ModuleType]


def _require(importer: Importer, modules: tuple[str, ...], extra: str, wanted_by: str) -> None:
    try:
        for name in modules:
            importer(name)
    except ImportError as exc:
        install = f"pip install 'unstall[{extra}]'"
        raise ConfigError(
            f"{wanted_by} needs the optional '{extra}' extra, which is not installed"
            f" ({exc.name or exc}): {install}",
            fix=f"{install}, or run without {wanted_by}",
        ) from exc


def attach_tracing(
    bus: EventBus,
    *,
    otlp_endpoint: str | None,
    environ: Mapping[str, str],
    command: str = "",
    run_id: str = "",
    importer: Importer = importlib.import_module,
) -> Callable[[], None]:
    """Subscribe the Sentry and OTLP sinks that are configured; return their closer.

    The closer unsubscribes both, flushes them (bounded by the sinks' timeouts) and
    shuts them down; it is a no-op when neither is configured. Raises ConfigError when
    a sink is asked for but its extra is missing (``pip install 'unstall[sentry]'`` /
    ``'unstall[otel]'``) or its DSN or endpoint is unusable; nothing stays subscribed
    then. ``command`` and ``run_id`` tag Sentry events when the sinks are attached after
    RunStarted was published; ``importer`` stands in for :func:`importlib.import_module` (tests).
    """
    dsn = environ.get(SENTRY_DSN_VARIABLE, "").strip()
    endpoint = (otlp_endpoint or "").strip()
    if not dsn and not endpoint:
        return lambda: None
    # Both checks before either sink exists: a failure leaves nothing half-attached.
    if dsn:
        _require(importer, _SENTRY_MODULES, "sentry", SENTRY_DSN_VARIABLE)
    if endpoint:
        _require(importer, _OTEL_MODULES, "otel", "--otlp-endpoint")

    closers: list[Callable[[], None]] = []
    try:
        if endpoint:
            from unstall.observe.otel_sink import OtelSink

            otel = OtelSink(endpoint)
            closers.append(otel.close)
            closers.append(bus.subscribe(otel))
        if dsn:
            from unstall.observe.sentry_sink import SentrySink

            sentry = SentrySink(dsn, command=command, run_id=run_id, sdk=importer("sentry_sdk"))
            closers.append(sentry.close)
            closers.append(bus.subscribe(sentry))
    except BaseException:  # e.g. ConfigError for a bad DSN: undo what was attached
        _close_all(closers)
        raise

    def close() -> None:
        _close_all(closers)
        closers.clear()  # a second call does nothing

    return close


def _close_all(closers: list[Callable[[], None]]) -> None:
    # Unsubscribe first (last added first), then flush: no event arrives mid-shutdown.
    # Tracing is a bystander: a sink that fails to flush is logged, never fails the run.
    for closer in reversed(closers):
        try:
            closer()
        except Exception:
            _log.exception("closing a tracing sink failed")


__all__ = ["SENTRY_DSN_VARIABLE", "attach_tracing"]
