"""`unstall go` explains go's own failures: cause, layer and fix after go's output.

go's stderr still reaches the user unchanged; when go fails, unstall reads it back
and names the cause from the catalogue, for failures its proxy never sees too
(GOPROXY=off, the checksum database) and for go's words about what the proxy said.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.cli import UNSTALL, run_on_terminal, run_unstall
from tests.support.faults import Status
from tests.support.gocmd import GoEnvFactory
from tests.support.modfactory import FixtureModule, ModuleSet, make_module, write_main_module
from tests.support.upstream import UpstreamPool

_PRIVATE_BODY = (
    "not found: fixture.test/private@v1.0.0: invalid version: git ls-remote -q origin: "
    "exit status 128:\n\tfatal: could not read Username for 'https://fixture.test': "
    "terminal prompts disabled"
)


def _main_module(tmp: Path, module: FixtureModule) -> Path:
    main = tmp / "main"
    main.mkdir()
    write_main_module(main, "example.test/main", [module])
    return main


def _env(go_env: GoEnvFactory, goproxy: str, tmp: Path, **extra: str) -> dict[str, str]:
    env = go_env(goproxy, {"GOSUMDB": "off", **extra})
    env["UNSTALL_HOME"] = str(tmp / "unstall-home")
    return env


def _explanation(stderr: str, cause: str) -> tuple[str, str]:
    """The `unstall: go failed: <cause> ...` line and the fix line after it."""
    lines = stderr.splitlines()
    index = next(
        (i for i, line in enumerate(lines) if line.startswith(f"unstall: go failed: {cause} ")),
        None,
    )
    assert index is not None, f"no explanation of {cause} in:\n{stderr}"
    assert index + 1 < len(lines), stderr
    return lines[index], lines[index + 1]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _verifier_key(name: str) -> str:
    """A well-formed GOSUMDB verifier key for ``name`` (nobody holds its private half)."""
    key = bytes([1]) + bytes(32)  # algorithm 1 (Ed25519) and a public key
    key_hash = hashlib.sha256(name.encode() + b"\n" + key).digest()[:4].hex()
    return f"{name}+{key_hash}+{base64.b64encode(key).decode()}"


def test_private_module_at_a_proxy_answering_410_is_explained_with_goprivate(
    tmp_path: Path, go_env: GoEnvFactory, upstream_factory: UpstreamPool
) -> None:
    module = make_module("fixture.test/private", "v1.0.0")
    public = upstream_factory(ModuleSet([module]))
    public.add_fault("*", Status(410, body=_PRIVATE_BODY), times=None)
    main = _main_module(tmp_path, module)
    result = run_unstall(
        ["go", "mod", "download"], cwd=main, env=_env(go_env, public.url, tmp_path)
    )

    assert result.returncode == 1, result.stderr  # go's own exit code
    # go's own words come through untouched, before unstall's.
    assert "fixture.test/private/@v/v1.0.0.mod: 410 Gone" in result.stderr
    assert "\t\tfatal: could not read Username for 'https://fixture.test'" in result.stderr
    headline, fix = _explanation(result.stderr, "module-not-public")
    assert headline.startswith("unstall: go failed: module-not-public (config): ")
    assert "private" in headline
    assert fix == (
        "  fix: For a private module, let go fetch it directly and skip the checksum database: "
        "`go env -w GOPRIVATE=fixture.test/*`; otherwise check the module path."
    )
    assert result.stderr.index("artifact(s) failed") < result.stderr.index(headline)


def test_goproxy_off_is_explained_and_go_output_is_unchanged(
    tmp_path: Path, go_env: GoEnvFactory
) -> None:
    module = make_module("fixture.test/dep", "v1.0.0")
    main = _main_module(tmp_path, module)
    env = _env(go_env, "off", tmp_path)
    result = run_unstall(["go", "mod", "download"], cwd=main, env=env)

    assert result.returncode == 1, result.stderr
    go_line = "go: fixture.test/dep@v1.0.0: module lookup disabled by GOPROXY=off"
    assert go_line in result.stderr.splitlines()
    headline, fix = _explanation(result.stderr, "goproxy-off")
    assert headline.startswith("unstall: go failed: goproxy-off (config): GOPROXY=off")
    assert fix.startswith("  fix: ")
    assert "go env -w GOPROXY=" in fix
    assert result.stderr.index(go_line) < result.stderr.index(headline)

    quiet = run_unstall(["go", "--quiet", "mod", "download"], cwd=main, env=env)
    assert quiet.returncode == 1
    assert go_line in quiet.stderr.splitlines()
    assert "unstall:" not in quiet.stderr


def test_unreachable_checksum_database_is_explained(
    tmp_path: Path, go_env: GoEnvFactory, upstream_factory: UpstreamPool
) -> None:
    # The module downloads fine through unstall's proxy; verifying it needs the
    # checksum database, which no proxy serves and which go cannot reach.
    module = make_module("fixture.test/dep", "v1.0.0")
    upstream = upstream_factory(ModuleSet([module]))
    main = _main_module(tmp_path, module)
    (main / "go.sum").unlink()
    sumdb = f"{_verifier_key('sum.example.test')} http://127.0.0.1:{_closed_port()}"
    env = _env(go_env, upstream.url, tmp_path, GOSUMDB=sumdb, GONOSUMDB="")
    result = run_unstall(["go", "mod", "download"], cwd=main, env=env)

    assert result.returncode == 1, result.stderr
    assert "/lookup/fixture.test/dep@v1.0.0" in result.stderr
    assert "artifact(s) failed" not in result.stderr  # unstall's proxy saw no failure
    headline, fix = _explanation(result.stderr, "sumdb-unsupported")
    assert headline.startswith("unstall: go failed: sumdb-unsupported (http): ")
    assert "GOSUMDB" in fix


def test_a_successful_run_explains_nothing(
    tmp_path: Path, go_env: GoEnvFactory, upstream_factory: UpstreamPool
) -> None:
    module = make_module("fixture.test/dep", "v1.0.0")
    upstream = upstream_factory(ModuleSet([module]))
    main = _main_module(tmp_path, module)
    result = run_unstall(
        ["go", "mod", "download"], cwd=main, env=_env(go_env, upstream.url, tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert "go failed" not in result.stderr


def test_explanation_follows_go_output_under_the_live_display(
    tmp_path: Path, go_env: GoEnvFactory, upstream_factory: UpstreamPool
) -> None:
    module = make_module("fixture.test/private", "v1.0.0")
    public = upstream_factory(ModuleSet([module]))
    public.add_fault("*", Status(410, body=_PRIVATE_BODY), times=None)
    main = _main_module(tmp_path, module)
    env = _env(go_env, public.url, tmp_path)
    env["COLUMNS"] = "400"
    shown = run_on_terminal(["go", "mod", "download"], cwd=main, env=env)
    code, text = shown.returncode, shown.screen
    assert code == 1
    assert "410 Gone" in text
    assert "unstall: go failed: module-not-public (config): " in text
    assert "go env -w GOPRIVATE=fixture.test/*" in text


def test_sigterm_still_reaches_go_while_its_stderr_is_read(
    tmp_path: Path, go_env: GoEnvFactory, upstream_factory: UpstreamPool
) -> None:
    module = make_module("fixture.test/slow", "v1.0.0")
    hole = upstream_factory(ModuleSet([module]), mode="blackhole")
    main = _main_module(tmp_path, module)
    env = _env(go_env, hole.url, tmp_path, UNSTALL_TIMEOUTS__FIRST_BYTE="60")
    process = subprocess.Popen(
        [UNSTALL, "go", "mod", "download"],  # not --quiet: go's stderr goes through unstall
        cwd=main,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while hole.connections == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hole.connections > 0, "go never asked the local proxy"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + signal.SIGTERM, stderr


# A stand-in for go that writes awkward stderr: a line longer than a stream buffer,
# bytes that are not UTF-8, and a prompt with no newline.
_FAKE_GO = textwrap.dedent(
    """
    import sys
    out = sys.stderr.buffer
    out.write(b"go: first line\\n" + b"x" * 200_000 + b"\\n" + b"bad \\xff byte\\n")
    out.write(b"Password: ")
    out.flush()
    sys.exit(3)
    """
)
# Leaves a process behind that holds go's stderr open, then fails.
_FAKE_GO_ORPHAN = textwrap.dedent(
    """
    import subprocess, sys
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], stdout=subprocess.DEVNULL
    )
    open(sys.argv[1], "w").write(str(child.pid))
    sys.stderr.write("go: giving up\\n")
    sys.exit(1)
    """
)
# run_go as `unstall go` runs it (the CLI's event loop), or on the stdlib loop.
_HARNESS = textwrap.dedent(
    """
    import asyncio, collections, json, os, sys
    from unstall.cli.common import run_async
    from unstall.gotool.runner import run_go
    tail = collections.deque(maxlen=3)
    run = run_async if sys.argv[1] == "cli" else asyncio.run
    code = run(run_go(sys.executable, sys.argv[2:], env=os.environ, stderr_tail=tail))
    print(json.dumps({"code": code, "tail": list(tail)}))
    """
)
_LOOPS = pytest.mark.parametrize("loop", ["cli", "stdlib"])


def _run_harness(loop: str, *args: str, timeout: float) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-c", _HARNESS, loop, *args],
        capture_output=True,
        timeout=timeout,
        check=False,
    )


@_LOOPS
def test_go_stderr_reaches_the_user_byte_for_byte_and_is_kept(tmp_path: Path, loop: str) -> None:
    fake_go = tmp_path / "fake_go.py"
    fake_go.write_text(_FAKE_GO)
    result = _run_harness(loop, str(fake_go), timeout=60.0)
    assert result.stderr == (
        b"go: first line\n" + b"x" * 200_000 + b"\n" + b"bad \xff byte\n" + b"Password: "
    )
    report = json.loads(result.stdout)
    assert report["code"] == 3
    assert report["tail"][-2:] == ["bad \ufffd byte", "Password: "]


@_LOOPS
def test_a_process_go_leaves_behind_does_not_hold_unstall(tmp_path: Path, loop: str) -> None:
    fake_go = tmp_path / "fake_go.py"
    fake_go.write_text(_FAKE_GO_ORPHAN)
    pid_file = tmp_path / "orphan.pid"
    try:
        # The orphan sleeps 120 s: finishing within 60 s proves unstall did not wait for it.
        result = _run_harness(loop, str(fake_go), str(pid_file), timeout=60.0)
        assert result.stderr == b"go: giving up\n"
        assert json.loads(result.stdout) == {"code": 1, "tail": ["go: giving up"]}
    finally:
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
