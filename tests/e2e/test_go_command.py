"""`unstall go` as a user runs it: the real go, real loopback upstreams that misbehave.

Each scenario runs plain go against the same upstreams first (bounded, since go
hangs on a silent upstream) and asserts it did not succeed, then runs
`unstall go` and asserts it did, with verified content in the module cache.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import trustme

from tests.support.cli import UNSTALL, run_on_terminal, run_unstall
from tests.support.faults import ResetBody, Trickle
from tests.support.gocmd import GoEnvFactory, GoTimedOut, run_go
from tests.support.modfactory import (
    FixtureGraph,
    FixtureModule,
    ModuleSet,
    make_module,
    write_main_module,
)
from tests.support.upstream import UpstreamPool
from unstall.goproxy.paths import escape

PLAIN_GO_BOUND = 20.0
UNSTALL_BOUND = 180.0
FAST_ENV = {
    "UNSTALL_TIMEOUTS__FIRST_BYTE": "3",
    "UNSTALL_TIMEOUTS__STALL": "2",
    "UNSTALL_HEDGE__INITIAL": "0.5",
    "UNSTALL_RETRY__BACKOFF_BASE": "0.05",
}


def _single_module_main(tmp: Path, module: FixtureModule) -> Path:
    main = tmp / "main"
    main.mkdir()
    write_main_module(main, "example.test/main", [module])
    return main


def _download_in_background(
    main: Path, env: Mapping[str, str], *, new_session: bool
) -> subprocess.Popen[str]:
    """`unstall go mod download` left running, for tests that interrupt it."""
    return subprocess.Popen(
        [UNSTALL, "go", "--quiet", "mod", "download"],
        cwd=main,
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=new_session,
    )


def _wait_for(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def _env(go_env: GoEnvFactory, goproxy: str, tmp: Path) -> dict[str, str]:
    env = go_env(goproxy, {"GOSUMDB": "off"})
    env.update(FAST_ENV)
    env["UNSTALL_HOME"] = str(tmp / "unstall-home")
    return env


def _assert_plain_go_fails(args: list[str], cwd: Path, env: Mapping[str, str]) -> None:
    try:
        result = run_go(args, cwd=cwd, env=env, timeout=PLAIN_GO_BOUND)
    except GoTimedOut:
        return
    assert result.returncode != 0, "plain go unexpectedly succeeded"


def _assert_cache_verified(main: Path, env: Mapping[str, str], graph: FixtureGraph) -> None:
    download = Path(env["GOMODCACHE"]) / "cache" / "download"
    for module in graph.closure:
        stem = download / escape(module.path) / "@v" / module.version
        assert Path(f"{stem}.zip").read_bytes() == module.zip_bytes
    verified = run_go(["mod", "verify"], cwd=main, env={**env, "GOPROXY": "off"}, timeout=120)
    assert verified.returncode == 0, verified.stderr
    assert "all modules verified" in verified.stdout


def test_unstall_go_succeeds_where_go_hangs_on_a_silent_mirror(
    tmp_path: Path,
    go_env: GoEnvFactory,
    upstream_factory: UpstreamPool,
    fixture_graph: FixtureGraph,
) -> None:
    silent = upstream_factory(fixture_graph.modules, mode="blackhole")
    healthy = upstream_factory(fixture_graph.modules)
    main = fixture_graph.write_main(tmp_path / "main")
    goproxy = f"{silent.url}|{healthy.url}"
    _assert_plain_go_fails(["mod", "download"], main, _env(go_env, goproxy, tmp_path / "p"))

    env = _env(go_env, goproxy, tmp_path / "u")
    report = tmp_path / "report.json"
    result = run_unstall(["go", "--report-json", str(report), "mod", "download"], cwd=main, env=env)
    assert result.returncode == 0, result.stderr
    _assert_cache_verified(main, env, fixture_graph)
    document = json.loads(report.read_text())
    zips = [a for a in document["artifacts"] if a["kind"] == "zip"]
    assert len(zips) == len(fixture_graph.closure)
    assert {a["upstream"] for a in zips} == {healthy.url}
    assert all(a["outcome"] == "ok" for a in document["artifacts"])

    built = run_unstall(["go", "build", "-o", os.devnull, "."], cwd=main, env=env)
    assert built.returncode == 0, built.stderr


def test_unstall_go_build_survives_resets_that_break_plain_go(
    tmp_path: Path,
    go_env: GoEnvFactory,
    upstream_factory: UpstreamPool,
    fixture_graph: FixtureGraph,
) -> None:
    flaky = upstream_factory(fixture_graph.modules)
    for module in fixture_graph.closure:
        # Twice per zip: once for plain go, once for unstall.
        flaky.add_fault(f"*/{escape(module.path)}/@v/*.zip", ResetBody(after_bytes=-1), times=2)
    main = fixture_graph.write_main(tmp_path / "main")
    _assert_plain_go_fails(["build", "./..."], main, _env(go_env, flaky.url, tmp_path / "p"))

    env = _env(go_env, flaky.url, tmp_path / "u")
    result = run_unstall(["go", "build", "-o", os.devnull, "."], cwd=main, env=env)
    assert result.returncode == 0, result.stderr
    _assert_cache_verified(main, env, fixture_graph)


def test_failure_is_explained_with_layer_cause_and_fix(
    tmp_path: Path,
    go_env: GoEnvFactory,
    upstream_factory: UpstreamPool,
    fixture_graph: FixtureGraph,
) -> None:
    refused = upstream_factory(fixture_graph.modules, mode="refuse")
    main = fixture_graph.write_main(tmp_path / "main")
    env = _env(go_env, refused.url, tmp_path)
    result = run_unstall(["go", "mod", "download"], cwd=main, env=env)
    assert result.returncode == 1  # go's own exit code
    assert "tcp-refused" in result.stderr
    assert "fix:" in result.stderr


def test_go_exit_code_and_output_pass_through(
    tmp_path: Path, go_env: GoEnvFactory, upstream_factory: UpstreamPool
) -> None:
    upstream = upstream_factory(ModuleSet())
    env = _env(go_env, upstream.url, tmp_path)
    result = run_unstall(["go", "env", "GOTOOLCHAIN"], cwd=tmp_path, env=env)
    assert result.returncode == 0
    assert result.stdout.strip() == "local"
    bad = run_unstall(["go", "no-such-go-command"], cwd=tmp_path, env=env)
    assert bad.returncode == 2
    assert "unknown command" in bad.stderr


def test_kill_9_mid_download_leaves_no_partial_artifact(
    tmp_path: Path, go_env: GoEnvFactory, upstream_factory: UpstreamPool
) -> None:
    big = make_module("fixture.test/huge", "v1.0.0", payload_size=2 << 20, seed=5)
    modules = ModuleSet([big])
    slow = upstream_factory(modules)
    slow.add_fault("*.zip", Trickle(chunk_bytes=16 * 1024, interval=0.05), times=1)
    main = _single_module_main(tmp_path, big)
    env = _env(go_env, slow.url, tmp_path)
    process = _download_in_background(main, env, new_session=True)
    _wait_for(lambda: slow.count("*.zip") > 0)
    time.sleep(1.0)  # some of the trickled body has arrived
    assert process.poll() is None, "download finished before it could be interrupted"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)

    store = Path(env["UNSTALL_HOME"]) / "cache"
    zip_name = f"{big.version}.zip"
    stored = store / escape(big.path) / "@v" / zip_name
    assert not stored.exists()
    cached = Path(env["GOMODCACHE"]) / "cache" / "download" / escape(big.path) / "@v" / zip_name
    assert not cached.exists()

    result = run_unstall(["go", "mod", "download"], cwd=main, env=env)
    assert result.returncode == 0, result.stderr
    assert stored.read_bytes() == big.zip_bytes
    assert cached.read_bytes() == big.zip_bytes
    # The second run continued where the killed one stopped instead of starting over.
    resumed = [r for r in slow.requests if r.path.endswith(".zip")][-1]
    assert resumed.headers.get("range", "").startswith("bytes=")
    assert resumed.status == 206
    assert not list((store / ".incoming").iterdir())


@pytest.mark.parametrize("goproxy", ["off", "direct"])
def test_no_proxy_configured_runs_go_unchanged(
    tmp_path: Path, go_env: GoEnvFactory, goproxy: str
) -> None:
    env = _env(go_env, goproxy, tmp_path)
    (tmp_path / "go.mod").write_text("module example.test/empty\n\ngo 1.21\n")
    result = run_unstall(["go", "mod", "download"], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "names no module proxy" in result.stderr


def test_go_env_shows_the_users_own_goproxy(tmp_path: Path, go_env: GoEnvFactory) -> None:
    goproxy = "http://127.0.0.1:9|direct"
    env = _env(go_env, goproxy, tmp_path)
    result = run_unstall(["go", "-C", str(tmp_path), "env", "GOPROXY"], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == goproxy


def test_sigterm_is_forwarded_to_go_and_reported_in_the_exit_code(
    tmp_path: Path, go_env: GoEnvFactory, upstream_factory: UpstreamPool
) -> None:
    module = make_module("fixture.test/slow", "v1.0.0")
    hole = upstream_factory(ModuleSet([module]), mode="blackhole")
    main = _single_module_main(tmp_path, module)
    env = _env(go_env, hole.url, tmp_path)
    env["UNSTALL_TIMEOUTS__FIRST_BYTE"] = "60"
    process = _download_in_background(main, env, new_session=False)
    _wait_for(lambda: hole.connections > 0)
    assert hole.connections > 0, "go never asked the local proxy"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr


def test_tls_upstreams_are_checked_against_the_trust_store_go_uses(
    tmp_path: Path,
    go_env: GoEnvFactory,
    upstream_factory: UpstreamPool,
    fixture_graph: FixtureGraph,
) -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    secure = upstream_factory(fixture_graph.modules, tls=server_context)
    main = fixture_graph.write_main(tmp_path / "main")
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))

    untrusted = _env(go_env, secure.url, tmp_path / "untrusted")
    untrusted.pop("SSL_CERT_FILE", None)
    refused = run_unstall(["go", "mod", "download"], cwd=main, env=untrusted)
    assert refused.returncode != 0
    assert "tls-untrusted" in refused.stderr

    trusted = _env(go_env, secure.url, tmp_path / "trusted")
    trusted["SSL_CERT_FILE"] = str(ca_file)
    plain = run_go(["mod", "download"], cwd=main, env=trusted, timeout=120)
    assert plain.returncode == 0, plain.stderr  # go trusts the same file
    result = run_unstall(["go", "mod", "download"], cwd=main, env=trusted)
    assert result.returncode == 0, result.stderr
    _assert_cache_verified(main, trusted, fixture_graph)


def test_progress_is_drawn_on_a_terminal_and_not_otherwise(
    tmp_path: Path,
    go_env: GoEnvFactory,
    upstream_factory: UpstreamPool,
    fixture_graph: FixtureGraph,
) -> None:
    upstream = upstream_factory(fixture_graph.modules, latency=0.3)
    main = fixture_graph.write_main(tmp_path / "main")
    env = _env(go_env, upstream.url, tmp_path / "tty")
    env["COLUMNS"] = "200"
    shown = run_on_terminal(["go", "mod", "download"], cwd=main, env=env)
    code, text = shown.returncode, shown.screen
    assert code == 0
    assert "in flight" in text
    assert f"served by {upstream.url}" in text

    quiet = run_unstall(
        ["go", "mod", "download"], cwd=main, env=_env(go_env, upstream.url, tmp_path / "pipe")
    )
    assert quiet.returncode == 0
    assert "in flight" not in quiet.stderr
