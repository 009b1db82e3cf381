"""One attempt at running one command on one host over SSH (asyncssh).

The attempt never raises for a host's failure: whatever happens on the wire ends in an
:class:`~unstall.fleet.states.Outcome` (ok, failed, timeout or unreachable) with a redacted
reason. Retrying is not done here; only ``unstall.resilience`` re-issues work.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import shlex
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import asyncssh

from unstall.fleet.states import HostState, Outcome
from unstall.redact import redact

#: Opens an SSH connection; ``asyncssh.connect`` in production, injectable for tests.
Connector = Callable[..., Awaitable[asyncssh.SSHClientConnection]]
Clock = Callable[[], float]

# Cause ids for SSH-layer failures (the TCP/DNS ones come from the doctor catalogue).
CAUSE_SSH_HANDSHAKE_TIMEOUT: Final = "ssh-handshake-timeout"
CAUSE_SSH_HOST_KEY_CHANGED: Final = "ssh-host-key-changed"
CAUSE_SSH_HOST_KEY_UNKNOWN: Final = "ssh-host-key-unknown"
CAUSE_SSH_AUTH_FAILED: Final = "ssh-auth-failed"
CAUSE_SSH_CONNECTION_LOST: Final = "ssh-connection-lost"
CAUSE_SSH_ERROR: Final = "ssh-error"

# The remote command runs under this POSIX sh wrapper so that it can be killed as a whole:
# a TERM (the "signal" channel request) makes the wrapper kill its process group, and a
# watcher kills the group when the channel's stdin closes (session closed or connection
# lost), for servers that ignore signal requests. sshd makes each session its own process
# group, so "kill 0" reaches exactly this command's processes. The command itself reads
# /dev/null: a prompt gets EOF instead of hanging the host.
_WRAPPER: Final = "\n".join(
    (
        "exec 3<&0",
        "(cat <&3 >/dev/null 2>&1; kill -KILL 0) >/dev/null 2>&1 &",
        "w=$!",
        'trap "kill -KILL 0" TERM HUP INT',
        '"${SHELL:-sh}" -c "$1" </dev/null 3<&- &',
        "c=$!",
        "exec 3<&-",
        "wait $c",
        "s=$?",
        "kill $w 2>/dev/null",
        "exit $s",
    )
)
_STOP_GRACE_S: Final = 2.0
_BACKSTOP_S: Final = 1.0


@dataclass(frozen=True, slots=True)
class Target:
    """What the executor needs of a host (an inventory ``Host`` maps onto it)."""

    name: str
    address: str
    port: int = 22
    user: str | None = None
    key_file: Path | None = None

    @property
    def endpoint(self) -> str:
        """``address:port`` as shown in messages."""
        return f"{self.address}:{self.port}"


def remote_command(command: str) -> str:
    """The command line sent to the server: ``command`` inside the killable wrapper."""
    return f"exec sh -c '{_WRAPPER}' unstall-fleet {shlex.quote(command)}"


class _HostKeyPolicy:
    """known_hosts verification with OpenSSH's accept-new semantics."""

    def __init__(self, target: Target, path: Path, accept_new: bool) -> None:
        self.target = target
        self.path = path
        self.accept_new = accept_new
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        self.known = asyncssh.import_known_hosts(text)
        self.refusal: tuple[str, str] | None = None  # (message, cause) when a key was refused

    def _host_pattern(self) -> str:
        t = self.target
        return t.address if t.port == 22 else f"[{t.address}]:{t.port}"

    def validate(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        """Called by asyncssh only for a key that matches no known_hosts entry."""
        matched = self.known.match(host, addr, port if port != 22 else None)
        shown = f"{self.target.name} ({self.target.endpoint})"
        fingerprint = f"{key.get_algorithm()} {key.get_fingerprint()}"
        if matched[0] or matched[1]:
            # Always refused, whatever accept_new says: this is what an attacker looks like.
            message = (
                f"host key for {shown} has CHANGED: the server offered {fingerprint}, which "
                f"differs from the key recorded in {self.path}; refusing to connect "
                "(remove the old entry only if the change is expected)"
            )
            self.refusal = (message, CAUSE_SSH_HOST_KEY_CHANGED)
            return False
        if not self.accept_new:
            message = (
                f"host key for {shown} is unknown ({fingerprint}) and not in {self.path}; "
                "refusing to connect (check the key, then pass --accept-new to record it)"
            )
            self.refusal = (message, CAUSE_SSH_HOST_KEY_UNKNOWN)
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = f"{self._host_pattern()} {key.export_public_key('openssh').decode().strip()}\n"
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
        return True


class _Client(asyncssh.SSHClient):
    """Tracks how far the connection got and defers host keys to the policy."""

    def __init__(self, policy: _HostKeyPolicy) -> None:
        self.policy = policy
        self.tcp_connected = False

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        self.tcp_connected = True

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        return self.policy.validate(host, addr, port, key)


class _Tail:
    """Keeps only the last ``cap`` bytes of the output."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()

    def add(self, chunk: bytes | str) -> None:
        self.data += chunk.encode() if isinstance(chunk, str) else chunk
        if len(self.data) > self.cap:
            del self.data[: len(self.data) - self.cap]

    def text(self) -> str:
        return redact(bytes(self.data).decode("utf-8", errors="replace"))

    def last_line(self) -> str:
        """The last non-empty line so far (a line still being written counts)."""
        end = len(self.data)
        while end > 0:
            start = self.data.rfind(b"\n", 0, end) + 1
            line = bytes(self.data[start:end]).strip()
            if line:
                return redact(line.decode("utf-8", errors="replace"))
            end = start - 1
        return ""


def _connect_failure(exc: BaseException, target: Target, client: _Client) -> tuple[str, str]:
    """(message, cause) for an exception raised while connecting."""
    where = f"{target.name} ({target.endpoint})"
    if client.policy.refusal is not None:
        return client.policy.refusal
    if isinstance(exc, socket.gaierror):
        nxdomain = exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5))
        return f"cannot resolve {target.address}: {exc.strerror}", (
            "dns-nxdomain" if nxdomain else "dns-error"
        )
    if isinstance(exc, ConnectionRefusedError):
        return f"connection to {where} refused", "tcp-refused"
    if isinstance(exc, asyncssh.PermissionDenied):
        user = target.user or "the default user"
        return f"authentication as {user} on {where} failed: {exc.reason}", CAUSE_SSH_AUTH_FAILED
    if isinstance(exc, asyncssh.ConnectionLost):
        return f"connection to {where} lost during the handshake: {exc.reason}", "tcp-reset"
    if isinstance(exc, asyncssh.DisconnectError):
        return f"SSH handshake with {where} failed: {exc.reason}", CAUSE_SSH_ERROR
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return f"no route to {where}: {exc.strerror}", "tcp-unreachable"
    if isinstance(exc, OSError):
        return f"connection to {where} failed: {exc.strerror or exc}", "tcp-reset"
    return f"connection to {where} failed: {exc}", CAUSE_SSH_ERROR


async def _stop(process: asyncssh.SSHClientProcess[Any]) -> None:
    """Kill the remote command: a signal where the server honours it, then close the channel."""
    # No signal support, or the channel is already gone: closing it is the fallback.
    with contextlib.suppress(asyncssh.Error, OSError, ValueError):
        process.send_signal("TERM")
    process.close()
    try:
        async with asyncio.timeout(_STOP_GRACE_S):
            await process.wait_closed()
    except (TimeoutError, asyncssh.Error, OSError):
        pass


async def run_once(
    target: Target,
    command: str,
    *,
    connect_timeout: float,
    command_timeout: float,
    known_hosts: Path | None,
    accept_new: bool = False,
    output_cap: int = 64 * 1024,
    on_state: Callable[[HostState], None] | None = None,
    on_output: Callable[[str], None] | None = None,
    keepalive_interval: float = 15.0,
    keepalive_count_max: int = 3,
    connector: Connector = asyncssh.connect,
    clock: Clock = time.monotonic,
) -> Outcome:
    """Run ``command`` once on ``target`` and report how it ended; never raises for the host.

    ``connect_timeout`` bounds TCP, the SSH handshake and authentication together;
    ``command_timeout`` bounds the command, which is then killed on the host. Host keys are
    checked against ``known_hosts`` (``~/.ssh/known_hosts`` when None); ``accept_new``
    records an unknown host's key there, a changed key is always refused. ``on_output``
    is told the last line of the output after each chunk the command prints.
    """
    started = clock()
    notify = on_state or (lambda _state: None)
    tail = _Tail(output_cap)

    def outcome(
        state: HostState,
        code: int | None = None,
        error: str | None = None,
        cause: str | None = None,
    ) -> Outcome:
        notify(state)
        return Outcome(
            state, code, tail.text(), clock() - started, redact(error) if error else None, cause
        )

    notify(HostState.CONNECTING)
    policy_path = known_hosts or Path.home() / ".ssh" / "known_hosts"
    try:
        policy = _HostKeyPolicy(target, policy_path, accept_new)
        keys = [asyncssh.read_private_key(target.key_file)] if target.key_file else ()
    except (OSError, asyncssh.KeyImportError, ValueError) as exc:
        return outcome(HostState.FAILED, error=f"{target.name}: {exc}", cause="config-invalid")
    client = _Client(policy)
    options: dict[str, Any] = {
        "port": target.port,
        "known_hosts": policy.known,
        "client_factory": lambda: client,
        # asyncssh's own timers are a backstop a little behind ours, so that the outer
        # deadline (and its clear message) is what fires for a silent or slow server.
        "connect_timeout": connect_timeout + _BACKSTOP_S,
        "login_timeout": connect_timeout + _BACKSTOP_S,
        "keepalive_interval": keepalive_interval,
        "keepalive_count_max": keepalive_count_max,
        "config": None,  # the inventory is the configuration, not ~/.ssh/config
    }
    if target.user:
        options["username"] = target.user
    if keys:
        options["client_keys"] = keys
    try:
        async with asyncio.timeout(connect_timeout):
            conn = await connector(target.address, **options)
    except TimeoutError:
        if client.tcp_connected:
            error = f"SSH handshake with {target.name} ({target.endpoint}) did not finish"
            cause = CAUSE_SSH_HANDSHAKE_TIMEOUT
        else:
            error, cause = f"connect to {target.name} ({target.endpoint}) timed out", "tcp-timeout"
        return outcome(
            HostState.UNREACHABLE, error=f"{error} after {connect_timeout:g} s", cause=cause
        )
    except (OSError, asyncssh.Error) as exc:
        error, cause = _connect_failure(exc, target, client)
        return outcome(HostState.UNREACHABLE, error=error, cause=cause)

    notify(HostState.RUNNING)
    try:
        result = await _command(conn, target, command, command_timeout, tail, on_output)
    finally:
        await _close(conn)
    return outcome(*result)


async def _command(
    conn: asyncssh.SSHClientConnection,
    target: Target,
    command: str,
    command_timeout: float,
    tail: _Tail,
    on_output: Callable[[str], None] | None = None,
) -> tuple[HostState, int | None, str | None, str | None]:
    """Run the wrapped command, collecting its output tail: (state, exit code, error, cause)."""
    where = f"{target.name} ({target.endpoint})"
    process: asyncssh.SSHClientProcess[bytes] | None = None
    try:
        async with asyncio.timeout(command_timeout):
            process = await conn.create_process(
                remote_command(command), stderr=asyncssh.STDOUT, encoding=None
            )
            while chunk := await process.stdout.read(65536):
                tail.add(chunk)
                if on_output is not None:
                    on_output(tail.last_line())
            await process.wait()
    except TimeoutError:
        if process is not None:
            await _stop(process)
        error = f"command on {where} did not finish within {command_timeout:g} s; it was killed"
        return HostState.TIMEOUT, None, error, "deadline-exceeded"
    except (OSError, asyncssh.Error) as exc:
        reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        error = f"connection to {where} lost while the command ran: {reason}"
        return HostState.UNREACHABLE, None, error, CAUSE_SSH_CONNECTION_LOST
    signal = process.exit_signal
    status = process.exit_status
    if signal is not None:
        return HostState.FAILED, None, f"command on {where} was killed by SIG{signal[0]}", None
    if status is None:
        # The channel closed without an exit status: the session or connection died.
        error = f"connection to {where} lost while the command ran: no exit status"
        return HostState.UNREACHABLE, None, error, CAUSE_SSH_CONNECTION_LOST
    if status != 0:
        return HostState.FAILED, status, f"command on {where} exited with status {status}", None
    return HostState.OK, 0, None, None


async def _close(conn: asyncssh.SSHClientConnection) -> None:
    """Close the connection; a peer that does not answer the close is cut off."""
    conn.close()
    try:
        async with asyncio.timeout(_STOP_GRACE_S):
            await conn.wait_closed()
    except TimeoutError:
        conn.abort()


__all__ = [
    "CAUSE_SSH_AUTH_FAILED",
    "CAUSE_SSH_CONNECTION_LOST",
    "CAUSE_SSH_ERROR",
    "CAUSE_SSH_HANDSHAKE_TIMEOUT",
    "CAUSE_SSH_HOST_KEY_CHANGED",
    "CAUSE_SSH_HOST_KEY_UNKNOWN",
    "Clock",
    "Connector",
    "Target",
    "remote_command",
    "run_once",
]
