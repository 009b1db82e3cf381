"""Unit tests of the environment checks, and the fakes they share.

:class:`FakeRunner` plays scripted command results (unscripted programs are "not
installed"); :func:`make_context` builds a :class:`CheckContext` that touches nothing
of the real machine unless a test asks for it.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from unstall.doctor.checks import CheckContext, CommandResult
from unstall.doctor.model import Check


class FakeRunner:
    """A CommandRunner whose answers are scripted by argv prefix (the longest wins)."""

    def __init__(
        self, scripts: Mapping[tuple[str, ...], CommandResult | None] | None = None
    ) -> None:
        self.scripts = dict(scripts or {})
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, argv: Sequence[str], *, timeout: float) -> CommandResult | None:
        assert timeout > 0, "every command needs a deadline"
        call = tuple(argv)
        self.calls.append(call)
        for prefix in sorted(self.scripts, key=len, reverse=True):
            if call[: len(prefix)] == prefix:
                return self.scripts[prefix]
        return None


def ok(stdout: str = "", stderr: str = "") -> CommandResult:
    """A command that exited 0."""
    return CommandResult(0, stdout, stderr)


def no_trust_store() -> ssl.DefaultVerifyPaths:
    """verify_paths for a machine without any system CA store."""
    return ssl.DefaultVerifyPaths("", "", "SSL_CERT_FILE", "", "SSL_CERT_DIR", "")


def make_context(
    tmp_path: Path,
    *,
    environ: Mapping[str, str] | None = None,
    runner: FakeRunner | None = None,
    go_env: Mapping[str, str] | None = None,
    resolv_conf: str = "nameserver 192.0.2.53\n",
    uid: int | None = None,
    verify_paths: Callable[[], ssl.DefaultVerifyPaths] = no_trust_store,
    tls_probe_timeout: float = 2.0,
) -> CheckContext:
    """A context over ``tmp_path``: empty environment, no programs, a sane resolv.conf."""
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(resolv_conf, encoding="utf-8")
    return CheckContext(
        environ=dict(environ or {}),
        run=runner or FakeRunner(),
        go_env=go_env,
        cwd=tmp_path,
        resolv_conf=resolv,
        tls_probe_timeout=tls_probe_timeout,
        uid=os.geteuid() if uid is None else uid,
        verify_paths=verify_paths,
    )


def by_id(checks: list[Check], check_id: str) -> Check:
    """The one finding with ``check_id`` (fails the test when absent or repeated)."""
    matching = [check for check in checks if check.id == check_id]
    assert len(matching) == 1, f"{check_id}: {[c.id for c in checks]}"
    return matching[0]
