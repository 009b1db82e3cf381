"""Fleet runs against real OpenSSH sshd hosts on 127.0.0.x, including kill -9 and resume."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.sshd import SshdFleet, SshdHost, dead_port
from unstall.events import Event, EventBus, FleetHostChanged
from unstall.fleet.executor import Target
from unstall.fleet.report import exit_code, json_document, junit_xml
from unstall.fleet.runner import RunOptions, resume_fleet, run_fleet
from unstall.fleet.states import HostState
from unstall.fleet.store import FleetStore

HANG_BOUND_S = 60.0  # "did not hang": far above any timeout used below

# Each host appends a line to a file named after its own address (sshd's SSH_CONNECTION
# says which address the session came in on), so a rerun is visible; a marker file makes
# one host hang.
MARK = (
    'a=$(echo "$SSH_CONNECTION" | cut -d" " -f3); echo run >> {dir}/"$a".log; '
    'if [ -e {dir}/hang-"$a" ]; then sleep 120; fi; echo done "$a"'
)

# The controller killed with SIGKILL: a plain run with one fork, so hosts go in order.
CONTROLLER = """
import asyncio, json, sys
from pathlib import Path
from unstall.events import EventBus
from unstall.fleet.executor import Target
from unstall.fleet.runner import RunOptions, run_fleet
from unstall.fleet.store import FleetStore

spec = json.loads(sys.argv[1])
targets = [
    Target(t["name"], t["address"], t["port"], t["user"], Path(t["key"])) for t in spec["hosts"]
]
options = RunOptions(forks=1, retries=0, connect_timeout=5.0, command_timeout=300.0,
                     known_hosts=Path(spec["known_hosts"]))
store = FleetStore(Path(spec["db"]))
asyncio.run(run_fleet(targets, spec["command"], options, bus=EventBus(), store=store,
                      run_id=spec["run_id"]))
"""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdFleet]:
    fleet = SshdFleet(tmp_path_factory.mktemp("sshd"))
    try:
        for octet in (31, 32, 33, 34):
            fleet.start(f"node{octet}", octet=octet)
        fleet.start(
            "broken", octet=35, force_command="echo 'E: Unable to locate package foo'; exit 100"
        )
        yield fleet
    finally:
        fleet.stop_all()


def target(fleet: SshdFleet, sshd: SshdHost) -> Target:
    return Target(sshd.name, sshd.address, sshd.port, user=fleet.user, key_file=fleet.client_key)


def by_name(fleet: SshdFleet, name: str) -> SshdHost:
    return next(h for h in fleet.hosts if h.name == name)


def test_mixed_fleet_reports_ok_failed_and_unreachable(fleet: SshdFleet, tmp_path: Path) -> None:
    known = fleet.write_known_hosts(tmp_path / "known_hosts", *fleet.hosts)
    hosts = [
        target(fleet, by_name(fleet, "node31")),
        Target("dead", "127.0.0.250", dead_port(), user=fleet.user, key_file=fleet.client_key),
        target(fleet, by_name(fleet, "broken")),
    ]
    events: list[Event] = []
    bus = EventBus()
    bus.subscribe(events.append)
    options = RunOptions(
        forks=3,
        retries=1,
        connect_timeout=5.0,
        command_timeout=30.0,
        known_hosts=known,
        backoff_base=0.05,
    )
    store = FleetStore(tmp_path / "history.sqlite3")
    started = time.monotonic()
    try:
        run = asyncio.run(run_fleet(hosts, "echo hello fleet", options, bus=bus, store=store))
    finally:
        store.close()
    assert time.monotonic() - started < HANG_BOUND_S
    states = {h.name: (h.state, h.attempts, h.exit_code) for h in run.hosts}
    assert states == {
        "node31": (HostState.OK, 1, 0),
        "dead": (HostState.UNREACHABLE, 2, None),  # refused, retried once
        "broken": (HostState.FAILED, 1, 100),  # a non-zero exit is not retried by default
    }
    assert exit_code(run) == 1
    assert run.exit_code == 1
    document = json_document(run)
    assert document["hosts"][0]["output_tail"] == "hello fleet\n"
    assert {"E: Unable to locate package foo"} <= {g["fingerprint"] for g in document["groups"]}
    dead_states = [e.state for e in events if isinstance(e, FleetHostChanged) and e.host == "dead"]
    assert dead_states == ["pending", "connecting", "retrying", "connecting", "unreachable"]
    suite = ET.fromstring(junit_xml(run))
    assert (suite.get("failures"), suite.get("errors")) == ("1", "1")


def _wait_for(path: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + HANG_BOUND_S
    while not path.exists():
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            raise AssertionError(f"controller exited early:\n{stderr}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.05)


def test_kill_9_then_resume_never_reruns_ok_hosts(fleet: SshdFleet, tmp_path: Path) -> None:
    nodes = [by_name(fleet, f"node{octet}") for octet in (31, 32, 33, 34)]
    known = fleet.write_known_hosts(tmp_path / "known_hosts", *nodes)
    marks = tmp_path / "marks"
    marks.mkdir()
    hang = marks / "hang-127.0.0.33"
    hang.touch()
    db = tmp_path / "history.sqlite3"
    spec = {
        "hosts": [
            {
                "name": n.name,
                "address": n.address,
                "port": n.port,
                "user": fleet.user,
                "key": str(fleet.client_key),
            }
            for n in nodes
        ],
        "known_hosts": str(known),
        "db": str(db),
        "command": MARK.format(dir=marks),
        "run_id": "run-killed",
    }
    controller = subprocess.Popen(
        [sys.executable, "-c", CONTROLLER, json.dumps(spec)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3] / "src")},
    )
    try:
        _wait_for(marks / "127.0.0.33.log", controller)  # node33 is hanging mid-command
    finally:
        controller.send_signal(signal.SIGKILL)
        controller.wait(timeout=HANG_BOUND_S)
    assert controller.returncode == -signal.SIGKILL

    store = FleetStore(db)
    try:
        killed = store.load_run("run-killed")
        assert killed is not None
        assert killed.finished is None
        states = [h.state for h in killed.hosts]
        assert states[:2] == [HostState.OK, HostState.OK]
        # node33 was mid-command (non-final states are written in batches), node34 waiting.
        assert not states[2].final
        assert states[3] is HostState.PENDING
        assert [t.name for t in store.unfinished_hosts("run-killed")] == ["node33", "node34"]

        hang.unlink()
        resumed = asyncio.run(
            asyncio.wait_for(resume_fleet("run-killed", bus=EventBus(), store=store), HANG_BOUND_S)
        )
    finally:
        store.close()
    assert resumed.run_id == "run-killed"
    assert [h.state for h in resumed.hosts] == [HostState.OK] * 4
    assert resumed.exit_code == 0
    runs = {n.address: (marks / f"{n.address}.log").read_text().count("run") for n in nodes}
    # The ok hosts ran once; the one killed mid-command ran again; the pending one once.
    assert runs == {"127.0.0.31": 1, "127.0.0.32": 1, "127.0.0.33": 2, "127.0.0.34": 1}
    assert resumed.hosts[2].output_tail == "done 127.0.0.33\n"
