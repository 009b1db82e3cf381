"""What a command's run feeds besides the history: metrics, traces and alerts.

A command creates :class:`RunObservers` right after its ``RunRecorder`` and calls
:meth:`RunObservers.finish` after ``recorder.finish``. Exporting metrics, sending
traces and alerts report their own failures on one stderr line each and never
change the command's exit code: the work they describe has already happened.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Final

import typer

from unstall.cli.common import RunRecorder, err_console
from unstall.config import Settings
from unstall.errors import UnstallError
from unstall.events import EventBus
from unstall.observe.metrics import Metrics
from unstall.observe.metrics_export import push, read_textfile_sample, write_textfile
from unstall.redact import redact

_LAST_SUCCESS: Final = "unstall_run_last_success_timestamp_seconds"

MetricsTextfileOption = Annotated[
    Path | None,
    typer.Option(
        "--metrics-textfile",
        metavar="PATH",
        help="Write this run's Prometheus metrics to PATH, atomically, labelled with the "
        "command (for node_exporter's textfile collector: a name ending .prom in its directory).",
    ),
]
PushgatewayOption = Annotated[
    str | None,
    typer.Option(
        "--pushgateway",
        metavar="URL",
        help="Push this run's Prometheus metrics to the Pushgateway at URL "
        "(job unstall, grouped by command).",
    ),
]
OtlpEndpointOption = Annotated[
    str | None,
    typer.Option(
        "--otlp-endpoint",
        metavar="URL",
        help="Export traces (a span per artifact fetch, phases and attempts as children) "
        "to this OTLP/HTTP endpoint; needs the otel extra.",
    ),
]


def _say(what: str, message: str) -> None:
    err_console.print(f"unstall: {what}: {redact(message)}", markup=False)


class RunObservers:
    """Metrics export, tracing and alerts for one command's run.

    Subscribes a :class:`~unstall.observe.metrics.Metrics` sink to ``bus`` when a
    textfile or a Pushgateway is asked for, and attaches tracing (which raises
    ``ConfigError`` when ``otlp_endpoint`` is given without the otel extra).
    """

    def __init__(
        self,
        bus: EventBus,
        settings: Settings,
        *,
        command: str,
        run_id: str = "",
        metrics_textfile: Path | None,
        pushgateway: str | None,
        otlp_endpoint: str | None,
        environ: Mapping[str, str] = os.environ,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Imported here: tracing pulls in OpenTelemetry when it is installed, which a
        # run without traces should not pay for at start-up.
        from unstall.observe.tracing import attach_tracing

        self._settings = settings
        self._command = command
        self._textfile = metrics_textfile
        self._pushgateway = pushgateway
        self._environ = environ
        self._clock = clock
        self._started = clock()
        self._finished = False
        self.metrics: Metrics | None = None
        self._unsubscribe: Callable[[], None] | None = None
        if metrics_textfile is not None or pushgateway is not None:
            self.metrics = Metrics()
            self._unsubscribe = bus.subscribe(self.metrics)
        # Attached after RunStarted went out: the sinks are told the command and run.
        self._close_tracing = attach_tracing(
            bus, otlp_endpoint=otlp_endpoint, environ=environ, command=command, run_id=run_id
        )

    def finish(self, exit_code: int, *, run_id: str, fleet_run_id: str | None = None) -> None:
        """Record the run's end in the metrics, export them, close tracing, send alerts.

        Call after ``RunRecorder.finish`` (alerts read the history it flushed); a second
        call does nothing.
        """
        if self._finished:
            return
        self._finished = True
        if self.metrics is not None:
            self._export(self.metrics, exit_code)
        try:
            self._close_tracing()
        except Exception as exc:  # traces are a by-product: never fail the run for them
            _say("tracing", str(exc))
        if self._settings.alerts.targets and self._settings.history.enabled:
            self._alert(run_id, fleet_run_id)

    def _export(self, metrics: Metrics, exit_code: int) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        ended = self._clock()
        last_success = None
        if exit_code != 0 and self._textfile is not None:
            last_success = read_textfile_sample(
                self._textfile, _LAST_SUCCESS, {"command": self._command}
            )
        metrics.observe_run(
            self._command,
            exit_code,
            max(0.0, ended - self._started),
            ended_at=ended,
            last_success=last_success,
        )
        if self._textfile is not None:
            try:
                write_textfile(metrics, self._textfile, labels={"command": self._command})
            except UnstallError as error:
                _say("metrics", f"{error.message} ({error.fix})")
        if self._pushgateway is not None:
            try:
                push(
                    metrics,
                    self._pushgateway,
                    grouping={"command": self._command},
                    environ=self._environ,
                )
            except UnstallError as error:
                _say("metrics", f"{error.message} ({error.fix})")

    def _alert(self, run_id: str, fleet_run_id: str | None) -> None:
        alert_once(self._settings, run_id=run_id, command=self._command, fleet_run_id=fleet_run_id)


def alert_once(
    settings: Settings, *, run_id: str, command: str, fleet_run_id: str | None = None
) -> None:
    """Evaluate the alert rules over the history and deliver what is due; a failed
    delivery or an unreadable history is one line on stderr, never an exception."""
    # Imported here: only runs with alert targets configured need it.
    from unstall.observe.alerts import send_alerts

    try:
        deliveries = send_alerts(
            settings,
            settings.history_path,
            run_id=run_id,
            command=command,
            fleet_run_id=fleet_run_id,
        )
    except Exception as exc:  # alerting must not turn a finished run into a failure
        _say("alerts", str(exc))
        return
    for delivery in deliveries:
        if not delivery.ok:
            _say("alerts", f"delivery to {delivery.target} failed: {delivery.error or '?'}")


def start_observers(
    bus: EventBus,
    settings: Settings,
    recorder: RunRecorder,
    *,
    command: str,
    metrics_textfile: Path | None,
    pushgateway: str | None,
    otlp_endpoint: str | None,
) -> RunObservers:
    """The observers of the run ``recorder`` records; when they cannot start (a missing
    extra, a bad endpoint) the run is recorded as ended with that error's exit code."""
    try:
        return RunObservers(
            bus,
            settings,
            command=command,
            run_id=recorder.run_id,
            metrics_textfile=metrics_textfile,
            pushgateway=pushgateway,
            otlp_endpoint=otlp_endpoint,
        )
    except UnstallError as error:
        recorder.finish(error.exit_code)
        raise


__all__ = [
    "MetricsTextfileOption",
    "OtlpEndpointOption",
    "PushgatewayOption",
    "RunObservers",
    "alert_once",
    "start_observers",
]
