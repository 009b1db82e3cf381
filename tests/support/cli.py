"""Running the installed `unstall` console script the way a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
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


def run_on_terminal(
    args: list[str], *, cwd: Path, env: Mapping[str, str], timeout: float = 120.0
) -> tuple[int, str]:
    """Run ``unstall ARGS`` with stderr on a pseudo-terminal (as a user at a TTY sees it);
    return the exit code and everything written to the terminal."""
    controller, terminal = os.openpty()
    process = subprocess.Popen(
        [UNSTALL, *args],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
    )
    os.close(terminal)
    screen = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the terminal's last writer is gone
            break
        if not chunk:
            break
        screen += chunk
    os.close(controller)
    return process.wait(timeout=timeout), screen.decode("utf-8", "replace")


__all__ = ["UNSTALL", "run_on_terminal", "run_unstall"]
