"""Real OpenSSH sshd instances on loopback, one per fake host, for the fleet tests.

Each host listens on its own 127.0.0.N address and port with its own ed25519 host key,
an authorized_keys holding the session's client key, and a config after
reference/testing.md ("SSH hosts on loopback"). ``force_command`` makes a host whose
every session runs that command. :func:`dead_port` and :func:`silent_listener` give
the two hosts that never become SSH: a closed port and a port that accepts TCP but
never sends a banner.
"""

from __future__ import annotations

import contextlib
import getpass
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pytest

SSHD: Final = Path("/usr/sbin/sshd")
SSH_KEYGEN: Final = "ssh-keygen"
_START_TIMEOUT_S: Final = 10.0


def require_sshd() -> None:
    """Fail (not skip) the test when Debian's openssh-server is missing."""
    if not SSHD.exists():
        pytest.fail(f"{SSHD} is missing: run make test (it installs openssh-server)")
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege-separation dir


def keygen(path: Path) -> Path:
    """Create an ed25519 key pair without passphrase at ``path`` (+ ``.pub``)."""
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def public_key_line(path: Path) -> str:
    """``ALGORITHM BASE64`` of a key pair's public half (no comment)."""
    algorithm, blob, *_ = path.with_suffix(".pub").read_text().split()
    return f"{algorithm} {blob}"


def free_port(address: str) -> int:
    """A port nobody listens on at ``address`` right now."""
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def dead_port(address: str = "127.0.0.250") -> int:
    """A closed port: connecting to it is refused at once."""
    return free_port(address)


@contextlib.contextmanager
def silent_listener(address: str = "127.0.0.251") -> Iterator[int]:
    """A port whose kernel completes the TCP handshake but that never sends a byte.

    Nobody calls accept(): connections wait in the backlog, so a client gets TCP and
    then silence instead of an SSH banner.
    """
    with socket.socket() as sock:
        sock.bind((address, 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])


def known_hosts_pattern(address: str, port: int) -> str:
    """The host field OpenSSH writes in known_hosts for ``address:port``."""
    return address if port == 22 else f"[{address}]:{port}"


@dataclass
class SshdHost:
    """One running sshd: where it listens and the public half of its host key."""

    name: str
    address: str
    port: int
    host_key: Path
    directory: Path
    process: subprocess.Popen[bytes]

    @property
    def known_hosts_line(self) -> str:
        """This host's known_hosts line."""
        return f"{known_hosts_pattern(self.address, self.port)} {public_key_line(self.host_key)}"

    def log(self) -> str:
        """What sshd wrote to stderr so far (for failure messages)."""
        return (self.directory / "sshd.log").read_text(errors="replace")

    def stop(self) -> None:
        """Stop the listener (sessions it started end with their connections)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class SshdFleet:
    """Starts sshd hosts under ``root``; all share one client key, made once per fleet."""

    root: Path
    user: str = field(default_factory=getpass.getuser)
    hosts: list[SshdHost] = field(default_factory=list)

    def __post_init__(self) -> None:
        require_sshd()
        self.root.mkdir(parents=True, exist_ok=True)
        self.client_key = keygen(self.root / "client_ed25519")

    def start(
        self,
        name: str,
        *,
        octet: int,
        force_command: str | None = None,
        extra_config: Sequence[str] = (),
    ) -> SshdHost:
        """Start host ``name`` on 127.0.0.``octet`` (a free port there).

        ``extra_config`` lines are appended to its sshd_config: ``SetEnv HOME=... PATH=...``
        gives the host's sessions their own HOME and PATH.
        """
        address = f"127.0.0.{octet}"
        directory = self.root / name
        directory.mkdir()
        host_key = keygen(directory / "host_ed25519")
        authorized = directory / "authorized_keys"
        authorized.write_text(public_key_line(self.client_key) + "\n")
        port = free_port(address)
        lines = [
            f"ListenAddress {address}",
            f"Port {port}",
            f"HostKey {host_key}",
            f"AuthorizedKeysFile {authorized}",
            f"PidFile {directory / 'sshd.pid'}",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "MaxStartups 500",
            "LogLevel VERBOSE",
        ]
        if force_command is not None:
            lines.append(f"ForceCommand {force_command}")
        lines.extend(extra_config)
        config = directory / "sshd_config"
        config.write_text("\n".join(lines) + "\n")
        with (directory / "sshd.log").open("wb") as log:
            process = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(config)], stdout=log, stderr=log
            )
        host = SshdHost(name, address, port, host_key, directory, process)
        self.hosts.append(host)
        self._wait_listening(host)
        return host

    def _wait_listening(self, host: SshdHost) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if host.process.poll() is not None:
                raise RuntimeError(f"sshd for {host.name} exited:\n{host.log()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((host.address, host.port), timeout=1),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(f"sshd for {host.name} did not listen:\n{host.log()}")

    def write_known_hosts(self, path: Path, *hosts: SshdHost) -> Path:
        """A known_hosts file trusting exactly ``hosts``."""
        path.write_text("".join(host.known_hosts_line + "\n" for host in hosts))
        return path

    def stop_all(self) -> None:
        """Stop every host this fleet started."""
        for host in self.hosts:
            host.stop()


__all__ = [
    "SSHD",
    "SshdFleet",
    "SshdHost",
    "dead_port",
    "free_port",
    "keygen",
    "known_hosts_pattern",
    "public_key_line",
    "require_sshd",
    "silent_listener",
]
