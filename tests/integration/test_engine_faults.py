"""The proxy engine against real loopback upstreams that fail on purpose.

Each test serves the real engine over HTTP and asks it for artifacts the way go
does; upstreams are real servers injecting one kind of failure. Assertions are on
what go would receive, what reached each upstream, and what the store holds.
"""

from __future__ import annotations

import io
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.engine import running_engine
from tests.support.faults import (
    CorruptZip,
    ResetBody,
    StallBody,
    StallHeaders,
    Status,
    Trickle,
    Truncate,
    WrongContent,
)
from tests.support.modfactory import FixtureModule, ModuleSet, make_module
from tests.support.upstream import UpstreamPool
from unstall.events import (
    ArtifactFinished,
    BreakerChanged,
    HedgeStarted,
    IntegrityViolation,
    RetryScheduled,
)
from unstall.goproxy.hashes import GoSum, parse_gosum_line
from unstall.goproxy.paths import escape
from unstall.goproxy.upstream import UpstreamSpec

BIG = 256 * 1024


def _module(path: str = "fixture.test/big", payload: int = BIG) -> FixtureModule:
    return make_module(path, "v1.0.0", payload_size=payload, seed=3)


def _zip_path(module: FixtureModule) -> str:
    return f"/{escape(module.path)}/@v/{module.version}.zip"


def _mod_path(module: FixtureModule) -> str:
    return f"/{escape(module.path)}/@v/{module.version}.mod"


def _gosum(*modules: FixtureModule) -> GoSum:
    gosum = GoSum()
    for module in modules:
        for number, line in enumerate(module.gosum_lines(), start=1):
            parsed = parse_gosum_line(line, number)
            assert parsed is not None
            gosum.add(parsed)
    return gosum


def _get(url: str, timeout: float = 60.0) -> httpx.Response:
    return httpx.get(url, timeout=timeout)


def _stored(store: Path, module: FixtureModule, ext: str) -> Path:
    return store / escape(module.path) / "@v" / f"{module.version}.{ext}"


def test_stall_before_headers_is_hedged_to_the_next_upstream(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = _module()
    modules = ModuleSet([module])
    slow = upstream_factory(modules)
    slow.add_fault("*.zip", StallHeaders(30.0), times=None)
    healthy = upstream_factory(modules)
    with running_engine(tmp_path, [slow.url, healthy.url]) as engine:
        response = _get(engine.url + _zip_path(module))
        assert response.status_code == 200
        assert response.content == module.zip_bytes
        assert response.headers["x-unstall-upstream"] == healthy.url
        hedges = engine.of_type(HedgeStarted)
        assert [h.upstream for h in hedges] == [healthy.url]
        # The report counts the artifacts a hedge saved from this.
        zips = [a for a in engine.of_type(ArtifactFinished) if a.kind == "zip"]
        assert [(a.upstream, a.won_by) for a in zips] == [(healthy.url, "hedge")]
    assert slow.count("*.zip") == 1


def test_reset_mid_body_resumes_with_range(tmp_path: Path, upstream_factory: UpstreamPool) -> None:
    module = _module()
    only = upstream_factory(ModuleSet([module]))
    only.add_fault("*.zip", ResetBody(after_bytes=BIG // 2), times=1)
    with running_engine(tmp_path, [only.url], overrides={"hedge": {"enabled": False}}) as engine:
        response = _get(engine.url + _zip_path(module))
        assert response.status_code == 200
        assert response.content == module.zip_bytes
        assert engine.of_type(RetryScheduled)
    zips = [r for r in only.requests if r.path.endswith(".zip")]
    assert len(zips) == 2
    assert zips[1].headers.get("range", "").startswith("bytes=")
    assert zips[1].status == 206
    assert _stored(engine.store, module, "zip").read_bytes() == module.zip_bytes


def test_truncated_body_and_mid_body_stall_are_retried(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = _module()
    only = upstream_factory(ModuleSet([module]))
    only.add_fault("*.zip", Truncate(after_bytes=1000), times=1)
    only.add_fault("*.zip", StallBody(after_bytes=2000, seconds=20.0), times=1)
    with running_engine(tmp_path, [only.url], overrides={"hedge": {"enabled": False}}) as engine:
        response = _get(engine.url + _zip_path(module))
        assert response.status_code == 200
        assert response.content == module.zip_bytes
        causes = [r.cause for r in engine.of_type(RetryScheduled)]
    assert causes == ["transfer-truncated", "transfer-stall"]


def test_trickle_below_minimum_throughput_fails_over(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = _module()
    modules = ModuleSet([module])
    trickling = upstream_factory(modules)
    trickling.add_fault("*.zip", Trickle(chunk_bytes=64, interval=0.1), times=None)
    healthy = upstream_factory(modules)
    overrides = {
        "timeouts": {"min_throughput": 4096.0, "throughput_window": 1.0},
        "hedge": {"enabled": False},
    }
    with running_engine(tmp_path, [trickling.url, healthy.url], overrides=overrides) as engine:
        response = _get(engine.url + _zip_path(module))
        assert response.status_code == 200
        assert response.headers["x-unstall-upstream"] == healthy.url
        assert "transfer-slow" in {r.cause for r in engine.of_type(RetryScheduled)}


def test_503_and_429_with_retry_after_are_retried(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = _module(payload=0)
    only = upstream_factory(ModuleSet([module]))
    only.add_fault("*.mod", Status(503), times=1)
    only.add_fault("*.mod", Status(429, retry_after=0.2), times=1)
    with running_engine(tmp_path, [only.url]) as engine:
        response = _get(engine.url + _mod_path(module))
        assert response.status_code == 200
        assert response.content == module.gomod
        retries = engine.of_type(RetryScheduled)
    assert [r.cause for r in retries] == ["http-server-error", "http-server-error"]
    assert retries[1].delay >= 0.2  # the server's Retry-After, not a shorter jitter
    assert only.count("*.mod") == 3


def test_not_found_moves_on_and_all_not_found_answers_404_with_reasons(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = _module(payload=0)
    empty = upstream_factory(ModuleSet())
    full = upstream_factory(ModuleSet([module]))
    gone = upstream_factory(ModuleSet())
    gone.add_fault("*", Status(410, body="gone for good"), times=None)
    with running_engine(tmp_path, [empty.url, full.url]) as engine:
        assert _get(engine.url + _mod_path(module)).content == module.gomod
        missing = _get(engine.url + "/fixture.test/nope/@v/v1.0.0.mod")
        assert missing.status_code == 404
        assert empty.url in missing.text
        assert full.url in missing.text
    with running_engine(tmp_path / "b", [gone.url]) as engine:
        answer = _get(engine.url + "/fixture.test/nope/@v/v1.0.0.info")
        assert answer.status_code == 410
        assert "gone for good" in answer.text
    # "not here" is an answer, not a failure: nobody was asked twice.
    assert empty.count("*/nope/*") == 1


def test_corrupt_zip_is_refused_never_cached_and_another_upstream_serves(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = _module()
    modules = ModuleSet([module])
    corrupt = upstream_factory(modules)
    corrupt.add_fault("*.zip", CorruptZip(), times=None)
    with running_engine(tmp_path / "a", [corrupt.url]) as engine:
        answer = _get(engine.url + _zip_path(module))
        assert answer.status_code == 502
        assert "corrupt zip" in answer.text
        assert not _stored(engine.store, module, "zip").exists()
        assert engine.of_type(IntegrityViolation)
    healthy = upstream_factory(modules)
    with running_engine(tmp_path / "b", [corrupt.url, healthy.url]) as engine:
        answer = _get(engine.url + _zip_path(module))
        assert answer.status_code == 200
        assert answer.content == module.zip_bytes
        assert _stored(engine.store, module, "zip").read_bytes() == module.zip_bytes


def _zip_with(names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, b"package x\n")
    return buffer.getvalue()


def test_zip_layout_rules(tmp_path: Path, upstream_factory: UpstreamPool) -> None:
    module = _module(payload=0)
    prefix = f"{module.path}@{module.version}/"
    offenders = {
        "outside": _zip_with([prefix + "go.mod", "other@v1.0.0/x.go"]),
        "dotdot": _zip_with([prefix + "go.mod", prefix + "../escape.go"]),
        "absolute": _zip_with([prefix + "go.mod", "/etc/x.go"]),
        "duplicate": _zip_with([prefix + "a.go", prefix + "A.go"]),
        "not a zip": b"this is not a zip file at all",
    }
    for index, (name, body) in enumerate(offenders.items()):
        bad = upstream_factory(ModuleSet([module]))
        bad.add_fault("*.zip", WrongContent(body), times=None)
        with running_engine(tmp_path / str(index), [bad.url]) as engine:
            answer = _get(engine.url + _zip_path(module))
            assert answer.status_code == 502, name
            assert "integrity" in answer.text, name
            assert not _stored(engine.store, module, "zip").exists(), name
            assert not list((engine.store / ".incoming").iterdir()), name


def test_checksum_mismatch_names_both_hashes_and_is_not_cached(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = _module(payload=0)
    impostor = make_module(module.path, module.version, extra_files={"evil.go": b"package big\n"})
    lying = upstream_factory(ModuleSet([impostor]))
    with running_engine(tmp_path, [lying.url], gosum=_gosum(module)) as engine:
        answer = _get(engine.url + _zip_path(module))
        assert answer.status_code == 502
        assert module.h1_zip in answer.text
        assert impostor.h1_zip in answer.text
        assert "checksum-mismatch" in answer.text
        assert not _stored(engine.store, module, "zip").exists()
        # The .mod is the same in both, so it passes.
        assert _get(engine.url + _mod_path(module)).status_code == 200


def test_metadata_rules(tmp_path: Path, upstream_factory: UpstreamPool) -> None:
    module = _module(payload=0)
    info = f"/{escape(module.path)}/@v/{module.version}.info"
    cases = [
        ("*.info", WrongContent(b"{not json"), info),
        ("*.info", WrongContent(b'{"Version": "v9.9.9"}'), info),
        ("*.mod", WrongContent(b"m" * ((16 << 20) + 1)), _mod_path(module)),
        ("*.mod", WrongContent(b"module other\n"), _mod_path(module)),
    ]
    for index, (match, fault, path) in enumerate(cases):
        bad = upstream_factory(ModuleSet([module]))
        bad.add_fault(match, fault, times=None)
        with running_engine(tmp_path / str(index), [bad.url], gosum=_gosum(module)) as engine:
            answer = _get(engine.url + path)
            assert answer.status_code == 502, (index, answer.text)
            assert not (engine.store / escape(module.path)).exists() or not any(
                p.suffix in (".info", ".mod")
                for p in (engine.store / escape(module.path) / "@v").iterdir()
            ), index


def test_concurrent_requests_share_one_upstream_fetch(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = _module()
    slowish = upstream_factory(ModuleSet([module]), latency=0.5)
    with running_engine(tmp_path, [slowish.url]) as engine, ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: _get(engine.url + _zip_path(module)), range(20)))
    assert all(a.status_code == 200 and a.content == module.zip_bytes for a in answers)
    assert slowish.count("*.zip") == 1


def test_private_modules_never_reach_an_upstream(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    secret = make_module("corp.example/team/secret", "v1.0.0")
    upstream = upstream_factory(ModuleSet([secret]))
    with running_engine(tmp_path, [upstream.url], private="corp.example/*,other.test") as engine:
        for suffix in ("@v/list", "@v/v1.0.0.info", "@v/v1.0.0.mod", "@v/v1.0.0.zip", "@latest"):
            answer = _get(f"{engine.url}/corp.example/team/secret/{suffix}")
            assert answer.status_code == 404
            assert "GOPRIVATE" in answer.text
    assert upstream.requests == []


def test_blackholed_upstream_is_skipped_once_its_breaker_opens(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    modules = ModuleSet([make_module(f"fixture.test/m{i}", "v1.0.0") for i in range(8)])
    hole = upstream_factory(modules, mode="blackhole")
    healthy = upstream_factory(modules)
    with running_engine(tmp_path, [hole.url, healthy.url]) as engine:
        for module in modules.modules():
            assert _get(engine.url + _mod_path(module)).status_code == 200
        opened = [e for e in engine.of_type(BreakerChanged) if e.state == "open"]
        hedged = {h.artifact for h in engine.of_type(HedgeStarted)}
    assert [e.upstream for e in opened] == [hole.url]
    # Three hedged requests opened the breaker; the other five went straight to the healthy one.
    assert len(hedged) == 3
    assert healthy.count("*.mod") == 8


def test_retry_budget_caps_load_on_a_failing_upstream(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    modules = ModuleSet([make_module(f"fixture.test/b{i}", "v1.0.0") for i in range(30)])
    failing = upstream_factory(modules)
    failing.add_fault("*", Status(503), times=None)
    overrides = {
        "retry": {"attempts": 10, "budget_ratio": 0.2, "budget_min": 5},
        "breaker": {"failures": 1000},
    }
    with running_engine(tmp_path, [failing.url], overrides=overrides) as engine:
        answers = [_get(engine.url + _mod_path(module)) for module in modules.modules()]
    assert all(a.status_code == 502 for a in answers)
    assert "retry-budget-exhausted" in answers[-1].text
    # Without a budget this would be 30 * 10 = 300 requests.
    assert failing.count("*") <= 30 + 5 + 0.2 * 30 + 1


def test_sumdb_passes_through_upstreams_that_proxy_it(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    files = {"latest": b"go.sum database tree\n42\nhash\n", "lookup/fixture.test/a@v1.0.0": b"x\n"}
    plain = upstream_factory(ModuleSet())
    proxying = upstream_factory(ModuleSet(), sumdb=True, sumdb_files=files)
    with running_engine(tmp_path, [plain.url, proxying.url]) as engine:
        assert _get(engine.url + "/sumdb/sum.example.test/supported").status_code == 200
        latest = _get(engine.url + "/sumdb/sum.example.test/latest")
        assert latest.content == files["latest"]
        lookup = _get(engine.url + "/sumdb/sum.example.test/lookup/fixture.test/a@v1.0.0")
        assert lookup.content == files["lookup/fixture.test/a@v1.0.0"]
        assert _get(engine.url + "/sumdb/sum.example.test/../../etc").status_code in (400, 404)
    assert plain.count("*/latest") == 0
    with running_engine(tmp_path / "none", [plain.url]) as engine:
        assert _get(engine.url + "/sumdb/sum.example.test/supported").status_code == 404


def test_malformed_requests_get_400_and_reach_no_upstream(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    upstream = upstream_factory(ModuleSet())
    with running_engine(tmp_path, [upstream.url]) as engine:
        for path in (
            "/fixture.test/x/@v/v1.zip",
            "/fixture.test/X/@v/v1.0.0.mod",
            "/fixture.test/x/@v/v1.0.0.exe",
            "/nodot/x/@v/v1.0.0.mod",
            "/fixture.test/x/@v/..%2F..%2Fetc.info",
            "/fixture.test/x",
        ):
            answer = _get(engine.url + path)
            assert answer.status_code == 400, path
            assert answer.headers["content-type"].startswith("text/plain")
    assert upstream.requests == []


def test_definitive_refusal_ends_a_comma_list_but_not_a_pipe_list(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = _module(payload=0)
    modules = ModuleSet([module])
    refusing = upstream_factory(modules)
    refusing.add_fault("*.mod", Status(403, body="forbidden here"), times=None)
    backup = upstream_factory(modules)
    comma = [UpstreamSpec(refusing.url, fallthrough_on_error=False), UpstreamSpec(backup.url)]
    # Hedging is off: under load a slow 403 must not be raced by the backup.
    no_hedge = {"hedge": {"enabled": False}}
    with running_engine(tmp_path / "comma", comma, overrides=no_hedge) as engine:
        answer = _get(engine.url + _mod_path(module))
        assert answer.status_code == 403
        assert "forbidden here" in answer.text
    assert backup.count("*.mod") == 0
    pipe = [UpstreamSpec(refusing.url, fallthrough_on_error=True), UpstreamSpec(backup.url)]
    with running_engine(tmp_path / "pipe", pipe, overrides=no_hedge) as engine:
        answer = _get(engine.url + _mod_path(module))
        assert answer.status_code == 200
        assert answer.content == module.gomod
    assert refusing.count("*.mod") == 2  # a refusal is final: never retried on the same one


def test_list_and_latest_are_served_stale_from_the_cache_when_upstreams_fail(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    older = make_module("fixture.test/lib", "v1.0.0")
    newer = make_module("fixture.test/lib", "v1.1.0")
    upstream = upstream_factory(ModuleSet([older, newer]))
    base = f"/{escape(older.path)}/@v"
    # list_ttl 0: every list goes upstream, so the failure path is the one exercised
    with running_engine(tmp_path, [upstream.url], overrides={"cache": {"list_ttl": 0}}) as engine:
        for module in (older, newer):
            assert _get(f"{engine.url}{base}/{module.version}.info").status_code == 200
            assert _get(f"{engine.url}{base}/{module.version}.mod").status_code == 200
        fresh = _get(f"{engine.url}{base}/list")
        assert "x-unstall-stale" not in fresh.headers
        upstream.add_fault("*", Status(503), times=None)
        stale_list = _get(f"{engine.url}{base}/list")
        assert stale_list.status_code == 200
        assert stale_list.text.split() == ["v1.0.0", "v1.1.0"]
        assert "x-unstall-stale" in stale_list.headers
        latest = _get(f"{engine.url}/{escape(older.path)}/@latest")
        assert latest.status_code == 200
        assert latest.json()["Version"] == "v1.1.0"
        assert "x-unstall-stale" in latest.headers
        # Nothing cached for a module never seen: the failure is reported as it is.
        assert _get(f"{engine.url}/fixture.test/other/@v/list").status_code == 502


def test_concurrency_per_upstream_is_bounded(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    modules = ModuleSet([make_module(f"fixture.test/c{i}", "v1.0.0") for i in range(12)])
    slowish = upstream_factory(modules, latency=0.3)
    overrides = {"concurrency": 3, "hedge": {"enabled": False}}
    with (
        running_engine(tmp_path, [slowish.url], overrides=overrides) as engine,
        ThreadPoolExecutor(12) as pool,
    ):
        paths = [engine.url + _mod_path(m) for m in modules.modules()]
        answers = list(pool.map(_get, paths))
    assert all(a.status_code == 200 for a in answers)
    assert slowish.count("*.mod") == 12
    assert slowish.max_in_flight == 3


def test_a_client_that_gives_up_does_not_cancel_the_shared_download(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = _module()
    slow = upstream_factory(ModuleSet([module]), latency=1.5)
    with running_engine(tmp_path, [slow.url]) as engine:
        url = engine.url + _zip_path(module)
        with pytest.raises(httpx.TimeoutException):
            httpx.get(url, timeout=0.3)
        answer = _get(url)
        assert answer.status_code == 200
        assert answer.content == module.zip_bytes
    assert slow.count("*.zip") == 1


def test_a_flaky_upstream_that_answers_keeps_its_place(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    modules = ModuleSet([make_module(f"fixture.test/f{i}", "v1.0.0") for i in range(20)])
    flaky = upstream_factory(modules)
    for module in modules.modules()[:5]:
        flaky.add_fault(f"*/{escape(module.path)}/@v/*.mod", Status(503), times=1)
    backup = upstream_factory(modules)
    # Hedging is off: only failures may send a request to the backup here, whatever
    # the machine's load does to response times.
    with running_engine(
        tmp_path, [flaky.url, backup.url], overrides={"hedge": {"enabled": False}}
    ) as engine:
        for module in modules.modules():
            assert _get(engine.url + _mod_path(module)).status_code == 200
        assert not [e for e in engine.of_type(BreakerChanged) if e.state == "open"]
    # Five answered failures in a row did not make it "offline": it was asked first
    # for every module, and served all those it did not fail.
    first_asked = {r.path for r in flaky.requests}
    assert len(first_asked) == 20
    assert backup.count("*.mod") <= 5


def test_artifact_deadline_ends_a_slow_fetch_and_is_reported(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = _module()
    slow = upstream_factory(ModuleSet([module]))
    slow.add_fault("*.zip", Trickle(chunk_bytes=1024, interval=0.05), times=None)
    overrides = {"timeouts": {"artifact": 1.0}, "hedge": {"enabled": False}}
    with running_engine(tmp_path, [slow.url], overrides=overrides) as engine:
        answer = _get(engine.url + _zip_path(module))
        assert answer.status_code == 502
        assert "deadline-exceeded" in answer.text
        finished = engine.of_type(ArtifactFinished)
    assert [(f.outcome, f.cause) for f in finished] == [("failed", "deadline-exceeded")]
    assert not _stored(engine.store, module, "zip").exists()
