"""What the engine remembers between requests: list/@latest for a TTL, not-found for a
shorter one, stored artifacts for good; and the store's @v/list for file:// use."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.support.engine import running_engine
from tests.support.modfactory import ModuleSet, make_module
from tests.support.upstream import UpstreamPool
from unstall.goproxy.paths import escape

NO_HEDGE = {"hedge": {"enabled": False}}


def test_list_and_latest_are_reused_within_the_ttl(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = make_module("fixture.test/ttl", "v1.0.0")
    upstream = upstream_factory(ModuleSet([module]))
    base = f"{escape(module.path)}/@v"
    with running_engine(tmp_path, [upstream.url], overrides=NO_HEDGE) as engine:
        answers = [httpx.get(f"{engine.url}/{base}/list", timeout=30) for _ in range(5)]
        latest = [httpx.get(f"{engine.url}/{module.path}/@latest", timeout=30) for _ in range(3)]
    assert [a.text for a in answers] == ["v1.0.0\n"] * 5
    assert [a.headers["x-unstall-cache"] for a in answers] == ["miss"] + ["hit"] * 4
    assert all(a.json()["Version"] == "v1.0.0" for a in latest)
    assert upstream.count("*/@v/list") == 1
    assert upstream.count("*/@latest") == 1


def test_list_ttl_zero_asks_the_upstream_every_time(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = make_module("fixture.test/nottl", "v1.0.0")
    upstream = upstream_factory(ModuleSet([module]))
    overrides = {**NO_HEDGE, "cache": {"list_ttl": 0}}
    with running_engine(tmp_path, [upstream.url], overrides=overrides) as engine:
        for _ in range(3):
            httpx.get(f"{engine.url}/{escape(module.path)}/@v/list", timeout=30)
    assert upstream.count("*/@v/list") == 3


def test_a_new_version_appears_after_the_ttl(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    older = make_module("fixture.test/grows", "v1.0.0")
    upstream = upstream_factory(ModuleSet([older]))
    overrides = {**NO_HEDGE, "cache": {"list_ttl": 0.5}}
    url_path = f"{escape(older.path)}/@v/list"
    with running_engine(tmp_path, [upstream.url], overrides=overrides) as engine:
        assert httpx.get(f"{engine.url}/{url_path}", timeout=30).text.split() == ["v1.0.0"]
        upstream.modules.add(make_module("fixture.test/grows", "v1.1.0"))
        # Within the TTL the old answer is still given; after it, the new one.
        assert httpx.get(f"{engine.url}/{url_path}", timeout=30).text.split() == ["v1.0.0"]
        time.sleep(0.6)
        newer = httpx.get(f"{engine.url}/{url_path}", timeout=30)
    assert newer.text.split() == ["v1.0.0", "v1.1.0"]


def test_not_found_is_remembered_for_the_negative_ttl(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    upstream = upstream_factory(ModuleSet([make_module("fixture.test/here", "v1.0.0")]))
    missing = "fixture.test/here/@v/v9.9.9.info"
    with running_engine(tmp_path, [upstream.url], overrides=NO_HEDGE) as engine:
        answers = [httpx.get(f"{engine.url}/{missing}", timeout=30) for _ in range(4)]
    assert [a.status_code for a in answers] == [404] * 4
    assert all("404" in a.text or "not found" in a.text for a in answers)
    assert upstream.count("*/v9.9.9.info") == 1


def test_negative_ttl_zero_remembers_nothing(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    upstream = upstream_factory(ModuleSet([make_module("fixture.test/here", "v1.0.0")]))
    overrides = {**NO_HEDGE, "cache": {"negative_ttl": 0}}
    with running_engine(tmp_path, [upstream.url], overrides=overrides) as engine:
        for _ in range(3):
            httpx.get(f"{engine.url}/fixture.test/here/@v/v9.9.9.info", timeout=30)
    assert upstream.count("*/v9.9.9.info") == 3


def test_stored_artifacts_are_served_without_the_upstream_and_the_list_is_written(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    modules = [make_module("fixture.test/kept", v) for v in ("v1.0.0", "v1.2.0")]
    upstream = upstream_factory(ModuleSet(modules))
    with running_engine(tmp_path, [upstream.url], overrides=NO_HEDGE) as engine:
        for module in modules:
            for ext in ("info", "mod", "zip"):
                url = f"{engine.url}/{escape(module.path)}/@v/{module.version}.{ext}"
                first = httpx.get(url, timeout=30)
                again = httpx.get(url, timeout=30)
                assert first.content == again.content
                assert again.headers["x-unstall-cache"] == "hit"
        store = engine.settings.cache_dir
    assert len(upstream.requests) == 6  # one per artifact
    listed = (store / "fixture.test/kept/@v/list").read_text()
    assert listed.split() == ["v1.0.0", "v1.2.0"]


def test_head_gives_the_headers_and_other_methods_are_refused(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = make_module("fixture.test/heads", "v1.0.0", payload_size=4096)
    upstream = upstream_factory(ModuleSet([module]))
    url_path = f"{escape(module.path)}/@v/{module.version}.zip"
    with running_engine(tmp_path, [upstream.url], overrides=NO_HEDGE) as engine:
        url = f"{engine.url}/{url_path}"
        assert httpx.get(url, timeout=30).content == module.zip_bytes
        head = httpx.head(url, timeout=30)
        posted = httpx.post(url, content=b"x", timeout=30)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(module.zip_bytes))
    assert head.headers["content-type"] == "application/zip"
    assert posted.status_code == 405
    assert posted.headers["allow"] == "GET, HEAD"
