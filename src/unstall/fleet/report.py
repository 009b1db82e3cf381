"""What a fleet run tells machines: the ``--json`` document, JUnit XML and the exit code.

Exit codes: 0 every host ok; 4 the only failures are unreachable or timed-out hosts
(the network, not the command); 1 anything else (a non-zero exit, or hosts never
started because max-fail-percent stopped the run). Hosts never started are left out of
the JSON ``hosts`` (their state is none of the four) and appear as skipped in JUnit.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any, Final

from unstall.fleet.groups import group_hosts
from unstall.fleet.states import HostState
from unstall.fleet.store import FleetRun, HostRecord
from unstall.redact import redact

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_UNREACHABLE: Final = 4
_NETWORK: Final = frozenset({HostState.TIMEOUT, HostState.UNREACHABLE})
# Characters XML 1.0 cannot carry at all (a terminal's control bytes in an output tail).
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def exit_code(run: FleetRun) -> int:
    """0 all ok, 4 only unreachable/timeout failures, 1 otherwise."""
    states = [h.state for h in run.hosts]
    if all(s is HostState.OK for s in states):
        return EXIT_OK
    if all(s is HostState.OK or s in _NETWORK for s in states):
        return EXIT_UNREACHABLE
    return EXIT_FAILED


def _duration(record: HostRecord) -> float:
    return round(record.duration_s or 0.0, 3)


def json_document(run: FleetRun) -> dict[str, Any]:
    """The ``--json`` document: run id, finished hosts, and error groups."""
    hosts = [
        {
            "host": h.name,
            "state": h.state.value,
            "attempts": h.attempts,
            "exit_code": h.exit_code,
            "duration_s": _duration(h),
            "output_tail": redact(h.output_tail),
        }
        for h in run.hosts
        if h.state.final
    ]
    groups = [
        {
            "fingerprint": g.fingerprint,
            "count": g.count,
            "hosts": list(g.hosts),
            "example": redact(g.example),
        }
        for g in group_hosts(run.hosts)
    ]
    return {"run": run.run_id, "hosts": hosts, "groups": groups}


def render_json(run: FleetRun) -> str:
    """:func:`json_document` as text."""
    return json.dumps(json_document(run), ensure_ascii=False)


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\N{REPLACEMENT CHARACTER}", redact(text))


def junit_xml(run: FleetRun) -> str:
    """JUnit XML: one testcase per host; failure for a non-zero exit, error for the network."""
    failures = sum(1 for h in run.hosts if h.state is HostState.FAILED)
    errors = sum(1 for h in run.hosts if h.state in _NETWORK)
    skipped = sum(1 for h in run.hosts if not h.state.final)
    suite = ET.Element(
        "testsuite",
        {
            "name": f"unstall fleet {run.run_id}",
            "tests": str(len(run.hosts)),
            "failures": str(failures),
            "errors": str(errors),
            "skipped": str(skipped),
            "time": f"{sum(_duration(h) for h in run.hosts):.3f}",
        },
    )
    for host in run.hosts:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": "unstall.fleet", "name": host.name, "time": f"{_duration(host):.3f}"},
        )
        message = _xml_text(host.error or host.state.value)
        if host.state is HostState.FAILED:
            element = ET.SubElement(case, "failure", {"type": "failed", "message": message})
            element.text = message
        elif host.state in _NETWORK:
            element = ET.SubElement(case, "error", {"type": host.state.value, "message": message})
            element.text = message
        elif not host.state.final:
            ET.SubElement(case, "skipped", {"message": "not started: the run stopped early"})
        if host.output_tail:
            ET.SubElement(case, "system-out").text = _xml_text(host.output_tail)
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "exit_code",
    "json_document",
    "junit_xml",
    "render_json",
]
