"""Shared fixtures: fake upstreams, fixture modules and an isolated go command."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.support.gocmd import GoEnvFactory, go_binary, go_environment, remove_modcache
from tests.support.modfactory import FixtureGraph, ModuleSet, make_graph
from tests.support.upstream import UpstreamPool


@pytest.fixture
def upstream_factory() -> Iterator[UpstreamPool]:
    """Call it like ``FakeUpstream(...)`` to get a started server; all are stopped after."""
    pool = UpstreamPool()
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture
def fixture_graph() -> FixtureGraph:
    """Six small fixture modules (some requiring others) and a main module's direct deps."""
    modules, direct = make_graph(6, payload_sizes=[0, 2048], seed=7)
    return FixtureGraph(modules, direct)


@pytest.fixture
def fixture_modules(fixture_graph: FixtureGraph) -> ModuleSet:
    """The module set of :func:`fixture_graph` (a fresh one per test: tests may add to it)."""
    return fixture_graph.modules


@pytest.fixture
def go_cmd() -> str:
    """The go binary; the suite needs it (make test runs where go is installed)."""
    binary = go_binary()
    if binary is None:
        pytest.fail("the go command is not on PATH: install Go to run the suite")
    return binary


@pytest.fixture(scope="session")
def shared_gocache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One build cache for the session: it only holds compiled code keyed by content,
    and a cold cache costs seconds of compiling the runtime per test."""
    return tmp_path_factory.mktemp("gocache")


@pytest.fixture
def go_env(go_cmd: str, tmp_path: Path, shared_gocache: Path) -> Iterator[GoEnvFactory]:
    """``go_env(goproxy, extra)`` gives an isolated environment; its module cache is removed."""
    made: list[dict[str, str]] = []

    def make(goproxy: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        merged = {"GOCACHE": str(shared_gocache), **(extra or {})}
        env = go_environment(tmp_path / f"go{len(made)}", goproxy=goproxy, extra=merged)
        made.append(env)
        return env

    yield make
    for env in made:
        remove_modcache(Path(env["GOMODCACHE"]))
