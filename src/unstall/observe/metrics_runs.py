"""Metrics of whole runs: doctor's verdicts, fleet hosts, and how each command's run ended.

Part of :class:`unstall.observe.metrics.Metrics` (same registry, same bus): kept apart
because serve's request path never touches them.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Gauge, Histogram

from unstall.events import DoctorVerdict, FleetHostChanged, FleetRunStarted
from unstall.fleet.states import HostState

_HOST_BUCKETS: Final = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
# doctor's phases: the DoctorVerdict field (milliseconds) behind each label value.
DOCTOR_PHASES: Final = (
    ("dns", "dns_ms"),
    ("connect", "connect_ms"),
    ("tls", "tls_ms"),
    ("ttfb", "ttfb_ms"),
    ("transfer", "transfer_ms"),
)

_FINAL_STATES: Final = frozenset(state.value for state in HostState if state.final)


class RunMetrics:
    """doctor, fleet and run families, registered on ``registry``."""

    def __init__(self, r: CollectorRegistry) -> None:
        self._doctor_and_fleet(r)
        self._run_metrics(r)

    def __call__(self, event: DoctorVerdict | FleetHostChanged | FleetRunStarted) -> None:
        """The part of the bus sink that is about doctor and fleet."""
        if isinstance(event, DoctorVerdict):
            self._verdict(event)
        elif isinstance(event, FleetHostChanged):
            self._host_changed(event)
        else:
            for state in HostState:  # every state shows, 0 until a host is in it
                self.fleet_hosts.labels(state.value)

    def _verdict(self, event: DoctorVerdict) -> None:
        self.doctor_up.labels(event.source, event.kind).set(0 if event.verdict == "fail" else 1)
        for phase, field in DOCTOR_PHASES:
            milliseconds = getattr(event, field)
            if milliseconds is not None:
                self.doctor_phase_seconds.labels(event.source, phase).set(milliseconds / 1000)

    def _host_changed(self, event: FleetHostChanged) -> None:
        # A gauge of hosts per state: the host leaves its previous state's count.
        key = (event.run_id, event.host)
        previous = self._host_states.get(key)
        if previous is not None:
            self.fleet_hosts.labels(previous).dec()
        self._host_states[key] = event.state
        self.fleet_hosts.labels(event.state).inc()
        if event.duration_s is not None and event.state in _FINAL_STATES:
            self.fleet_host_seconds.labels(event.state).observe(event.duration_s)

    def observe_run(
        self,
        command: str,
        exit_code: int,
        seconds: float,
        *,
        ended_at: float,
        last_success: float | None = None,
    ) -> None:
        """Record how a command's run ended (only the command knows when it began).

        ``last_success`` carries an earlier success's end time over a failed run, so a
        textfile rewritten by a failure still says when the command last worked.
        """
        self.run_seconds.labels(command).set(seconds)
        self.run_exit_code.labels(command).set(exit_code)
        success = ended_at if exit_code == 0 else last_success
        if success is not None:
            self.run_last_success.labels(command).set(success)

    def _doctor_and_fleet(self, r: CollectorRegistry) -> None:
        self.doctor_up = Gauge(
            "unstall_doctor_source_up",
            "doctor's verdict per probed source: 1 ok or slow, 0 failing.",
            ["source", "kind"],
            registry=r,
        )
        self.doctor_phase_seconds = Gauge(
            "unstall_doctor_phase_seconds",
            "Duration of each phase of doctor's probe of a source (median over samples).",
            ["source", "phase"],
            registry=r,
        )
        self.fleet_hosts = Gauge(
            "unstall_fleet_hosts",
            "Hosts of the fleet run in each state now.",
            ["state"],
            registry=r,
        )
        self.fleet_host_seconds = Histogram(
            "unstall_fleet_host_duration_seconds",
            "Duration of one attempt on one fleet host, by the state it ended in.",
            ["state"],
            buckets=_HOST_BUCKETS,
            registry=r,
        )
        self._host_states: dict[tuple[str, str], str] = {}

    def _run_metrics(self, r: CollectorRegistry) -> None:
        self.run_seconds = Gauge(
            "unstall_run_duration_seconds",
            "How long the last run of a command took.",
            ["command"],
            registry=r,
        )
        self.run_exit_code = Gauge(
            "unstall_run_exit_code",
            "Exit code of the last run of a command.",
            ["command"],
            registry=r,
        )
        self.run_last_success = Gauge(
            "unstall_run_last_success_timestamp_seconds",
            "Unix time the last successful run of a command ended.",
            ["command"],
            registry=r,
        )


__all__ = ["DOCTOR_PHASES", "RunMetrics"]
