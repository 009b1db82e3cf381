"""Running the installed `unstall` console script the way a user does."""

from __future__ import annotations

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


__all__ = ["UNSTALL", "run_unstall"]
