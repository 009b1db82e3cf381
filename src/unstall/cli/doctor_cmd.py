"""`unstall doctor`: which layer stalls the install, and how to fix it."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from rich.console import Console

from unstall.cli.common import (
    RunRecorder,
    VersionOption,
    handle_errors,
    run_async,
    settings_from,
)
from unstall.cli.observers import (
    MetricsTextfileOption,
    OtlpEndpointOption,
    PushgatewayOption,
    start_observers,
)
from unstall.doctor.checks import CheckContext, default_context, run_checks
from unstall.doctor.model import Check, SourceReport, Verdict, report_json
from unstall.doctor.probe import ProbeOptions, probe_sources
from unstall.doctor.render import print_report
from unstall.doctor.sources import given_sources, machine_sources
from unstall.errors import UsageError
from unstall.events import DoctorVerdict, EventBus
from unstall.redact import redact

_COMMAND_TIMEOUT = 20.0
_DNS_PORT = 53


def parse_dns_server(value: str) -> tuple[str, int]:
    """``IP``, ``IP:PORT``, ``IPv6`` or ``[IPv6]:PORT`` -> (address, port)."""
    text = value.strip()
    host, port = text, _DNS_PORT
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise _bad_dns_server(value)
        if rest:
            port = _port(rest[1:], value)
    elif text.count(":") == 1:
        host, _, rest = text.partition(":")
        port = _port(rest, value)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise _bad_dns_server(value) from None
    return host, port


def _port(text: str, value: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise _bad_dns_server(value)
    return int(text)


def _bad_dns_server(value: str) -> UsageError:
    return UsageError(
        f"--dns-server {value!r} is not an IP address with an optional port",
        fix="Pass e.g. --dns-server 192.0.2.53 or --dns-server 127.0.0.1:5353 or [::1]:53.",
    )


def _check_proxy(url: str) -> str:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"--proxy {redact(url)!r} is not an http:// or https:// proxy URL",
            fix="Pass e.g. --proxy http://proxy.example.test:3128 (credentials as user:pass@).",
        )
    return url


async def _diagnose(
    context: CheckContext, urls: Sequence[str], options: ProbeOptions
) -> tuple[list[Check], list[SourceReport]]:
    """Environment checks (blocking commands, in a thread) and probes, side by side."""

    def read(argv: Sequence[str]) -> str | None:
        result = context.run(argv, timeout=_COMMAND_TIMEOUT)
        return result.stdout if result is not None and result.returncode == 0 else None

    checks_task = asyncio.create_task(asyncio.to_thread(run_checks, context))
    if urls:
        sources = given_sources(urls)
    else:
        sources = await asyncio.to_thread(machine_sources, context.go_env, context.environ, read)
    reports = await probe_sources(sources, options)
    return await checks_task, reports


def _verdict_event(report: SourceReport) -> DoctorVerdict:
    """One source's verdict for the bus (history, metrics), credentials removed."""
    phases = report.phases
    return DoctorVerdict(
        source=redact(report.url),
        kind=report.kind.value,
        verdict=report.verdict.value,
        layer=report.layer,
        cause=report.cause,
        message=redact(report.message),
        dns_ms=phases.dns_ms,
        connect_ms=phases.connect_ms,
        tls_ms=phases.tls_ms,
        ttfb_ms=phases.ttfb_ms,
        transfer_ms=phases.transfer_ms,
    )


def _run_args(
    source: Sequence[str], proxy: str | None, dns_server: str | None, timeout: float, samples: int
) -> list[str]:
    """The options of this run as history shows them (URLs redacted)."""
    args = [arg for url in source for arg in ("--source", redact(url))]
    if proxy:
        args += ["--proxy", redact(proxy)]
    if dns_server:
        args += ["--dns-server", dns_server]
    return [*args, "--timeout", f"{timeout:g}", "--samples", str(samples)]


@handle_errors
def doctor_command(
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            metavar="URL",
            help="Probe this URL; repeat for several. Default: every source this machine "
            "uses (each GOPROXY entry, the checksum database through each proxy, the pip "
            "index, the npm registry).",
        ),
    ] = None,
    proxy: Annotated[
        str | None,
        typer.Option(
            "--proxy",
            metavar="URL",
            help="Probe through this HTTP proxy instead of the one HTTPS_PROXY/HTTP_PROXY name.",
        ),
    ] = None,
    dns_server: Annotated[
        str | None,
        typer.Option(
            "--dns-server",
            metavar="IP[:PORT]",
            help="Resolve names with this DNS server instead of /etc/resolv.conf's.",
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", min=0.1, max=600, help="Deadline of each phase of a probe, seconds."
        ),
    ] = 5.0,
    samples: Annotated[
        int,
        typer.Option(
            "--samples", min=1, max=100, help="Probes per source; medians and spread shown."
        ),
    ] = 1,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document instead of tables.")
    ] = False,
    metrics_textfile: MetricsTextfileOption = None,
    pushgateway: PushgatewayOption = None,
    otlp_endpoint: OtlpEndpointOption = None,
    version: Annotated[bool, VersionOption] = False,
) -> None:
    """Diagnose the environment and the network, layer by layer, and say how to fix it.

    Probes run in parallel, each phase (DNS, connect, proxy, TLS, first byte, transfer)
    under --timeout. Exit status: 0 when no source fails, 1 when one does, 2 on usage
    errors.
    """
    settings = settings_from({})
    options = ProbeOptions(
        timeout=timeout,
        samples=samples,
        proxy=_check_proxy(proxy) if proxy else None,
        dns_server=parse_dns_server(dns_server) if dns_server else None,
        environ=dict(os.environ),
        min_throughput=int(settings.timeouts.min_throughput),
    )
    context = default_context(Path.cwd())
    bus = EventBus()
    recorder = RunRecorder(
        settings, bus, "doctor", _run_args(source or [], proxy, dns_server, timeout, samples)
    )
    observers = start_observers(
        bus,
        settings,
        recorder,
        command="doctor",
        metrics_textfile=metrics_textfile,
        pushgateway=pushgateway,
        otlp_endpoint=otlp_endpoint,
    )
    code = 1
    try:
        checks, reports = run_async(_diagnose(context, source or [], options))
        for report in reports:
            bus.publish(_verdict_event(report))
        code = 1 if any(r.verdict is Verdict.FAIL for r in reports) else 0
        if as_json:
            typer.echo(json.dumps(report_json(checks, reports), indent=2))
        else:
            print_report(Console(highlight=False, soft_wrap=True), reports, checks)
    finally:
        # After the report is shown: a slow Pushgateway or webhook delays only the exit.
        recorder.finish(code)
        observers.finish(code, run_id=recorder.run_id)
    raise typer.Exit(code)


__all__ = ["doctor_command", "parse_dns_server"]
