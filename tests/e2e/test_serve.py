"""`unstall serve` as a team's GOPROXY: a real server process and real go clients."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests.support.cli import run_unstall
from tests.support.gocmd import GoEnvFactory, run_go
from tests.support.modfactory import FixtureGraph, make_module, write_main_module
from tests.support.server import ServeProcess, get_together
from tests.support.upstream import FakeUpstream, UpstreamPool
from unstall.goproxy.paths import escape

GO_TIMEOUT = 180.0


def _download(main: Path, env: dict[str, str]) -> None:
    done = run_go(["mod", "download", "-x"], cwd=main, env=env, timeout=GO_TIMEOUT)
    assert done.returncode == 0, done.stderr
    verified = run_go(["mod", "verify"], cwd=main, env=env, timeout=GO_TIMEOUT)
    assert verified.returncode == 0, verified.stderr


def _filled_store(tmp: Path, go_env: GoEnvFactory, upstream: FakeUpstream, main: Path) -> Path:
    """A store filled by a server that served ``main``'s download, then stopped cleanly."""
    cache = tmp / "store"
    with ServeProcess(tmp / "filling", ["--upstream", upstream.url], cache=cache) as server:
        _download(main, go_env(server.url, {"GOSUMDB": "off"}))
        assert server.stop() == 0
    return cache


def test_cached_modules_survive_the_upstream_being_killed(
    tmp_path: Path,
    go_env: GoEnvFactory,
    upstream_factory: UpstreamPool,
    fixture_graph: FixtureGraph,
) -> None:
    upstream = upstream_factory(fixture_graph.modules)
    main = fixture_graph.write_main(tmp_path / "main")
    module = fixture_graph.closure[0]
    with ServeProcess(tmp_path / "srv", ["--upstream", upstream.url, "--list-ttl", "0"]) as server:
        _download(main, go_env(server.url, {"GOSUMDB": "off"}))
        fresh = httpx.get(f"{server.url}/{escape(module.path)}/@v/list", timeout=30)
        assert fresh.status_code == 200
        assert "x-unstall-stale" not in fresh.headers

        upstream.stop()  # the only upstream is gone: connections are refused

        # A second machine with an empty module cache still gets everything.
        _download(main, go_env(server.url, {"GOSUMDB": "off"}))
        listed = httpx.get(f"{server.url}/{escape(module.path)}/@v/list", timeout=30)
        assert listed.status_code == 200
        assert module.version in listed.text.split()
        assert "x-unstall-stale" in listed.headers
        latest = httpx.get(f"{server.url}/{escape(module.path)}/@latest", timeout=30)
        assert latest.status_code == 200
        assert latest.json()["Version"] == fixture_graph.modules.latest(module.path).version  # type: ignore[union-attr]
        assert latest.headers["x-unstall-cache"] == "stale"
        assert server.stop() == 0


def test_two_hundred_clients_of_one_uncached_zip_cause_one_upstream_fetch(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = make_module("fixture.test/popular", "v1.2.3", payload_size=256 * 1024)
    upstream = upstream_factory(latency=0.5)
    upstream.modules.add(module)
    url_path = f"{escape(module.path)}/@v/{module.version}.zip"

    with ServeProcess(tmp_path / "srv", ["--upstream", upstream.url]) as server:
        answers = get_together([f"{server.url}/{url_path}"] * 200)
    assert [a.status_code for a in answers] == [200] * 200
    assert all(a.content == module.zip_bytes for a in answers)
    assert upstream.count(f"*/{module.version}.zip") == 1


def test_a_restart_keeps_the_cache_and_the_store_is_a_file_goproxy(
    tmp_path: Path,
    go_env: GoEnvFactory,
    upstream_factory: UpstreamPool,
    fixture_graph: FixtureGraph,
) -> None:
    upstream = upstream_factory(fixture_graph.modules)
    main = fixture_graph.write_main(tmp_path / "main")
    cache = _filled_store(tmp_path, go_env, upstream, main)
    served_before = len(upstream.requests)
    assert not [p for p in (cache / ".incoming").iterdir()]

    with ServeProcess(tmp_path / "srv2", ["--upstream", upstream.url], cache=cache) as server:
        env = go_env(server.url, {"GOSUMDB": "off"})
        done = run_go(["mod", "download"], cwd=main, env=env, timeout=GO_TIMEOUT)
        assert done.returncode == 0, done.stderr
    zips_after = [r for r in upstream.requests[served_before:] if r.path.endswith(".zip")]
    assert zips_after == []  # every zip came from the kept store

    # The store is the module cache's download layout: go reads it with no server.
    offline = go_env(f"file://{cache}", {"GOSUMDB": "off"})
    built = run_go(["build", "-o", os.devnull, "."], cwd=main, env=offline, timeout=GO_TIMEOUT)
    assert built.returncode == 0, built.stderr


def test_offline_mode_serves_the_store_and_404s_the_rest(
    tmp_path: Path,
    go_env: GoEnvFactory,
    upstream_factory: UpstreamPool,
    fixture_graph: FixtureGraph,
) -> None:
    upstream = upstream_factory(fixture_graph.modules)
    main = fixture_graph.write_main(tmp_path / "main")
    cache = _filled_store(tmp_path, go_env, upstream, main)
    upstream.stop()

    with ServeProcess(tmp_path / "srv2", ["--offline"], cache=cache) as server:
        _download(main, go_env(server.url, {"GOSUMDB": "off"}))
        missing = httpx.get(f"{server.url}/fixture.test/absent/@v/v1.0.0.info", timeout=30)
        assert missing.status_code == 404
        assert "offline" in missing.text
        ready = httpx.get(f"{server.url}/readyz", timeout=30)
        assert ready.status_code == 200
        assert "offline" in ready.text


def test_private_modules_never_reach_the_upstream(
    tmp_path: Path,
    go_env: GoEnvFactory,
    upstream_factory: UpstreamPool,
    fixture_graph: FixtureGraph,
) -> None:
    secret = make_module("corp.example/secret/lib", "v1.0.0")
    upstream = upstream_factory(fixture_graph.modules)
    upstream.modules.add(secret)
    args = ["--upstream", upstream.url, "--private", "corp.example/secret"]
    with ServeProcess(tmp_path / "srv", args, env={"GONOPROXY": "*.internal.example"}) as server:
        for path in (
            "corp.example/secret/lib/@v/list",
            "corp.example/secret/lib/@latest",
            "corp.example/secret/lib/@v/v1.0.0.info",
            "corp.example/secret/lib/@v/v1.0.0.zip",
            "git.internal.example/team/x/@v/list",
        ):
            answer = httpx.get(f"{server.url}/{path}", timeout=30)
            assert answer.status_code == 404, path
            assert "not sent to any proxy" in answer.text
        # go itself (without GOPRIVATE on the client) asks the server and is refused.
        main = tmp_path / "main"
        main.mkdir()
        write_main_module(main, "example.test/main", [secret])
        env = go_env(f"{server.url},off", {"GOSUMDB": "off"})
        done = run_go(["mod", "download"], cwd=main, env=env, timeout=GO_TIMEOUT)
        assert done.returncode != 0
    leaked = [r.path for r in upstream.requests if "secret" in r.path or "internal" in r.path]
    assert leaked == []


def test_prefetch_into_a_server_warms_its_cache(
    tmp_path: Path,
    go_env: GoEnvFactory,
    upstream_factory: UpstreamPool,
    fixture_graph: FixtureGraph,
) -> None:
    upstream = upstream_factory(fixture_graph.modules)
    main = fixture_graph.write_main(tmp_path / "main")
    with ServeProcess(tmp_path / "srv", ["--upstream", upstream.url]) as server:
        env = go_env(upstream.url, {"GOSUMDB": "off"})
        env["UNSTALL_HOME"] = str(tmp_path / "client-home")
        warmed = run_unstall(["prefetch", "--into", server.url, "-q"], cwd=main, env=env)
        assert warmed.returncode == 0, warmed.stderr
        assert server.url in warmed.stderr
        upstream.stop()
        # Everything go.sum names is now served with the upstream gone.
        _download(main, go_env(server.url, {"GOSUMDB": "off"}))
    for module in fixture_graph.closure:
        stored = server.cache / escape(module.path) / "@v" / f"{module.version}.zip"
        assert stored.read_bytes() == module.zip_bytes


def test_processes_sharing_a_store_fetch_an_artifact_once(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = make_module("fixture.test/shared", "v1.0.0", payload_size=128 * 1024)
    upstream = upstream_factory(latency=0.5)
    upstream.modules.add(module)
    url_path = f"{escape(module.path)}/@v/{module.version}.zip"
    cache = tmp_path / "store"
    args = ["--upstream", upstream.url]

    with (
        ServeProcess(tmp_path / "one", args, cache=cache) as one,
        ServeProcess(tmp_path / "two", args, cache=cache) as two,
    ):
        answers = get_together([f"{(one.url, two.url)[n % 2]}/{url_path}" for n in range(100)])
    assert all(a.content == module.zip_bytes for a in answers)
    assert upstream.count(f"*/{module.version}.zip") == 1
    assert [p.name for p in (cache / ".incoming").iterdir()] == []
