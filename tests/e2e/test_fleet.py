"""`unstall fleet` as a user runs it, against real OpenSSH sshd hosts on 127.0.0.x.

HOME and UNSTALL_HOME point into the test's directory: the client key is
``~/.ssh/id_ed25519`` and the host keys are trusted through ``~/.ssh/known_hosts`` (the
default the CLI reads), and the run history lives in the test's own database.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.fleet_support import HANG, User, by_name, entry
from tests.support.cli import run_unstall
from tests.support.sshd import SshdFleet, dead_port


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdFleet]:
    fleet = SshdFleet(tmp_path_factory.mktemp("sshd"))
    try:
        fleet.start("alpha", octet=41)
        fleet.start("beta", octet=42)
        yield fleet
    finally:
        fleet.stop_all()


def test_run_json_and_junit_with_an_unreachable_host_exit_4(
    fleet: SshdFleet, tmp_path: Path
) -> None:
    user = User(tmp_path, fleet)
    alpha = by_name(fleet, "alpha")
    user.allow(alpha)
    dead = f"127.0.0.250:{dead_port()}"
    junit = tmp_path / "fleet.xml"
    hosts = f"{entry(alpha)},{dead}"
    result = user.unstall(
        "fleet", "run", "-H", hosts, "--retries", "0", "--connect-timeout", "5",
        "--json", "--junit", str(junit), "--", user.command,
    )  # fmt: skip
    assert result.returncode == 4, result.stderr

    document = json.loads(result.stdout)
    assert set(document) == {"run", "hosts", "groups"}
    assert document["run"]
    hosts_by_name = {h["host"]: h for h in document["hosts"]}
    assert list(hosts_by_name) == [entry(alpha), dead]
    for host in document["hosts"]:
        assert set(host) == {
            "host", "state", "attempts", "exit_code", "duration_s", "output_tail",
        }  # fmt: skip
    ok, unreachable = hosts_by_name[entry(alpha)], hosts_by_name[dead]
    assert (ok["state"], ok["exit_code"], ok["attempts"]) == ("ok", 0, 1)
    assert f"done {alpha.address}" in ok["output_tail"]
    assert (unreachable["state"], unreachable["exit_code"]) == ("unreachable", None)
    assert unreachable["attempts"] == 1  # --retries 0
    assert len(document["groups"]) == 1
    group = document["groups"][0]
    assert set(group) == {"fingerprint", "count", "hosts", "example"}
    assert (group["count"], group["hosts"]) == (1, [dead])
    assert user.runs_on(alpha) == 1

    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuite"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "0", "1")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {entry(alpha), dead}
    assert cases[dead].find("error") is not None
    assert cases[entry(alpha)].find("error") is None
    assert cases[entry(alpha)].find("failure") is None


def test_failed_command_exit_1_then_status_retry_and_resume(
    fleet: SshdFleet, tmp_path: Path
) -> None:
    user = User(tmp_path, fleet)
    alpha, beta = by_name(fleet, "alpha"), by_name(fleet, "beta")
    user.allow(alpha)
    hosts = f"{entry(alpha)},{entry(beta)}"
    first = user.unstall("fleet", "run", "-H", hosts, "--", user.command)
    assert first.returncode == 1, first.stderr
    # The human summary: counts per state, errors grouped, how to go on.
    assert "2 hosts: 1 ok, 1 failed" in first.stdout
    assert "1 host: E: Unable to locate package foo" in first.stdout
    assert entry(beta) in first.stdout
    status = user.unstall("fleet", "status", "--json")
    assert status.returncode == 0, status.stderr
    stored = json.loads(status.stdout)
    run_id = stored["run"]
    assert f"unstall fleet retry {run_id}" in first.stdout
    assert {h["host"]: h["state"] for h in stored["hosts"]} == {
        entry(alpha): "ok",
        entry(beta): "failed",
    }
    assert stored["exit_code"] == 1
    assert {h["host"]: h["exit_code"] for h in stored["hosts"]}[entry(beta)] == 100

    table = user.unstall("fleet", "status", run_id)
    assert table.returncode == 0, table.stderr
    assert run_id in table.stdout
    rows = {line.split()[0]: line for line in table.stdout.splitlines() if line.strip()}
    assert "ok" in rows[entry(alpha)].split()
    assert "failed" in rows[entry(beta)].split()
    assert "E: Unable to locate package foo" in rows[entry(beta)]

    # A finished run has nothing left to resume: nothing reruns, same exit code.
    resumed = user.unstall("fleet", "resume", run_id, "--json")
    assert resumed.returncode == 1, resumed.stderr
    assert json.loads(resumed.stdout)["run"] == run_id
    assert (user.runs_on(alpha), user.runs_on(beta)) == (1, 1)

    user.allow(beta)
    retried = user.unstall("fleet", "retry", run_id, "--json")
    assert retried.returncode == 0, retried.stderr
    again = json.loads(retried.stdout)
    assert again["run"] != run_id
    assert [(h["host"], h["state"]) for h in again["hosts"]] == [(entry(beta), "ok")]
    assert again["groups"] == []
    assert (user.runs_on(alpha), user.runs_on(beta)) == (1, 2)
    latest = json.loads(user.unstall("fleet", "status", "--json").stdout)
    assert (latest["run"], latest["parent_run"]) == (again["run"], run_id)


@pytest.mark.parametrize(
    "args",
    [
        ["fleet", "run", "--", "true"],  # no -i / -H
        ["fleet", "run", "-H", "127.0.0.41"],  # no command
        ["fleet", "run", "-H", "127.0.0.41", "-i", "hosts.txt", "--", "true"],  # both
        ["fleet", "run", "-i", "no-such-inventory", "--", "true"],
        ["fleet", "run", "-H", "127.0.0.41", "--forks", "0", "--", "true"],
        ["fleet", "status", "no-such-run"],
        ["fleet", "retry", "no-such-run"],
        ["fleet", "resume", "no-such-run"],
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "UNSTALL_HOME": str(tmp_path / "unstall-home"),
    }
    result = run_unstall(args, cwd=tmp_path, env=env, timeout=HANG)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
