"""Benchmark: `unstall fleet run` on 100 loopback SSH hosts, against Ansible and parallel-ssh.

100 real OpenSSH sshd hosts on 127.0.0.101 onwards (tests/support/sshd.py), each with its
own host key, one client key, a known_hosts trusting all of them; the command is `true`.
Scenario "healthy": all 100 answer. Scenario "dead": the same list with every tenth host
replaced by a listener that accepts TCP and never sends an SSH banner. In one run, at the
same concurrency and connect timeout, one attempt per host: `unstall fleet run`, Ansible
ad-hoc (`ansible all -m raw -a true`) and parallel-ssh, the order rotated every
repetition; ansible-core and parallel-ssh are installed into their own virtualenv (kept
under --work when given). Every run's per-host results are checked. Targets (issue 7):
at least 3x faster than Ansible; dead hosts cost at most 1.2x the connect timeout over the
healthy run. Run from the repository root::

    .venv/bin/python bench/fleet.py --reps 1
    .venv/bin/python bench/fleet.py --reps 3 --write-docs
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # `python bench/fleet.py` puts bench/ on the path, not the repository root.
    sys.path.insert(0, str(ROOT))

from tests.support.cli import UNSTALL  # noqa: E402
from tests.support.sshd import SshdFleet, SshdHost, silent_listener  # noqa: E402

from bench.docs import DOCS, write_section  # noqa: E402
from bench.fleet_peers import (  # noqa: E402
    PSSH_CALL,
    Lab,
    Scenario,
    Target,
    ansible_argv,
    ensure_peers,
    run_ansible,
    run_pssh,
    timed,
    versions,
)
from bench.fleet_report import (  # noqa: E402
    ANSIBLE,
    DEAD,
    HEALTHY,
    PSSH,
    SECTION_TITLE,
    UNSTALL_RETRIES,
    Outcome,
    Setup,
    Timings,
    parse_unstall,
    render,
    results_table,
    verify,
)
from bench.fleet_report import UNSTALL as UNSTALL_TOOL  # noqa: E402

FIRST_OCTET: Final = 101
DEAD_EVERY: Final = 10  # every tenth host never answers in the "dead" scenario
QUIET_SHELL: Final = ("SetEnv SHLVL=1",)
RUN_CAP_S: Final = 900.0


def start_hosts(fleet: SshdFleet, count: int) -> list[SshdHost]:
    """Start ``count`` sshd hosts at once (key generation and start-up overlap).

    Their sessions start bash with SHLVL=1: bash sources ~/.bashrc for a command sshd
    starts (SSH_SOURCE_BASHRC) only as a top-level shell, and root's ~/.bashrc here runs
    `pyenv init`, ~0.15 s of CPU per session on the same two cores as the tools under test.
    """

    def start(index: int) -> SshdHost:
        name = f"h{index + 1:03d}"
        return fleet.start(name, octet=FIRST_OCTET + index, extra_config=QUIET_SHELL)

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(start, range(count)))


def write_scenario(lab: Lab, name: str, targets: Sequence[Target], dead: set[str]) -> Scenario:
    """Write the unstall hosts file, the Ansible inventory and the parallel-ssh spec."""
    hosts_file = lab.root / f"hosts-{name}.txt"
    hosts_file.write_text("".join(f"{t.address}:{t.port}\n" for t in targets))
    ssh_args = f"-o UserKnownHostsFile={lab.known_hosts} -o StrictHostKeyChecking=yes"
    inventory = lab.root / f"inventory-{name}.ini"
    inventory.write_text(
        "".join(f"{t.name} ansible_host={t.address} ansible_port={t.port}\n" for t in targets)
        + "\n[all:vars]\n"
        + f"ansible_user={lab.user}\n"
        + f"ansible_ssh_private_key_file={lab.key}\n"
        + f"ansible_ssh_common_args='{ssh_args}'\n"
    )
    spec = {
        "user": lab.user,
        "key": str(lab.key),
        "forks": lab.forks,
        "timeout": lab.connect_timeout,
        "hosts": [{"name": t.name, "address": t.address, "port": t.port} for t in targets],
    }
    pssh_spec = lab.root / f"pssh-{name}.json"
    pssh_spec.write_text(json.dumps(spec))
    return Scenario(name, tuple(targets), frozenset(dead), hosts_file, inventory, pssh_spec)


def unstall_argv(lab: Lab, scenario: Scenario, retries: int | None) -> list[str]:
    """`unstall fleet run` over the scenario's hosts file (``retries`` None: the default)."""
    argv = [UNSTALL, "fleet", "run", "-i", str(scenario.hosts_file), "--forks", str(lab.forks)]
    argv += ["--connect-timeout", f"{lab.connect_timeout:g}"]
    argv += [] if retries is None else ["--retries", str(retries)]
    return [*argv, "--json", "--", "true"]


def run_unstall(lab: Lab, scenario: Scenario, retries: int | None) -> Outcome:
    """`unstall fleet run --json`, its host states mapped back to the scenario's names."""
    argv = unstall_argv(lab, scenario, retries)
    done = timed(argv, lab.env, lab.root)
    if done.code not in (0, 1, 4):
        raise RuntimeError(f"unstall fleet run exited {done.code}: {done.err[-3000:]}")
    names = {f"{t.address}:{t.port}": t.name for t in scenario.targets}
    return parse_unstall(done.seconds, done.cpu, done.out, names)


def tools_for(lab: Lab) -> dict[str, Callable[[Scenario], Outcome]]:
    """Each tool's one run over a scenario."""
    return {
        UNSTALL_TOOL: lambda s: run_unstall(lab, s, 0),
        ANSIBLE: lambda s: run_ansible(lab, s),
        PSSH: lambda s: run_pssh(lab, s),
        UNSTALL_RETRIES: lambda s: run_unstall(lab, s, None),
    }


def make_lab(
    fleet: SshdFleet, hosts: list[SshdHost], root: Path, peers: Path, args: argparse.Namespace
) -> Lab:
    """A temporary HOME whose ~/.ssh has the client key and a known_hosts of every host."""
    ssh = root / "home" / ".ssh"
    ssh.mkdir(parents=True)
    key = ssh / "id_ed25519"
    shutil.copy(fleet.client_key, key)
    shutil.copy(fleet.client_key.with_suffix(".pub"), key.with_suffix(".pub"))
    key.chmod(0o600)
    known_hosts = fleet.write_known_hosts(ssh / "known_hosts", *hosts)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(root / "home"),
        "UNSTALL_HOME": str(root / "unstall-home"),
        "LANG": "C.UTF-8",
    }
    return Lab(root, fleet.user, key, known_hosts, env, peers, args.forks, args.connect_timeout)


def measure(lab: Lab, scenarios: Sequence[Scenario], reps: int) -> Timings:
    """Every tool over every scenario, ``reps`` times, the tools' order rotated each time."""
    tools = tools_for(lab)
    base = [UNSTALL_TOOL, ANSIBLE, PSSH]
    timings = Timings()
    for rep in range(reps):
        order = base[rep % len(base) :] + base[: rep % len(base)]
        for scenario in scenarios:
            extra = [UNSTALL_RETRIES] if scenario.name == DEAD else []
            for tool in order + extra:
                outcome = tools[tool](scenario)
                verify(tool, scenario.name, outcome, alive=scenario.alive, dead=scenario.dead)
                timings.add(scenario.name, tool, outcome.seconds, outcome.cpu)
                print(
                    f"[{rep + 1}/{reps}] {scenario.name:7} {tool:15} {outcome.seconds:6.2f} s "
                    f"(CPU {outcome.cpu:5.2f} s; {len(outcome.ok)} ok, "
                    f"{len(outcome.failed)} failed)",
                    file=sys.stderr,
                    flush=True,
                )
    return timings


def run(args: argparse.Namespace) -> tuple[Timings, Setup]:
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-fleet-")))
        work = args.work.resolve() if args.work is not None else root / "work"
        work.mkdir(parents=True, exist_ok=True)
        peers = ensure_peers(work)
        fleet = SshdFleet(root / "sshd")
        stack.callback(fleet.stop_all)  # always, also when a start or a run fails
        started = time.perf_counter()
        hosts = start_hosts(fleet, args.hosts)
        print(f"{len(hosts)} sshd up in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        lab = make_lab(fleet, hosts, root, peers, args)
        live = [Target(h.name, h.address, h.port) for h in hosts]
        mixed = list(live)
        for index in range(DEAD_EVERY - 1, len(live), DEAD_EVERY):
            # Same name and address, another port: TCP is accepted there, SSH never starts.
            port = stack.enter_context(silent_listener(live[index].address))
            mixed[index] = Target(live[index].name, live[index].address, port)
        dead = {t.name for t, m in zip(live, mixed, strict=True) if t != m}
        scenarios = [
            write_scenario(lab, HEALTHY, live, set()),
            write_scenario(lab, DEAD, mixed, dead),
        ]
        shown = {str(work): "$WORK", str(root): "$TMP", str(ROOT) + "/": ""}
        commands = {
            UNSTALL_TOOL: shlex.join(unstall_argv(lab, scenarios[0], 0)),
            ANSIBLE: shlex.join(ansible_argv(lab, scenarios[0])),
            PSSH: PSSH_CALL.format(forks=args.forks, timeout=args.connect_timeout),
        }
        for path, name in shown.items():
            commands = {k: v.replace(path, name) for k, v in commands.items()}
        setup = Setup(
            hosts=len(live),
            dead=len(dead),
            forks=args.forks,
            connect_timeout=args.connect_timeout,
            reps=args.reps,
            commands=commands,
            versions=versions(lab),
        )
        return measure(lab, scenarios, args.reps), setup
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack does not swallow


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=3, help="repetitions")
    parser.add_argument("--hosts", type=int, default=100, help="sshd hosts (at most 140)")
    parser.add_argument("--forks", type=int, default=50, help="hosts at once, every tool")
    parser.add_argument(
        "--connect-timeout", type=float, default=5.0, help="connect timeout, s, every tool"
    )
    parser.add_argument("--write-docs", action="store_true", help=f"update {DOCS.name}")
    parser.add_argument(
        "--work", type=Path, help="keep the ansible-core/parallel-ssh venv here (reused)"
    )
    args = parser.parse_args(argv)
    if not DEAD_EVERY <= args.hosts <= 140:  # 127.0.0.101-240: .250/.251 are sshd.py's
        parser.error("--hosts must be between 10 and 140")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    timings, setup = run(args)
    print(results_table(timings), file=sys.stderr)
    section = render(timings, setup)
    print(section)
    if args.write_docs:
        write_section(SECTION_TITLE, section)
        print(f"updated the fleet section of {DOCS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
