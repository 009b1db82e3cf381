"""Running the installed `unstall` console script the way a user does."""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import sys
import termios
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

# The console script installed next to the interpreter running the tests (.venv/bin).
UNSTALL: Final = str(Path(sys.executable).with_name("unstall"))


def run_unstall(
    args: list[str], *, cwd: Path, env: Mapping[str, str], timeout: float = 180.0
) -> subprocess.CompletedProcess[str]:
    """Run ``unstall ARGS`` to completion and capture its output (text)."""
    return subprocess.run(
        [UNSTALL, *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class TerminalRun:
    """What a run with stderr on a pseudo-terminal showed: the terminal, and stdout."""

    returncode: int
    screen: str
    stdout: str


def run_on_terminal(
    args: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float = 120.0,
    size: tuple[int, int] | None = None,
) -> TerminalRun:
    """Run ``unstall ARGS`` with stderr on a pseudo-terminal (as a user at a TTY sees it)
    of ``size`` (rows, columns) when given; stdout is a pipe, read at the end."""
    controller, terminal = os.openpty()
    if size is not None:
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
    process = subprocess.Popen(
        [UNSTALL, *args],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal,
    )
    os.close(terminal)
    screen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the terminal's last writer is gone
            break
        if not chunk:
            break
        screen += chunk
    os.close(controller)
    stdout, _ = process.communicate(timeout=timeout)
    return TerminalRun(process.returncode, screen.decode("utf-8", "replace"), stdout.decode())


__all__ = ["UNSTALL", "TerminalRun", "run_on_terminal", "run_unstall"]
