"""Run the real ``go`` command in isolation from the machine's own Go setup.

Each run gets its own module cache, GOPATH, HOME and GOENV=off, never downloads a
toolchain, and talks only to the GOPROXY the test names. Proxy variables are
removed so loopback traffic never goes through a machine-wide HTTP proxy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final, Protocol

FIXTURE_PREFIX: Final = "fixture.test"
# Removed so that neither the machine's Go settings nor its proxies leak into a run.
_DROPPED: Final = (
    "GOPRIVATE",
    "GONOPROXY",
    "GONOSUMCHECK",
    "GOSUMDB",
    "GOINSECURE",
    "GOWORK",
    "GOFLAGS",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)


class GoTimedOut(Exception):
    """``go`` ran past its timeout; its whole process group was killed.

    Carries what go printed until then, so a test can show where it hung.
    """

    def __init__(self, args: Sequence[str], timeout: float, stdout: str, stderr: str) -> None:
        super().__init__(
            f"go {' '.join(args)} did not finish within {timeout:g}s; stderr tail:\n"
            f"{stderr[-2000:]}"
        )
        self.command = list(args)
        self.timeout = timeout
        self.stdout = stdout
        self.stderr = stderr


class GoEnvFactory(Protocol):
    """Makes an isolated go environment for one GOPROXY (the ``go_env`` fixture)."""

    def __call__(self, goproxy: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment, as :func:`go_environment` builds it."""
        ...


def go_binary() -> str | None:
    """The path of the go command, or None when go is not installed."""
    return shutil.which("go")


def go_environment(
    tmp: Path, *, goproxy: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """An environment for go with every cache and config below ``tmp``.

    GOSUMDB is left unset on purpose (tests about the checksum database set it
    in ``extra``; others pass ``{"GOSUMDB": "off"}``); ``GONOSUMDB`` covers the
    fixture prefix so fixture modules rely on go.sum alone.
    """
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
    dirs = {
        "GOMODCACHE": tmp / "gomodcache",
        "GOPATH": tmp / "gopath",
        "GOCACHE": tmp / "gocache",
        "HOME": tmp / "home",
    }
    for directory in dirs.values():
        directory.mkdir(parents=True, exist_ok=True)
    env.update({name: str(directory) for name, directory in dirs.items()})
    env.update(
        {
            "GOENV": "off",
            "GOTOOLCHAIN": "local",
            "GOFLAGS": "-mod=mod",
            "GONOSUMDB": FIXTURE_PREFIX,
            "GOPROXY": goproxy,
            # Fixture packages are pure Go; no C toolchain keeps builds quick and portable.
            "CGO_ENABLED": "0",
        }
    )
    env.update(extra or {})
    return env


def run_go(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    go: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``go <args>``; raise :class:`GoTimedOut` after ``timeout`` seconds.

    Go hangs forever on a silent upstream, so every run needs a bound. go runs
    in its own session so the kill reaches the compilers and linkers it spawned.
    A non-zero exit is returned, not raised: many tests expect go to fail.
    """
    binary = go or go_binary()
    if binary is None:
        raise FileNotFoundError("the go command is not installed")
    command = [binary, *args]
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            raise GoTimedOut(args, timeout, stdout, stderr) from None
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def remove_modcache(path: Path) -> None:
    """Delete a module cache; go makes its files read-only, so make them writable first."""
    if not path.exists():
        return
    # Top-down: a directory becomes writable before its entries are removed.
    for root, dirs, files in os.walk(path):
        for name in dirs:
            entry = Path(root) / name
            if not entry.is_symlink():
                entry.chmod(entry.stat().st_mode | stat.S_IRWXU)
        for name in files:
            entry = Path(root) / name
            if not entry.is_symlink():
                entry.chmod(entry.stat().st_mode | stat.S_IWUSR)
    path.chmod(path.stat().st_mode | stat.S_IWUSR)
    shutil.rmtree(path)


def cache_download_dir(env: Mapping[str, str]) -> Path:
    """``$GOMODCACHE/cache/download``: the layout a ``file://`` GOPROXY serves."""
    return Path(env["GOMODCACHE"]) / "cache" / "download"


__all__ = [
    "FIXTURE_PREFIX",
    "GoEnvFactory",
    "GoTimedOut",
    "cache_download_dir",
    "go_binary",
    "go_environment",
    "remove_modcache",
    "run_go",
]
