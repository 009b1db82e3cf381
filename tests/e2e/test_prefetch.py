"""`unstall prefetch`: go.sum in, verified module cache or file:// bundle out."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.cli import run_unstall
from tests.support.faults import ResetBody, WrongContent
from tests.support.gocmd import GoEnvFactory, run_go
from tests.support.modfactory import FixtureGraph, make_module
from tests.support.upstream import UpstreamPool
from unstall.goproxy.paths import escape


def _setup(
    tmp: Path, go_env: GoEnvFactory, goproxy: str, graph: FixtureGraph
) -> tuple[Path, dict[str, str]]:
    main = graph.write_main(tmp / "main")
    env = go_env(goproxy, {"GOSUMDB": "off"})
    env["UNSTALL_HOME"] = str(tmp / "unstall-home")
    env["UNSTALL_RETRY__BACKOFF_BASE"] = "0.05"
    return main, env


def test_bundle_builds_with_no_network(
    tmp_path: Path,
    go_env: GoEnvFactory,
    upstream_factory: UpstreamPool,
    fixture_graph: FixtureGraph,
) -> None:
    flaky = upstream_factory(fixture_graph.modules)
    flaky.add_fault("*.zip", ResetBody(after_bytes=-1), times=3)
    main, env = _setup(tmp_path, go_env, flaky.url, fixture_graph)
    bundle = tmp_path / "bundle"
    result = run_unstall(
        ["prefetch", "--go-sum", "go.sum", "--bundle", str(bundle)], cwd=main, env=env
    )
    assert result.returncode == 0, result.stderr
    for module in fixture_graph.closure:
        base = bundle / escape(module.path) / "@v"
        assert (base / f"{module.version}.zip").read_bytes() == module.zip_bytes
        assert (base / f"{module.version}.mod").read_bytes() == module.gomod
        assert module.version in (base / "list").read_text().split()
    assert not list((bundle / ".incoming").iterdir())

    offline = {**env, "GOPROXY": f"file://{bundle}", "GOFLAGS": "-mod=mod"}
    built = run_go(["build", "-o", os.devnull, "."], cwd=main, env=offline, timeout=180)
    assert built.returncode == 0, built.stderr


def test_prefetch_into_module_cache_then_go_builds_offline(
    tmp_path: Path,
    go_env: GoEnvFactory,
    upstream_factory: UpstreamPool,
    fixture_graph: FixtureGraph,
) -> None:
    upstream = upstream_factory(fixture_graph.modules)
    main, env = _setup(tmp_path, go_env, upstream.url, fixture_graph)
    result = run_unstall(["prefetch"], cwd=main, env=env)
    assert result.returncode == 0, result.stderr
    download = Path(env["GOMODCACHE"]) / "cache" / "download"
    for module in fixture_graph.closure:
        ziphash = download / escape(module.path) / "@v" / f"{module.version}.ziphash"
        assert ziphash.read_text() == module.h1_zip
    built = run_go(
        ["build", "-o", os.devnull, "."], cwd=main, env={**env, "GOPROXY": "off"}, timeout=180
    )
    assert built.returncode == 0, built.stderr
    verified = run_go(["mod", "verify"], cwd=main, env={**env, "GOPROXY": "off"}, timeout=120)
    assert verified.returncode == 0, verified.stderr


def test_malformed_lines_are_reported_and_the_rest_still_downloads(
    tmp_path: Path,
    go_env: GoEnvFactory,
    upstream_factory: UpstreamPool,
    fixture_graph: FixtureGraph,
) -> None:
    upstream = upstream_factory(fixture_graph.modules)
    main, env = _setup(tmp_path, go_env, upstream.url, fixture_graph)
    gosum = main / "go.sum"
    lines = gosum.read_text().splitlines()
    lines.insert(1, "fixture.test/broken v1.0.0")
    lines.insert(3, "fixture.test/broken v1.0.0 md5:abc")
    gosum.write_text("\n".join(lines) + "\n")
    bundle = tmp_path / "bundle"
    result = run_unstall(["prefetch", "--bundle", str(bundle)], cwd=main, env=env)
    assert result.returncode == 1
    assert f"{gosum.name}:2:" in result.stderr
    assert f"{gosum.name}:4:" in result.stderr
    for module in fixture_graph.closure:
        assert (bundle / escape(module.path) / "@v" / f"{module.version}.zip").is_file()


def test_checksum_mismatch_fails_that_module_only(
    tmp_path: Path,
    go_env: GoEnvFactory,
    upstream_factory: UpstreamPool,
    fixture_graph: FixtureGraph,
) -> None:
    victim = fixture_graph.closure[0]
    impostor = make_module(victim.path, victim.version, extra_files={"evil.go": b"package x\n"})
    modules = fixture_graph.modules
    lying = upstream_factory(modules)
    lying.add_fault(
        f"*/{escape(victim.path)}/@v/*.zip", WrongContent(impostor.zip_bytes), times=None
    )
    main, env = _setup(tmp_path, go_env, lying.url, fixture_graph)
    bundle = tmp_path / "bundle"
    result = run_unstall(["prefetch", "--bundle", str(bundle)], cwd=main, env=env)
    assert result.returncode == 1
    assert victim.h1_zip in result.stderr
    assert impostor.h1_zip in result.stderr
    assert not (bundle / escape(victim.path) / "@v" / f"{victim.version}.zip").exists()
    others = [m for m in fixture_graph.closure if m.path != victim.path]
    for module in others:
        assert (bundle / escape(module.path) / "@v" / f"{module.version}.zip").is_file()


def test_missing_go_sum_is_a_usage_error(tmp_path: Path, go_env: GoEnvFactory) -> None:
    env = go_env("http://127.0.0.1:9")
    env["UNSTALL_HOME"] = str(tmp_path / "home")
    result = run_unstall(["prefetch", "--go-sum", "nope.sum"], cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "nope.sum" in result.stderr
    assert "fix:" in result.stderr
