"""The --json document, JUnit XML and exit codes of a fleet run."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from unstall.fleet.executor import Target
from unstall.fleet.report import exit_code, json_document, junit_xml, render_json
from unstall.fleet.states import HostState
from unstall.fleet.store import FleetRun, HostRecord


def host(
    name: str,
    state: HostState,
    *,
    code: int | None = None,
    tail: str = "",
    error: str | None = None,
    attempts: int = 1,
) -> HostRecord:
    target = Target(name, "127.0.0.9")
    return HostRecord(target, state, attempts, code, 1.23456, tail, error, None)


def run(*hosts: HostRecord) -> FleetRun:
    return FleetRun("run-7", "apt-get install -y foo", {}, None, 0.0, 1.0, None, hosts)


MIXED = run(
    host("web1", HostState.OK, code=0, tail="installed\n"),
    host(
        "web2",
        HostState.FAILED,
        code=100,
        tail="E: Unable to locate package foo\n",
        error="command on web2 (127.0.0.9:22) exited with status 100",
    ),
    host("web3", HostState.UNREACHABLE, attempts=3, error="connection to web3 refused"),
    host("web4", HostState.TIMEOUT, error="command did not finish; it was killed"),
    host("web5", HostState.PENDING),
)


def test_json_document_has_exactly_the_documented_shape() -> None:
    document = json.loads(render_json(MIXED))
    assert set(document) == {"run", "hosts", "groups"}
    assert document["run"] == "run-7"
    assert document["hosts"][0] == {
        "host": "web1",
        "state": "ok",
        "attempts": 1,
        "exit_code": 0,
        "duration_s": 1.235,
        "output_tail": "installed\n",
    }
    # A host never started has none of the four states: it is not listed.
    assert [h["host"] for h in document["hosts"]] == ["web1", "web2", "web3", "web4"]
    assert [h["state"] for h in document["hosts"]] == ["ok", "failed", "unreachable", "timeout"]
    assert document["hosts"][2]["attempts"] == 3
    assert document["hosts"][2]["exit_code"] is None
    for group in document["groups"]:
        assert set(group) == {"fingerprint", "count", "hosts", "example"}
    assert {
        "fingerprint": "E: Unable to locate package foo",
        "count": 1,
        "hosts": ["web2"],
        "example": "E: Unable to locate package foo",
    } in document["groups"]


def test_json_never_shows_secrets() -> None:
    leaky = run(host("a", HostState.FAILED, code=1, tail="API_TOKEN=s3cr3t failed\n"))
    text = render_json(leaky)
    assert "s3cr3t" not in text
    assert json_document(leaky)["groups"][0]["example"] == "API_TOKEN=*** failed"


def test_exit_codes() -> None:
    assert exit_code(run(host("a", HostState.OK))) == 0
    assert exit_code(run(host("a", HostState.OK), host("b", HostState.FAILED, code=2))) == 1
    network = run(
        host("a", HostState.OK), host("b", HostState.TIMEOUT), host("c", HostState.UNREACHABLE)
    )
    assert exit_code(network) == 4
    assert exit_code(MIXED) == 1
    # Hosts left unstarted (max-fail-percent) mean the run did not do its job.
    assert exit_code(run(host("a", HostState.UNREACHABLE), host("b", HostState.PENDING))) == 1


def test_junit_has_one_testcase_per_host() -> None:
    suite = ET.fromstring(junit_xml(MIXED))
    assert suite.tag == "testsuite"
    assert suite.get("tests") == "5"
    assert suite.get("failures") == "1"
    assert suite.get("errors") == "2"
    assert suite.get("skipped") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == ["web1", "web2", "web3", "web4", "web5"]
    assert [child.tag for child in cases["web1"]] == ["system-out"]
    failure = cases["web2"].find("failure")
    assert failure is not None
    assert "status 100" in (failure.get("message") or "")
    assert cases["web2"].findtext("system-out") == "E: Unable to locate package foo\n"
    error = cases["web3"].find("error")
    assert error is not None
    assert error.get("type") == "unreachable"
    timeout = cases["web4"].find("error")
    assert timeout is not None
    assert timeout.get("type") == "timeout"
    assert cases["web5"].find("skipped") is not None


def test_junit_output_is_redacted_and_valid_xml_with_control_bytes() -> None:
    noisy = run(host("a", HostState.FAILED, code=1, tail="\x1b[31mpassword=hunter2\x00\n"))
    text = junit_xml(noisy)
    assert "hunter2" not in text
    out = ET.fromstring(text).findtext("testcase/system-out") or ""
    assert "password=***" in out
