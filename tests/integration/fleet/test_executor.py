"""One attempt on one host against real OpenSSH sshd instances on 127.0.0.x."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.sshd import (
    SshdFleet,
    SshdHost,
    dead_port,
    keygen,
    known_hosts_pattern,
    public_key_line,
    silent_listener,
)
from unstall.fleet.executor import Target, run_once
from unstall.fleet.states import HostState, Outcome

HANG_BOUND_S = 20.0  # "did not hang": far above any timeout used below


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdFleet]:
    """Two sshd hosts: ``web`` runs what it is asked, ``forced`` has a ForceCommand."""
    fleet = SshdFleet(tmp_path_factory.mktemp("sshd"))
    try:
        fleet.start("web", octet=11)
        fleet.start("forced", octet=12, force_command="echo forced-output; exit 7")
        yield fleet
    finally:
        fleet.stop_all()


def host(fleet: SshdFleet, name: str) -> SshdHost:
    return next(h for h in fleet.hosts if h.name == name)


def target(fleet: SshdFleet, sshd: SshdHost) -> Target:
    return Target(sshd.name, sshd.address, sshd.port, user=fleet.user, key_file=fleet.client_key)


def run(target: Target, command: str, known_hosts: Path, **options: Any) -> Outcome:
    settings: dict[str, Any] = {"connect_timeout": 5.0, "command_timeout": 15.0}
    settings.update(options)
    return asyncio.run(run_once(target, command, known_hosts=known_hosts, **settings))


@pytest.fixture
def trusted(fleet: SshdFleet, tmp_path: Path) -> Path:
    """A known_hosts file that knows both hosts."""
    return fleet.write_known_hosts(tmp_path / "known_hosts", *fleet.hosts)


def test_ok_command_reports_output_and_states(fleet: SshdFleet, trusted: Path) -> None:
    states: list[HostState] = []
    outcome = run(
        target(fleet, host(fleet, "web")),
        "echo hello from web; echo oops >&2",
        trusted,
        on_state=states.append,
    )
    assert outcome.state is HostState.OK, outcome.error
    assert outcome.exit_code == 0
    assert "hello from web" in outcome.output_tail
    assert "oops" in outcome.output_tail  # stderr is part of the combined output
    assert outcome.error is None
    assert states == [HostState.CONNECTING, HostState.RUNNING, HostState.OK]


def test_output_cap_keeps_the_tail(fleet: SshdFleet, trusted: Path) -> None:
    command = "head -c 200000 /dev/zero | tr '\\0' a; echo; echo LAST-LINE"
    outcome = run(target(fleet, host(fleet, "web")), command, trusted, output_cap=1000)
    assert outcome.state is HostState.OK, outcome.error
    assert len(outcome.output_tail) == 1000
    assert outcome.output_tail.endswith("aaaa\nLAST-LINE\n")


def test_secrets_in_output_are_redacted(fleet: SshdFleet, trusted: Path) -> None:
    outcome = run(target(fleet, host(fleet, "web")), "echo DB_PASSWORD=hunter2", trusted)
    assert outcome.state is HostState.OK, outcome.error
    assert "hunter2" not in outcome.output_tail
    assert "DB_PASSWORD=***" in outcome.output_tail


def test_non_zero_exit_is_failed(fleet: SshdFleet, trusted: Path) -> None:
    outcome = run(
        target(fleet, host(fleet, "web")), "echo E: Unable to locate foo; exit 3", trusted
    )
    assert outcome.state is HostState.FAILED
    assert outcome.exit_code == 3
    assert "E: Unable to locate foo" in outcome.output_tail
    assert outcome.error is not None
    assert "status 3" in outcome.error


def test_forced_command_host_fails_with_its_own_status(fleet: SshdFleet, trusted: Path) -> None:
    outcome = run(target(fleet, host(fleet, "forced")), "echo never-runs", trusted)
    assert outcome.state is HostState.FAILED
    assert outcome.exit_code == 7
    assert "forced-output" in outcome.output_tail
    assert "never-runs" not in outcome.output_tail


def test_dead_port_is_unreachable_quickly(fleet: SshdFleet, trusted: Path) -> None:
    dead = Target("dead", "127.0.0.250", dead_port("127.0.0.250"), user=fleet.user)
    started = time.monotonic()
    outcome = run(dead, "true", trusted, connect_timeout=30.0)
    assert time.monotonic() - started < HANG_BOUND_S
    assert outcome.state is HostState.UNREACHABLE
    assert outcome.cause == "tcp-refused"
    assert outcome.error is not None
    assert "dead" in outcome.error
    assert "refused" in outcome.error
    assert outcome.exit_code is None


def test_listener_without_banner_times_out_at_connect(fleet: SshdFleet, trusted: Path) -> None:
    with silent_listener("127.0.0.251") as port:
        silent = Target("silent", "127.0.0.251", port, user=fleet.user)
        started = time.monotonic()
        outcome = run(silent, "true", trusted, connect_timeout=1.0)
        assert time.monotonic() - started < HANG_BOUND_S
    assert outcome.state is HostState.UNREACHABLE
    assert outcome.cause == "ssh-handshake-timeout"
    assert (
        outcome.error == f"SSH handshake with silent (127.0.0.251:{port}) did not finish after 1 s"
    )


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_hung_command_times_out_and_the_remote_process_is_gone(
    fleet: SshdFleet, trusted: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "sleep.pid"
    # The sleep is a grandchild of the session, not the process sshd started.
    command = f"sleep 600 & echo $! > {pid_file}; echo started; wait"
    started = time.monotonic()
    outcome = run(target(fleet, host(fleet, "web")), command, trusted, command_timeout=5.0)
    assert time.monotonic() - started < HANG_BOUND_S
    assert outcome.state is HostState.TIMEOUT
    assert outcome.exit_code is None
    assert "started" in outcome.output_tail
    assert outcome.error is not None
    assert "did not finish within 5 s" in outcome.error
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10.0
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), f"remote sleep {pid} survived the command timeout"


def test_connection_lost_mid_command_is_unreachable(fleet: SshdFleet, trusted: Path) -> None:
    # $PPID is the wrapper shell; its parent is sshd's session process, killed here.
    command = "echo before; sleep 0.2; kill -9 $(cut -d' ' -f4 /proc/$PPID/stat); sleep 60"
    started = time.monotonic()
    outcome = run(target(fleet, host(fleet, "web")), command, trusted, keepalive_interval=1.0)
    assert time.monotonic() - started < HANG_BOUND_S
    assert outcome.state is HostState.UNREACHABLE
    assert outcome.cause == "ssh-connection-lost"
    assert outcome.error is not None
    assert "lost while the command ran" in outcome.error


def test_changed_host_key_is_refused_even_with_accept_new(fleet: SshdFleet, tmp_path: Path) -> None:
    web = host(fleet, "web")
    impostor = keygen(tmp_path / "other_ed25519")
    known = tmp_path / "known_hosts"
    recorded = f"{known_hosts_pattern(web.address, web.port)} {public_key_line(impostor)}\n"
    known.write_text(recorded)
    for accept_new in (False, True):
        outcome = run(target(fleet, web), "true", known, accept_new=accept_new)
        assert outcome.state is HostState.UNREACHABLE
        assert outcome.cause == "ssh-host-key-changed"
        assert outcome.error is not None
        assert "web" in outcome.error
        assert "CHANGED" in outcome.error
        assert str(known) in outcome.error
    assert known.read_text() == recorded


def test_unknown_host_with_accept_new_is_recorded(fleet: SshdFleet, tmp_path: Path) -> None:
    web = host(fleet, "web")
    known = tmp_path / "ssh" / "known_hosts"
    outcome = run(target(fleet, web), "echo hi", known, accept_new=True)
    assert outcome.state is HostState.OK, outcome.error
    assert known.read_text().splitlines() == [web.known_hosts_line]
    again = run(target(fleet, web), "echo hi", known)  # now known: no accept_new needed
    assert again.state is HostState.OK, again.error
    assert known.read_text().splitlines() == [web.known_hosts_line]


def test_unknown_host_without_accept_new_is_refused(fleet: SshdFleet, tmp_path: Path) -> None:
    forced = host(fleet, "forced")
    known = fleet.write_known_hosts(tmp_path / "known_hosts", host(fleet, "web"))
    outcome = run(target(fleet, forced), "true", known)
    assert outcome.state is HostState.UNREACHABLE
    assert outcome.cause == "ssh-host-key-unknown"
    assert outcome.error is not None
    assert "forced" in outcome.error
    assert str(known) in outcome.error
    assert forced.known_hosts_line not in known.read_text()


def test_key_the_host_does_not_authorize_is_refused(
    fleet: SshdFleet, trusted: Path, tmp_path: Path
) -> None:
    web = host(fleet, "web")
    stranger = keygen(tmp_path / "stranger_ed25519")
    outcome = run(Target("web", web.address, web.port, fleet.user, stranger), "true", trusted)
    assert outcome.state is HostState.UNREACHABLE
    assert outcome.cause == "ssh-auth-failed"
    assert outcome.error is not None
    assert f"authentication as {fleet.user} on web" in outcome.error
    assert "PRIVATE KEY" not in outcome.error + outcome.output_tail


def test_missing_key_file_is_a_configuration_failure(
    fleet: SshdFleet, trusted: Path, tmp_path: Path
) -> None:
    web = host(fleet, "web")
    missing = tmp_path / "no_such_key"
    outcome = run(Target("web", web.address, web.port, fleet.user, missing), "true", trusted)
    assert outcome.state is HostState.FAILED
    assert outcome.cause == "config-invalid"
    assert outcome.error is not None
    assert str(missing) in outcome.error


def test_output_is_reported_while_the_command_runs(fleet: SshdFleet, trusted: Path) -> None:
    seen: list[tuple[float, str]] = []
    started = time.monotonic()
    command = "echo first; sleep 1; printf 'second\\n\\n'; sleep 1; echo third"
    outcome = run(
        target(fleet, host(fleet, "web")),
        command,
        trusted,
        on_output=lambda line: seen.append((time.monotonic() - started, line)),
    )
    assert outcome.state is HostState.OK
    lines = [line for _, line in seen]
    assert lines[0] == "first"
    assert lines[-1] == "third"
    assert "second" in lines  # the last non-empty line, not the blank one after it
    # "first" arrived while the command still had two seconds to run.
    assert seen[0][0] < outcome.duration_s
