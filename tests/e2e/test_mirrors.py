"""`unstall mirrors` as a user runs it: rank real (loopback) Go mirrors, apply, undo.

Every mirror and the checksum database are FakeUpstreams on 127.0.0.0/8
(tests/support/mirrors.py); `--no-catalogue` keeps the shipped public mirrors out, and the
sample module comes from UNSTALL_RANK__SAMPLE_GO, so nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_unstall
from tests.support.gocmd import go_environment
from tests.support.mirrors import (
    GO_SAMPLE_MODULE,
    SUMDB_NAME,
    GoMirrors,
    GoSample,
    make_go_sample,
)
from tests.support.mirrors_pkg import FakeNpmRegistry, FakePipIndex, make_package
from tests.support.upstream import UpstreamPool

HANG = 120.0  # did-not-hang bound for a whole command
TIMEOUT_CAUSES = {"http-timeout", "tcp-timeout", "tls-timeout"}


@pytest.fixture(scope="module")
def sample() -> GoSample:
    return make_go_sample()


@pytest.fixture
def mirrors(upstream_factory: UpstreamPool, sample: GoSample) -> GoMirrors:
    return GoMirrors(upstream_factory, sample)


def environment(tmp_path: Path, mirrors: GoMirrors, goproxy: str) -> dict[str, str]:
    database, _ = mirrors.checksum_db()
    return go_environment(
        tmp_path,
        goproxy=goproxy,
        extra={
            "GOSUMDB": f"{SUMDB_NAME} {database.url}/sumdb/{SUMDB_NAME}",
            "UNSTALL_RANK__SAMPLE_GO": GO_SAMPLE_MODULE,
            "UNSTALL_HOME": str(tmp_path / "unstall-home"),
        },
    )


def test_rank_orders_excludes_and_flags_go_mirrors(tmp_path: Path, mirrors: GoMirrors) -> None:
    current = mirrors.healthy()
    fast = mirrors.healthy()
    slow = mirrors.slow(0.3)
    corrupted = mirrors.corrupted()
    stale = mirrors.stale()
    no_sumdb = mirrors.without_sumdb()
    dead = [mirrors.blackholed(), mirrors.blackholed()]
    env = environment(tmp_path, mirrors, f"{current.url},direct")
    args = ["mirrors", "rank", "--ecosystem", "go", "--no-catalogue", "--json", "--timeout", "1"]
    for server in (fast, slow, corrupted, stale, no_sumdb, *dead):
        args += ["--candidate", server.url]
    started = time.monotonic()
    done = run_unstall(args, cwd=tmp_path, env=env, timeout=HANG)
    assert time.monotonic() - started < HANG
    assert done.returncode == 0, done.stderr
    rows: dict[str, dict[str, Any]] = {c["url"]: c for c in json.loads(done.stdout)["candidates"]}
    assert len(rows) == 8
    for row in rows.values():
        assert set(row) == {
            "url",
            "ecosystem",
            "status",
            "rank",
            "reason",
            "cause",
            "flags",
            "ttfb_ms",
            "throughput_kbps",
            "correct",
        }
    complete = {current.url, fast.url, slow.url}
    assert {rows[u]["rank"] for u in complete} == {1, 2, 3}
    assert rows[slow.url]["rank"] == 3  # 300 ms before every answer
    assert all(rows[u]["flags"] == [] and rows[u]["correct"] is True for u in complete)
    assert rows[stale.url]["flags"] == ["stale"]
    assert rows[no_sumdb.url]["flags"] == ["no-sumdb"]
    assert {rows[stale.url]["rank"], rows[no_sumdb.url]["rank"]} == {4, 5}
    bad = rows[corrupted.url]
    assert (bad["status"], bad["rank"], bad["correct"], bad["cause"]) == (
        "excluded",
        None,
        False,
        "checksum-mismatch",
    )
    for server in dead:
        row = rows[server.url]
        assert row["status"] == "excluded"
        assert row["cause"] in TIMEOUT_CAUSES
        assert row["reason"].startswith("unreachable")


def test_apply_then_undo_restores_the_go_env_file_byte_for_byte(
    tmp_path: Path, mirrors: GoMirrors
) -> None:
    current, better = mirrors.slow(0.2), mirrors.healthy()
    env = environment(tmp_path, mirrors, "unused")
    del env["GOPROXY"]  # go reads it from the GOENV file below, which apply rewrites
    goenv = tmp_path / "go.env"
    original = f"# my settings\nGOPROXY={current.url},direct\nGOPRIVATE=corp.example.test\n"
    goenv.write_text(original)
    env["GOENV"] = str(goenv)
    (tmp_path / "unstall.toml").write_text(f'mirrors = ["{better.url}"]\n')
    args = ["mirrors", "apply", "--ecosystem", "go", "--no-catalogue", "--top", "2"]

    dry = run_unstall([*args, "--dry-run"], cwd=tmp_path, env=env, timeout=HANG)
    assert dry.returncode == 0, dry.stderr
    assert "would run: " in dry.stdout
    assert f"go env -w 'GOPROXY={better.url}|{current.url},direct'" in dry.stdout
    assert goenv.read_text() == original

    applied = run_unstall(args, cwd=tmp_path, env=env, timeout=HANG)
    assert applied.returncode == 0, applied.stderr
    changed = goenv.read_text()
    assert f"GOPROXY={better.url}|{current.url},direct" in changed
    assert "GOPRIVATE=corp.example.test" in changed

    history = run_unstall(["mirrors", "history"], cwd=tmp_path, env=env, timeout=HANG)
    assert f"{better.url}|{current.url},direct" in history.stdout

    undone = run_unstall(["mirrors", "undo"], cwd=tmp_path, env=env, timeout=HANG)
    assert undone.returncode == 0, undone.stderr
    assert goenv.read_text() == original
    again = run_unstall(["mirrors", "undo"], cwd=tmp_path, env=env, timeout=HANG)
    assert again.returncode == 2
    assert "nothing to undo" in again.stdout + again.stderr


def test_rank_pip_and_npm_mirrors_by_their_real_artifacts(tmp_path: Path) -> None:
    package = make_package()
    with contextlib.ExitStack() as stack:

        def start(server: FakePipIndex | FakeNpmRegistry) -> str:
            return stack.enter_context(server).url

        pip_current = start(FakePipIndex(package))
        pip_slow = start(FakePipIndex(package, latency=0.2))
        pip_corrupt = start(FakePipIndex(package, corrupt=True))
        pip_stale = start(FakePipIndex(package, stale=True))
        npm_current = start(FakeNpmRegistry(package))
        npm_dead = start(FakeNpmRegistry(package, mode="blackhole"))
        npm_corrupt = start(FakeNpmRegistry(package, corrupt=True))
        env = go_environment(
            tmp_path,
            goproxy="off",
            extra={
                "PIP_INDEX_URL": f"{pip_current}/simple/",
                "NPM_CONFIG_REGISTRY": f"{npm_current}/",
                "UNSTALL_RANK__SAMPLE_PIP": package.name,
                "UNSTALL_RANK__SAMPLE_NPM": package.name,
                "UNSTALL_HOME": str(tmp_path / "unstall-home"),
            },
        )
        args = ["mirrors", "rank", "--no-catalogue", "--json", "--timeout", "1"]
        for url in (
            f"pip={pip_slow}/simple",
            f"pip={pip_corrupt}/simple",
            f"pip={pip_stale}/simple",
        ):
            args += ["--candidate", url]
        args += ["--candidate", f"npm={npm_dead}", "--candidate", f"npm={npm_corrupt}"]
        done = run_unstall(args, cwd=tmp_path, env=env, timeout=HANG)
    assert done.returncode == 0, done.stderr
    rows = {(c["ecosystem"], c["url"]): c for c in json.loads(done.stdout)["candidates"]}
    assert rows["pip", f"{pip_current}/simple"]["rank"] == 1
    assert rows["pip", f"{pip_slow}/simple"]["rank"] == 2
    assert rows["pip", f"{pip_stale}/simple"]["flags"] == ["stale"]
    assert rows["pip", f"{pip_stale}/simple"]["rank"] == 3
    assert rows["pip", f"{pip_corrupt}/simple"]["cause"] == "checksum-mismatch"
    assert rows["npm", npm_current]["rank"] == 1
    assert rows["npm", npm_current]["correct"] is True
    assert rows["npm", npm_corrupt]["status"] == "excluded"
    assert rows["npm", npm_corrupt]["correct"] is False
    assert rows["npm", npm_dead]["cause"] in TIMEOUT_CAUSES
