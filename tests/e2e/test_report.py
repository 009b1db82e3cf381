"""`unstall report` as a user runs it, over the history a real `unstall go` recorded.

A refused mirror in front of a healthy one: go succeeds through the failover, and the
report shows the refused mirror's failures, the group they form, the slowest artifacts;
`report prune` then empties the history; with history disabled nothing is recorded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.cli import run_unstall
from tests.support.gocmd import GoEnvFactory
from tests.support.modfactory import FixtureGraph
from tests.support.upstream import UpstreamPool

FAST_ENV = {
    "UNSTALL_TIMEOUTS__FIRST_BYTE": "3",
    "UNSTALL_TIMEOUTS__STALL": "2",
    "UNSTALL_HEDGE__INITIAL": "0.5",
    "UNSTALL_RETRY__BACKOFF_BASE": "0.05",
}


def _env(go_env: GoEnvFactory, goproxy: str, tmp: Path) -> dict[str, str]:
    env = go_env(goproxy, {"GOSUMDB": "off"})
    env.update(FAST_ENV)
    env["UNSTALL_HOME"] = str(tmp / "unstall-home")
    return env


def _report(env: dict[str, str], cwd: Path, *args: str) -> dict[str, Any]:
    done = run_unstall(["report", "--json", *args], cwd=cwd, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def test_report_shows_what_a_go_run_went_through_and_prune_clears_it(
    tmp_path: Path,
    go_env: GoEnvFactory,
    upstream_factory: UpstreamPool,
    fixture_graph: FixtureGraph,
) -> None:
    refused = upstream_factory(fixture_graph.modules, mode="refuse")
    healthy = upstream_factory(fixture_graph.modules)
    main = fixture_graph.write_main(tmp_path / "main")
    env = _env(go_env, f"{refused.url}|{healthy.url}", tmp_path)
    downloaded = run_unstall(["go", "mod", "download"], cwd=main, env=env)
    assert downloaded.returncode == 0, downloaded.stderr

    report = _report(env, tmp_path, "--since", "1h")

    assert report["runs"] == 1
    upstreams = {u["upstream"]: u for u in report["upstreams"]}
    assert set(upstreams) == {refused.url, healthy.url}
    assert upstreams[refused.url]["failed"] > 0
    assert upstreams[refused.url]["success_rate"] == 0.0
    assert upstreams[healthy.url]["success_rate"] == 1.0
    assert upstreams[healthy.url]["ok"] >= len(fixture_graph.closure)
    assert upstreams[healthy.url]["total_ms"]["p50"] > 0
    (group,) = [g for g in report["groups"] if g["cause"] == "tcp-refused"]
    assert group["upstreams"] == [refused.url]
    assert group["commands"] == ["go"]
    assert group["count"] == upstreams[refused.url]["failed"]
    assert group["fix"]
    assert report["slowest"]
    assert {a["upstream"] for a in report["slowest"]} == {healthy.url}
    stages = {s["stage"]: s for s in report["stages"]}
    assert stages["connect"]["likely_cause"] == "tcp-refused"

    shown = run_unstall(["report"], cwd=tmp_path, env=env, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert refused.url in shown.stdout
    assert "tcp-refused" in shown.stdout
    assert "100.0%" in shown.stdout  # the healthy mirror's success rate

    pruned = run_unstall(["report", "prune", "--keep-days", "0", "--json"], cwd=tmp_path, env=env)
    assert pruned.returncode == 0, pruned.stderr
    deleted = json.loads(pruned.stdout)["deleted"]
    assert deleted["attempts"] == sum(u["attempts"] for u in report["upstreams"])
    assert deleted["runs"] == 1
    after = _report(env, tmp_path)
    assert (after["runs"], after["attempts"], after["groups"]) == (0, 0, [])


def test_history_disabled_records_nothing(
    tmp_path: Path,
    go_env: GoEnvFactory,
    upstream_factory: UpstreamPool,
    fixture_graph: FixtureGraph,
) -> None:
    healthy = upstream_factory(fixture_graph.modules)
    main = fixture_graph.write_main(tmp_path / "main")
    env = _env(go_env, healthy.url, tmp_path)
    env["UNSTALL_HISTORY__ENABLED"] = "false"
    downloaded = run_unstall(["go", "mod", "download"], cwd=main, env=env)
    assert downloaded.returncode == 0, downloaded.stderr

    shown = run_unstall(["report"], cwd=tmp_path, env=env, timeout=120)

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("No history between ")
    assert not (Path(env["UNSTALL_HOME"]) / "history.sqlite3").exists()


def test_a_bad_since_is_a_usage_error_naming_the_formats(tmp_path: Path) -> None:
    env = {"UNSTALL_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    done = run_unstall(["report", "--since", "last tuesday"], cwd=tmp_path, env=env)

    assert done.returncode == 2
    assert "'last tuesday' is neither a duration nor a date" in done.stderr
    assert "30m, 12h, 7d, 2w" in done.stderr
    backwards = run_unstall(["report", "--since", "1h", "--until", "2d"], cwd=tmp_path, env=env)
    assert backwards.returncode == 2
    assert "Make --since earlier than --until" in backwards.stderr


def test_an_empty_history_is_a_friendly_message_or_an_empty_document(tmp_path: Path) -> None:
    env = {"UNSTALL_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    shown = run_unstall(["report", "--since", "2w"], cwd=tmp_path, env=env)
    document = _report(env, tmp_path, "--since", "2024-01-01")

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("No history between ")
    assert (document["runs"], document["upstreams"], len(document["stages"])) == (0, [], 4)
    assert document["until"] - document["since"] > 86_400
    assert not (tmp_path / "home").exists()
