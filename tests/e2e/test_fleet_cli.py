"""`unstall fleet` options as a user runs them, against real OpenSSH sshd on 127.0.0.x.

Inventories (Ansible INI and YAML, plain hosts files) with ``--limit``; host keys with and
without ``--accept-new``; ``--max-fail-percent``; bad input; the live table on a terminal;
and ``fleet go`` on two hosts whose sessions get their own HOME and PATH from sshd
(``SetEnv``): one has an ``unstall`` program, the other only ``go`` (fakes that record
their arguments).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.fleet_support import HANG, User, by_name, entry
from tests.support.cli import run_on_terminal, run_unstall
from tests.support.sshd import SshdFleet, SshdHost, keygen, known_hosts_pattern, public_key_line

# A fake tool: records its arguments in $HOME/NAME.args, says where it ran; the fake go
# fails when asked to with --break-plain-go (the fake unstall never does).
FAKE_TOOL = """#!/bin/sh
printf '%s\\n' "$@" > "$HOME/{name}.args"
echo "{name} ran in $(pwd)"
for a in "$@"; do
  if [ "$a" = --break-plain-go ] && [ {name} = go ]; then
    echo "go: build failed on purpose" >&2; exit 3
  fi
done
"""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdFleet]:
    root = tmp_path_factory.mktemp("sshd")
    fleet = SshdFleet(root)
    try:
        for octet, name in enumerate(("alpha", "beta", "gamma", "delta"), 71):
            fleet.start(name, octet=octet)
        for octet, name, tools in (
            (75, "withunstall", ("unstall", "go")),
            (76, "plaingo", ("go",)),
        ):
            home = root / f"{name}-home"
            (home / "bin").mkdir(parents=True)
            (home / "proj").mkdir()
            for tool in tools:
                (home / "bin" / tool).write_text(FAKE_TOOL.format(name=tool))
                (home / "bin" / tool).chmod(0o755)
            # The host's own HOME (so no rc file of this machine's user changes PATH) and
            # a PATH with only its bin and the system's.
            config = [f"SetEnv HOME={home} PATH={home / 'bin'}:/usr/bin:/bin"]
            fleet.start(name, octet=octet, extra_config=config)
        yield fleet
    finally:
        fleet.stop_all()


def home_of(fleet: SshdFleet, name: str) -> Path:
    return fleet.root / f"{name}-home"


def summary_run_id(stdout: str) -> str:
    match = re.search(r"fleet run (\S+): ", stdout)
    assert match, stdout
    return match.group(1)


# -- inventories and --limit -------------------------------------------------------------


def ini_inventory(fleet: SshdFleet, path: Path) -> Path:
    lines = ["[web]"]
    for name in ("alpha", "beta"):
        host = by_name(fleet, name)
        lines.append(f"{name} ansible_host={host.address} ansible_port={host.port}")
    gamma = by_name(fleet, "gamma")
    lines += ["", "[db]", f"gamma ansible_host={gamma.address} ansible_port={gamma.port}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ini_inventory_with_limit_to_a_group(fleet: SshdFleet, tmp_path: Path) -> None:
    user = User(tmp_path, fleet)
    alpha, beta, gamma = (by_name(fleet, n) for n in ("alpha", "beta", "gamma"))
    user.allow(alpha)
    user.allow(beta)
    inventory = ini_inventory(fleet, tmp_path / "hosts.ini")
    result = user.unstall(
        "fleet", "run", "-i", str(inventory), "--limit", "web", "--json", "--", user.command
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert [(h["host"], h["state"]) for h in document["hosts"]] == [("alpha", "ok"), ("beta", "ok")]
    assert (user.runs_on(alpha), user.runs_on(beta), user.runs_on(gamma)) == (1, 1, 0)


def test_yaml_inventory_with_limit_to_one_host(fleet: SshdFleet, tmp_path: Path) -> None:
    user = User(tmp_path, fleet)
    alpha, gamma = by_name(fleet, "alpha"), by_name(fleet, "gamma")
    hosts = "\n".join(
        f"        {h.name}:\n          ansible_host: {h.address}\n          ansible_port: {h.port}"
        for h in (alpha, gamma)
    )
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(f"all:\n  children:\n    build:\n      hosts:\n{hosts}\n")
    result = user.unstall(
        "fleet", "run", "-i", str(inventory), "--limit", "gamma", "--", user.command
    )
    # gamma is not allowed: its failure is the proof that it, and only it, ran.
    assert result.returncode == 1, result.stderr
    assert "1 hosts: 1 failed" in result.stdout
    assert "1 host: E: Unable to locate package foo" in result.stdout
    assert (user.runs_on(alpha), user.runs_on(gamma)) == (0, 1)


def test_plain_hosts_file_with_limit(fleet: SshdFleet, tmp_path: Path) -> None:
    user = User(tmp_path, fleet)
    alpha, beta = by_name(fleet, "alpha"), by_name(fleet, "beta")
    user.allow(beta)
    inventory = tmp_path / "hosts.txt"
    inventory.write_text(f"# build boxes\n{entry(alpha)}\n{entry(beta)}  # the second\n")
    result = user.unstall(
        "fleet", "run", "-i", str(inventory), "--limit", beta.address, "--json", "--", user.command
    )
    assert result.returncode == 0, result.stderr
    assert [h["host"] for h in json.loads(result.stdout)["hosts"]] == [entry(beta)]
    assert (user.runs_on(alpha), user.runs_on(beta)) == (0, 1)


# -- host keys -----------------------------------------------------------------------------


def test_accept_new_records_an_unknown_key_and_never_accepts_a_changed_one(
    fleet: SshdFleet, tmp_path: Path
) -> None:
    user = User(tmp_path, fleet, trusted=())
    alpha = by_name(fleet, "alpha")
    user.allow(alpha)
    assert user.known_hosts.read_text() == ""

    refused = user.unstall("fleet", "run", "-H", entry(alpha), "--retries", "0", "--", "true")
    assert refused.returncode == 4, refused.stderr
    assert "is unknown" in refused.stdout
    assert "refusing to connect" in refused.stdout
    assert user.runs_on(alpha) == 0
    assert user.known_hosts.read_text() == ""

    accepted = user.unstall("fleet", "run", "-H", entry(alpha), "--accept-new", "--", user.command)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "1 hosts: 1 ok" in accepted.stdout
    assert user.known_hosts.read_text().split() == alpha.known_hosts_line.split()
    # Recorded: the next run needs no --accept-new.
    again = user.unstall("fleet", "run", "-H", entry(alpha), "--", user.command)
    assert again.returncode == 0, again.stdout
    assert user.runs_on(alpha) == 2

    # The same address:port now answers with another key: refused even with --accept-new.
    other = keygen(tmp_path / "other_ed25519")
    pattern = known_hosts_pattern(alpha.address, alpha.port)
    user.known_hosts.write_text(f"{pattern} {public_key_line(other)}\n")
    changed = user.unstall(
        "fleet", "run", "-H", entry(alpha), "--accept-new", "--json", "--", user.command
    )
    assert changed.returncode == 4, changed.stderr
    (host,) = json.loads(changed.stdout)["hosts"]
    assert (host["state"], host["attempts"]) == ("unreachable", 1)  # never retried
    (group,) = json.loads(changed.stdout)["groups"]
    assert "has CHANGED" in group["example"]
    assert "refusing to connect" in group["example"]
    assert user.runs_on(alpha) == 2
    assert user.known_hosts.read_text() == f"{pattern} {public_key_line(other)}\n"


# -- --max-fail-percent -------------------------------------------------------------------


def test_max_fail_percent_stops_starting_hosts(fleet: SshdFleet, tmp_path: Path) -> None:
    user = User(tmp_path, fleet)
    names = ("alpha", "beta", "gamma", "delta")
    hosts = [by_name(fleet, n) for n in names]
    for host in hosts[1:]:
        user.allow(host)  # only the first fails, and that is already over 10%
    listed = ",".join(entry(h) for h in hosts)
    args = ("fleet", "run", "-H", listed, "--forks", "1", "--max-fail-percent", "10")
    result = user.unstall(*args, "--", user.command)
    assert result.returncode == 1, result.stderr
    assert "4 hosts: 3 pending, 1 failed" in result.stdout
    run_id = summary_run_id(result.stdout)
    assert f"unfinished hosts: unstall fleet resume {run_id}" in result.stdout
    assert [user.runs_on(h) for h in hosts] == [1, 0, 0, 0]

    status = json.loads(user.unstall("fleet", "status", run_id, "--json").stdout)
    assert [(h["host"], h["state"]) for h in status["hosts"]] == [(entry(hosts[0]), "failed")]
    assert status["unfinished"] == [entry(h) for h in hosts[1:]]
    assert status["exit_code"] == 1

    as_json = user.unstall(*args, "--json", "--", user.command)
    assert as_json.returncode == 1
    assert [h["host"] for h in json.loads(as_json.stdout)["hosts"]] == [entry(hosts[0])]


def test_a_run_joins_the_history_error_groups_and_writes_its_metrics(
    fleet: SshdFleet, tmp_path: Path
) -> None:
    user = User(tmp_path, fleet)
    alpha, beta = by_name(fleet, "alpha"), by_name(fleet, "beta")
    user.allow(beta)
    textfile = tmp_path / "metrics" / "fleet.prom"
    listed = f"{entry(alpha)},{entry(beta)}"
    result = user.unstall(
        "fleet", "run", "-H", listed, "--metrics-textfile", str(textfile), "--", user.command
    )
    assert result.returncode == 1, result.stderr

    metrics = textfile.read_text()
    assert 'unstall_fleet_hosts{command="fleet",state="ok"} 1.0' in metrics
    assert 'unstall_fleet_hosts{command="fleet",state="failed"} 1.0' in metrics
    assert 'unstall_run_exit_code{command="fleet"} 1.0' in metrics

    database = Path(user.env["UNSTALL_HOME"]) / "history.sqlite3"
    with contextlib.closing(sqlite3.connect(database)) as db:
        runs = db.execute("SELECT command, exit_code FROM runs").fetchall()
        groups = db.execute("SELECT pattern, count FROM error_groups").fetchall()
        touched = db.execute("SELECT command, host FROM error_events").fetchall()
    assert runs == [("fleet", 1)]
    assert groups == [("E: Unable to locate package foo", 1)]
    assert touched == [("fleet", entry(alpha))]


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "args", "problem", "fix"),
    [
        (b"\xff\xfe not text\n", [], "cannot read inventory", "encoding"),
        (b"web1:99999\n", [], "invalid port '99999'", "[user@]host[:port]"),
        (b"[web\nalpha ansible_host=127.0.0.71\n", [], "inventory", "ansible-inventory"),
        (b"127.0.0.71\n", ["--forks", "0"], "--forks", ""),
        (b"127.0.0.71\n", ["--limit", "nomatch"], "--limit 'nomatch' matches no host", "pattern"),
    ],
)
def test_bad_input_exits_2_naming_the_problem_and_fix(
    tmp_path: Path, content: bytes, args: list[str], problem: str, fix: str
) -> None:
    inventory = tmp_path / "hosts"
    inventory.write_bytes(content)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "UNSTALL_HOME": str(tmp_path / "u")}
    result = run_unstall(
        ["fleet", "run", "-i", str(inventory), *args, "--", "true"],
        cwd=tmp_path,
        env=env,
        timeout=HANG,
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert problem in result.stderr
    assert fix in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("command", "message", "fix"),
    [
        ("run", "no command given", "-- uptime"),
        ("go", "no go arguments given", "-- mod download"),
    ],
)
def test_no_command_exits_2(tmp_path: Path, command: str, message: str, fix: str) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "UNSTALL_HOME": str(tmp_path / "u")}
    result = run_unstall(
        ["fleet", command, "-H", "127.0.0.71"], cwd=tmp_path, env=env, timeout=HANG
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert fix in result.stderr


# -- the live table ------------------------------------------------------------------------


def run_on_a_terminal(user: User, args: list[str]) -> tuple[int, str, str]:
    """Run unstall with stderr on a 120x40 pseudo-terminal; (exit code, screen, stdout)."""
    env = {**user.env, "TERM": "xterm-256color"}
    shown = run_on_terminal(args, cwd=user.work, env=env, timeout=HANG, size=(40, 120))
    return shown.returncode, shown.screen, shown.stdout


def test_live_table_on_a_terminal_then_the_summary(fleet: SshdFleet, tmp_path: Path) -> None:
    user = User(tmp_path, fleet)
    alpha, beta = by_name(fleet, "alpha"), by_name(fleet, "beta")
    user.allow(alpha)
    command = f"sleep 1; {user.command}"  # a second of "running" for the table to show
    hosts = f"{entry(alpha)},{entry(beta)}"
    code, screen, stdout = run_on_a_terminal(user, ["fleet", "run", "-H", hosts, "--", command])
    assert code == 1, screen
    run_id = summary_run_id(stdout)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    assert f"unstall fleet {run_id} 0/2 done" in plain
    assert "running" in plain
    assert f"unstall fleet {run_id} 2/2 done · 1 ok · 1 failed" in plain
    for column in ("host", "state", "attempt", "elapsed", "last output"):
        assert column in plain
    assert "E: Unable to locate package foo" in plain
    # The summary follows, errors grouped by fingerprint.
    assert "2 hosts: 1 ok, 1 failed" in stdout
    assert "1 host: E: Unable to locate package foo" in stdout


def test_no_live_lines_on_a_pipe(fleet: SshdFleet, tmp_path: Path) -> None:
    user = User(tmp_path, fleet)
    alpha = by_name(fleet, "alpha")
    result = user.unstall("fleet", "run", "-H", entry(alpha), "--", user.command)
    assert result.returncode == 1
    assert result.stderr == ""
    assert "1 hosts: 1 failed" in result.stdout


# -- fleet go --------------------------------------------------------------------------------

GOARGS = ["env", "GOFLAGS=-mod=mod -x", "it's", 'say "hi"', "$HOME", "a;b", "*"]


def go_hosts(fleet: SshdFleet) -> tuple[SshdHost, SshdHost]:
    return by_name(fleet, "withunstall"), by_name(fleet, "plaingo")


def clear_args(fleet: SshdFleet) -> None:
    for name in ("withunstall", "plaingo"):
        for tool in ("unstall", "go"):
            (home_of(fleet, name) / f"{tool}.args").unlink(missing_ok=True)


def test_fleet_go_uses_unstall_where_installed_and_go_elsewhere(
    fleet: SshdFleet, tmp_path: Path
) -> None:
    user = User(tmp_path, fleet)
    with_unstall, plain = go_hosts(fleet)
    clear_args(fleet)
    hosts = f"{entry(with_unstall)},{entry(plain)}"
    result = user.unstall("fleet", "go", "-H", hosts, "--", *GOARGS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 hosts: 2 ok" in result.stdout
    assert (
        f"unstall go on 1 host: {entry(with_unstall)}; plain go on 1 host: {entry(plain)}"
        in result.stdout
    )
    # Every argument arrived as typed, through the remote shell.
    recorded = home_of(fleet, "withunstall") / "unstall.args"
    assert recorded.read_text().splitlines() == ["go", *GOARGS]
    assert (home_of(fleet, "plaingo") / "go.args").read_text().splitlines() == GOARGS
    assert not (home_of(fleet, "withunstall") / "go.args").exists()  # unstall was preferred


def test_fleet_go_json_tools_and_chdir(fleet: SshdFleet, tmp_path: Path) -> None:
    user = User(tmp_path, fleet)
    with_unstall, plain = go_hosts(fleet)
    hosts = f"{entry(with_unstall)},{entry(plain)}"
    result = user.unstall(
        "fleet", "go", "-H", hosts, "--chdir", "~/proj", "--json", "--", "mod", "download"
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"run", "hosts", "groups", "tools"}
    assert document["tools"] == {"unstall": [entry(with_unstall)], "go": [entry(plain)]}
    tails = {h["host"]: h["output_tail"] for h in document["hosts"]}
    assert tails == {
        entry(with_unstall): f"unstall ran in {home_of(fleet, 'withunstall') / 'proj'}\n",
        entry(plain): f"go ran in {home_of(fleet, 'plaingo') / 'proj'}\n",
    }
    for host in document["hosts"]:
        assert set(host) == {"host", "state", "attempts", "exit_code", "duration_s", "output_tail"}


def test_fleet_go_failing_tool_exit_1_and_retry_keeps_reporting_tools(
    fleet: SshdFleet, tmp_path: Path
) -> None:
    user = User(tmp_path, fleet)
    with_unstall, plain = go_hosts(fleet)
    hosts = f"{entry(with_unstall)},{entry(plain)}"
    result = user.unstall("fleet", "go", "-H", hosts, "--", "build", "--break-plain-go")
    assert result.returncode == 1, result.stderr
    assert "2 hosts: 1 ok, 1 failed" in result.stdout
    assert f"unstall go on 1 host: {entry(with_unstall)}; plain go on 1 host" in result.stdout
    # Errors are grouped by the tool's message, not by the marker line.
    assert "1 host: go: build failed on purpose" in result.stdout
    assert "unstall-fleet-go" not in result.stdout

    retried = user.unstall("fleet", "retry", summary_run_id(result.stdout))
    assert retried.returncode == 1, retried.stderr
    assert f"plain go on 1 host: {entry(plain)}" in retried.stdout
    assert "unstall go on" not in retried.stdout  # only the failed host reran
    status = user.unstall("fleet", "status")
    assert "go: build failed on purpose" in status.stdout
