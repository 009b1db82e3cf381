"""The client side of bench/fleet.py and the two peers it is measured against.

The lab (client key, known_hosts, HOME, the peers' virtualenv), each scenario's host
list and input files, one timed command (wall and CPU time, children included), and one
run of Ansible ad-hoc and of parallel-ssh, installed by pip into their own virtualenv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tests.support.cli import UNSTALL

from bench.fleet_report import Outcome, parse_ansible, parse_pssh

PEERS: Final = ("ansible-core", "parallel-ssh")
PSSH_CALL: Final = """\
client = ParallelSSHClient(addresses, host_config=[HostConfig(port=PORT, user=USER,
    private_key=KEY, alias=NAME, num_retries=1) for each host], pool_size={forks},
    timeout={timeout:g}, num_retries=1)
output = client.run_command("true", stop_on_errors=False); client.join(output)"""
# Run with the peers' interpreter: one attempt per host, results as JSON on stdout.
PSSH_SCRIPT: Final = """\
import json, sys
from pssh.clients import ParallelSSHClient
from pssh.config import HostConfig

spec = json.load(open(sys.argv[1]))
configs = [
    HostConfig(port=h["port"], user=spec["user"], private_key=spec["key"], alias=h["name"],
               num_retries=1)
    for h in spec["hosts"]
]
client = ParallelSSHClient([h["address"] for h in spec["hosts"]], host_config=configs,
                           pool_size=spec["forks"], timeout=spec["timeout"], num_retries=1)
output = client.run_command("true", stop_on_errors=False)
client.join(output)
print(json.dumps([{"name": o.alias, "exit_code": o.exit_code,
                   "error": None if o.exception is None else repr(o.exception)}
                  for o in output]))
"""


@dataclass(frozen=True)
class Target:
    """One entry of a scenario's host list."""

    name: str
    address: str
    port: int


@dataclass(frozen=True)
class Scenario:
    """A host list, which of its hosts must fail, and each tool's input files for it."""

    name: str
    targets: tuple[Target, ...]
    dead: frozenset[str]
    hosts_file: Path
    inventory: Path
    pssh_spec: Path

    @property
    def alive(self) -> frozenset[str]:
        """Names of the hosts that must succeed."""
        return frozenset(t.name for t in self.targets) - self.dead


@dataclass(frozen=True)
class Lab:
    """The client side shared by every tool: key, known_hosts, HOME, peers' venv."""

    root: Path
    user: str
    key: Path
    known_hosts: Path
    env: dict[str, str]
    peers: Path
    forks: int
    connect_timeout: float


def ensure_peers(work: Path) -> Path:
    """A virtualenv with ansible-core and parallel-ssh under ``work`` (reused if complete)."""
    venv = work / "peers"
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import ansible, pssh.clients"]
    if (venv / "bin" / "ansible").is_file() and subprocess.run(probe, check=False).returncode == 0:
        return venv
    print(f"installing {', '.join(PEERS)} into {venv}", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *PEERS], check=True)
    return venv


def versions(lab: Lab) -> dict[str, str]:
    """Versions of the three tools and of OpenSSH, for the docs."""
    code = "import importlib.metadata as m, sys; print(*(m.version(n) for n in sys.argv[1:]))"
    script = [str(lab.peers / "bin" / "python"), "-c", code, *PEERS]
    peers = subprocess.run(script, capture_output=True, text=True, check=True).stdout.split()
    ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True, check=False).stderr
    ours = subprocess.run([UNSTALL, "--version"], capture_output=True, text=True, check=False)
    return {
        "unstall --version": ours.stdout.strip().split()[-1] if ours.stdout.strip() else "?",
        **dict(zip(PEERS, peers, strict=True)),
        "OpenSSH (sshd and Ansible's ssh)": ssh.strip().split(",")[0],
    }


@dataclass(frozen=True)
class Done:
    """One finished command: wall time, CPU time of it and the children it waited for."""

    seconds: float
    cpu: float
    code: int
    out: str
    err: str


def timed(argv: Sequence[str], env: dict[str, str], cwd: Path) -> Done:
    """Run ``argv`` with output to files (no pipe to drain while it runs)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=out, stderr=err)
        # wait4's rusage counts the process and every child it waited for (Ansible's ssh).
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Done(
            seconds,
            usage.ru_utime + usage.ru_stime,
            process.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def ansible_argv(lab: Lab, scenario: Scenario) -> list[str]:
    """The ad-hoc command of the issue, at the same forks and connect timeout."""
    ansible = str(lab.peers / "bin" / "ansible")
    argv = [ansible, "all", "-i", str(scenario.inventory), "-m", "raw", "-a", "true"]
    return [*argv, "-f", str(lab.forks), "-T", f"{lab.connect_timeout:g}"]


def close_masters(control: Path) -> None:
    """End the ssh ControlPersist masters Ansible left behind, so no run reuses them."""

    def close(socket_path: Path) -> None:
        argv = ["ssh", "-O", "exit", "-o", f"ControlPath={socket_path}", "127.0.0.1"]
        subprocess.run(argv, capture_output=True, check=False, timeout=30)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(close, list(control.iterdir())))
    shutil.rmtree(control, ignore_errors=True)


def run_ansible(lab: Lab, scenario: Scenario) -> Outcome:
    """`ansible all -m raw -a true`; a fresh ssh control directory per run."""
    control = Path(tempfile.mkdtemp(prefix="cp-", dir=lab.root))
    env = {
        **lab.env,
        "PATH": f"{lab.peers / 'bin'}{os.pathsep}{lab.env['PATH']}",
        "ANSIBLE_HOME": str(lab.root / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(lab.root / "ansible-tmp"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control),
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_NOCOLOR": "1",
    }
    try:
        done = timed(ansible_argv(lab, scenario), env, lab.root)
    finally:
        close_masters(control)
    if done.code not in (0, 4):
        raise RuntimeError(f"ansible exited {done.code}: {done.err[-3000:]}\n{done.out[-3000:]}")
    return parse_ansible(done.seconds, done.cpu, done.out)


def run_pssh(lab: Lab, scenario: Scenario) -> Outcome:
    """parallel-ssh's ParallelSSHClient through a small script run by the peers' python."""
    script = lab.root / "pssh_true.py"
    script.write_text(PSSH_SCRIPT)
    argv = [str(lab.peers / "bin" / "python"), str(script), str(scenario.pssh_spec)]
    done = timed(argv, lab.env, lab.root)
    if done.code != 0:
        raise RuntimeError(f"parallel-ssh script exited {done.code}: {done.err[-3000:]}")
    return parse_pssh(done.seconds, done.cpu, done.out)


__all__ = [
    "PEERS",
    "PSSH_CALL",
    "Done",
    "Lab",
    "Scenario",
    "Target",
    "ansible_argv",
    "ensure_peers",
    "run_ansible",
    "run_pssh",
    "timed",
    "versions",
]
