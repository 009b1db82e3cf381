"""What the environment checks look at: environment, commands, go env, files.

Everything a check reads comes through :class:`CheckContext`, so tests pass an
environment dict, a scripted command runner and temporary files instead of the
machine's own.
"""

from __future__ import annotations

import os
import shlex
import ssl
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

# A command that does not answer in this long is itself a finding, not a reason to hang.
COMMAND_TIMEOUT: Final = 20.0
# timeout(1)'s exit status, so a timed-out command reads like one in the messages.
TIMED_OUT_STATUS: Final = 124


@dataclass(frozen=True, slots=True)
class CommandResult:
    """How a command ended and what it printed (decoded, undecodable bytes replaced)."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """Whether the command exited with status 0."""
        return self.returncode == 0

    def first_line(self) -> str:
        """The first non-empty line of stdout, else of stderr (``ssh -V`` prints there)."""
        for text in (self.stdout, self.stderr):
            for line in text.splitlines():
                if line.strip():
                    return line.strip()
        return ""


class CommandRunner(Protocol):
    """Runs a program; ``None`` means the program is not installed."""

    def __call__(self, argv: Sequence[str], *, timeout: float) -> CommandResult | None: ...


@dataclass(frozen=True, slots=True)
class SubprocessRunner:
    """The real :class:`CommandRunner`: a subprocess with ``environ``, in ``cwd``."""

    environ: Mapping[str, str]
    cwd: Path | None = None

    def __call__(self, argv: Sequence[str], *, timeout: float) -> CommandResult | None:
        try:
            done = subprocess.run(
                list(argv),
                cwd=self.cwd,
                env=dict(self.environ),
                stdin=subprocess.DEVNULL,  # never wait for a password prompt
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError:
            return None
        except subprocess.TimeoutExpired:
            return CommandResult(TIMED_OUT_STATUS, "", f"timed out after {timeout:g}s")
        except OSError as exc:  # present but not runnable (permissions, bad binary)
            return CommandResult(126, "", str(exc))
        return CommandResult(done.returncode, done.stdout, done.stderr)


@dataclass(frozen=True)
class CheckContext:
    """The world the checks inspect.

    ``go_env`` holds ``go env -json`` (None when go is missing); ``cwd`` is where
    go.mod is looked for; ``uid`` is whose privileges matter (the effective user);
    ``verify_paths`` reports the system trust store as :func:`ssl.get_default_verify_paths`.
    """

    environ: Mapping[str, str]
    run: CommandRunner
    go_env: Mapping[str, str] | None
    cwd: Path
    resolv_conf: Path = Path("/etc/resolv.conf")
    tls_probe_timeout: float = 2.0
    uid: int = field(default_factory=os.geteuid)
    verify_paths: Callable[[], ssl.DefaultVerifyPaths] = field(default=ssl.get_default_verify_paths)

    def go_value(self, name: str) -> str:
        """A go setting as go sees it: from ``go env`` when known, else the environment."""
        source = self.go_env if self.go_env is not None else self.environ
        return source.get(name, "").strip()


def env_fix(context: CheckContext, name: str, value: str | None) -> str:
    """The command that sets (or, for None, removes) a go setting where it is set.

    ``go env -w`` cannot override a variable exported in the shell, so an exported
    one is changed with export/unset instead.
    """
    if name in context.environ:
        if value is None:
            return f"unset {name} (remove it from your shell profile too)"
        return f"export {name}={shlex.quote(value)}"
    if value is None:
        return f"go env -u {name}"
    return f"go env -w {name}={shlex.quote(value)}"


__all__ = [
    "COMMAND_TIMEOUT",
    "CheckContext",
    "CommandResult",
    "CommandRunner",
    "SubprocessRunner",
    "env_fix",
]
