"""What the fleet CLI tests share: a user's machine (HOME with the SSH client key and
known_hosts, a work directory, the history) and a command whose runs are visible per host.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.support.cli import run_unstall
from tests.support.sshd import SshdFleet, SshdHost

HANG = 90.0  # "did not hang" bound for one command

# Each session appends to a log named after the address it came in on (sshd's
# SSH_CONNECTION), so reruns are visible; it succeeds only where an ok-ADDRESS file exists.
COMMAND = (
    'a=$(echo "$SSH_CONNECTION" | cut -d" " -f3); echo run >> {dir}/"$a".log; '
    'if [ -e {dir}/ok-"$a" ]; then echo done "$a"; '
    'else echo "E: Unable to locate package foo"; exit 100; fi'
)


class User:
    """A user's machine: HOME with the SSH client key and known_hosts, and a work dir."""

    def __init__(
        self, tmp_path: Path, fleet: SshdFleet, trusted: Sequence[SshdHost] | None = None
    ) -> None:
        """``trusted``: the hosts in known_hosts (default: every host of ``fleet``)."""
        self.home = tmp_path / "home"
        ssh = self.home / ".ssh"
        ssh.mkdir(parents=True)
        shutil.copy(fleet.client_key, ssh / "id_ed25519")
        shutil.copy(fleet.client_key.with_suffix(".pub"), ssh / "id_ed25519.pub")
        os.chmod(ssh / "id_ed25519", 0o600)
        self.known_hosts = ssh / "known_hosts"
        fleet.write_known_hosts(self.known_hosts, *(fleet.hosts if trusted is None else trusted))
        self.work = tmp_path / "work"
        self.work.mkdir()
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "UNSTALL_HOME": str(tmp_path / "unstall-home"),
            "LANG": "C.UTF-8",
        }
        self.command = COMMAND.format(dir=self.work)

    def allow(self, host: SshdHost) -> None:
        """From now on the command succeeds on ``host``."""
        (self.work / f"ok-{host.address}").touch()

    def runs_on(self, host: SshdHost) -> int:
        """How many times the command ran on ``host``."""
        log = self.work / f"{host.address}.log"
        return len(log.read_text().splitlines()) if log.exists() else 0

    def unstall(self, *args: str) -> Any:
        return run_unstall(list(args), cwd=self.work, env=self.env, timeout=HANG)


def entry(host: SshdHost) -> str:
    return f"{host.address}:{host.port}"


def by_name(fleet: SshdFleet, name: str) -> SshdHost:
    return next(h for h in fleet.hosts if h.name == name)


__all__ = ["COMMAND", "HANG", "User", "by_name", "entry"]
