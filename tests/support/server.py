"""Running `unstall serve` as a real process, the way an operator starts it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import httpx

from tests.support.cli import UNSTALL

_START_DEADLINE: Final = 60.0
_STOP_DEADLINE: Final = 60.0


def get_together(urls: Sequence[str], timeout: float = 60.0) -> list[httpx.Response]:
    """GET every URL at the same time, each on its own connection; answers in order."""

    async def ask() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=len(urls))
        async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
            return list(await asyncio.gather(*(client.get(url) for url in urls)))

    return asyncio.run(ask())


class ServerFailed(Exception):
    """The server exited or never said where it listens."""


class ServeProcess:
    """``unstall serve ARGS`` on an ephemeral loopback port; stderr and the access log are
    written to files under ``workdir`` so a busy server never blocks on a full pipe."""

    def __init__(
        self,
        workdir: Path,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cache: Path | None = None,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.cache = cache if cache is not None else workdir / "cache"
        self.args = ["serve", "--port", "0", "--cache", str(self.cache), *args]
        self.stderr_path = workdir / f"serve-{time.monotonic_ns()}.err"
        self.access_log = self.stderr_path.with_suffix(".access.jsonl")
        base = {"UNSTALL_HOME": str(workdir / "home"), "HOME": str(workdir)}
        self.env = {**os.environ, **base, **(env or {})}
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServeProcess:
        if "--access-log" not in self.args:
            self.args += ["--access-log", str(self.access_log)]
        with self.stderr_path.open("wb") as stderr:
            self._process = subprocess.Popen(
                [UNSTALL, *self.args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        deadline = time.monotonic() + _START_DEADLINE
        while time.monotonic() < deadline:
            for line in self.stderr.splitlines():
                if "listening on " in line:
                    self.url = line.split("listening on ", 1)[1].split()[0]
                    return self
            if self._process.poll() is not None:
                raise ServerFailed(
                    f"unstall serve exited {self._process.returncode}:\n{self.stderr}"
                )
            time.sleep(0.05)
        self.kill()
        raise ServerFailed(f"unstall serve did not start in {_START_DEADLINE}s:\n{self.stderr}")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def access_records(self) -> list[dict[str, Any]]:
        """Every JSON line of the access log so far."""
        if not self.access_log.exists():
            return []
        lines = self.access_log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def send(self, signum: int) -> None:
        """Send ``signum`` and return at once."""
        assert self._process is not None
        self._process.send_signal(signum)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Signal the server and wait for it; return its exit code."""
        if self._process is None:
            return 0
        if self._process.poll() is None:
            self._process.send_signal(signum)
        try:
            return self._process.wait(timeout=_STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ServerFailed(f"unstall serve ignored signal {signum}:\n{self.stderr}") from None

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None and self._process.poll() is None:
            self.stop()


__all__ = ["ServeProcess", "ServerFailed", "get_together"]
