"""The test support itself: the fake upstream really fails as told, the factory makes real modules.

Other tests trust these fixtures to produce a given failure; these tests check
each failure from the client's side (raw sockets, httpx, the real go).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import time
import zipfile
import zlib
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.support.gocmd import (
    GoEnvFactory,
    GoTimedOut,
    cache_download_dir,
    go_environment,
    remove_modcache,
    run_go,
)
from tests.support.modfactory import (
    PAYLOAD_NAME,
    FixtureGraph,
    ModuleSet,
    make_graph,
    make_module,
    package_name_for,
    semver_key,
    write_main_module,
)
from tests.support.upstream import (
    CorruptZip,
    FakeUpstream,
    Fault,
    Reset,
    ResetBody,
    StallBody,
    StallHeaders,
    Status,
    Trickle,
    Truncate,
    UpstreamPool,
    WrongContent,
)
from unstall.goproxy.hashes import hash_zip
from unstall.goproxy.paths import escape

BIG = "fixture.test/Big"
BIG_ZIP = "/fixture.test/!big/@v/v1.0.0.zip"
# "Did not hang" bound for anything that should end within a fraction of a second.
HANG = 10.0


@pytest.fixture
def big_set() -> ModuleSet:
    """One module with an upper-case path and a zip of about 64 KiB."""
    return ModuleSet([make_module(BIG, "v1.0.0", payload_size=64 * 1024)])


def _raw_get(server: FakeUpstream, path: str, extra: str = "") -> tuple[bytes, bytes, Exception]:
    """GET over a fresh socket; return (head, body so far, the exception that ended reading)."""
    with socket.create_connection((server.host, server.port), timeout=HANG) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{extra}\r\n".encode())
        data = b""
        ended: Exception = EOFError("clean end of stream")
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except OSError as exc:
            ended = exc
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body, ended


def _stream(client: httpx.Client, url: str) -> tuple[bytes, Exception | None]:
    """Stream a 200 body; return what arrived and the exception that ended it, if any."""
    received = b""
    try:
        with client.stream("GET", url) as response:
            assert response.status_code == 200
            for chunk in response.iter_raw():
                received += chunk
    except httpx.HTTPError as exc:
        return received, exc
    return received, None


def _content_length(head: bytes) -> int:
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            return int(value)
    raise AssertionError(f"no Content-Length in {head!r}")


# -- the protocol --------------------------------------------------------------


def test_serves_the_module_proxy_protocol(
    upstream_factory: UpstreamPool, fixture_graph: FixtureGraph
) -> None:
    server = upstream_factory(fixture_graph.modules)
    module = next(m for m in fixture_graph.modules.modules() if m.path.endswith("Dep003"))
    base = f"{server.url}/fixture.test/!dep003/@v"
    with httpx.Client(timeout=HANG) as client:
        assert client.get(f"{base}/list").text == "v1.0.0\n"
        assert client.get(f"{base}/v1.0.0.info").json() == {
            "Version": "v1.0.0",
            "Time": "2024-01-02T03:04:05Z",
        }
        assert client.get(f"{base}/v1.0.0.mod").content == module.gomod
        zipped = client.get(f"{base}/v1.0.0.zip")
        assert zipped.content == module.zip_bytes
        assert zipped.headers["content-type"] == "application/zip"
        assert zipped.headers["etag"]
        head = client.head(f"{base}/v1.0.0.zip")
        assert head.content == b""
        assert int(head.headers["content-length"]) == len(module.zip_bytes)
        # dep000 also has an unused v0.9.0: list is in semver order, @latest the highest.
        assert client.get(f"{server.url}/fixture.test/dep000/@v/list").text == "v0.9.0\nv1.0.0\n"
        latest = client.get(f"{server.url}/fixture.test/dep000/@latest").json()
        assert latest["Version"] == "v1.0.0"
        missing = client.get(f"{base}/v9.9.9.zip")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/plain")
        assert client.get(f"{server.url}/fixture.test/nope/@v/list").status_code == 404
        # An unescaped upper-case letter is not a valid protocol path.
        assert client.get(f"{server.url}/fixture.test/Dep003/@v/list").status_code == 400
    # One client, one connection: keep-alive works.
    assert server.connections == 1
    assert server.count("*.zip") == 3
    assert server.count("*.zip", method="HEAD") == 1


def test_sumdb_endpoints_follow_the_sumdb_flag(upstream_factory: UpstreamPool) -> None:
    files = {"lookup/fixture.test/a@v1.0.0": b"record\n", "latest": b"tree\n"}
    proxying = upstream_factory(sumdb=True, sumdb_files=files)
    plain = upstream_factory(sumdb_files=files)
    with httpx.Client(timeout=HANG) as client:
        assert client.get(f"{proxying.url}/sumdb/any.name/supported").status_code == 200
        lookup = client.get(f"{proxying.url}/sumdb/any.name/lookup/fixture.test/a@v1.0.0")
        assert lookup.content == b"record\n"
        assert client.get(f"{proxying.url}/sumdb/any.name/latest").content == b"tree\n"
        assert client.get(f"{proxying.url}/sumdb/any.name/tile/8/0/000").status_code == 404
        assert client.get(f"{plain.url}/sumdb/any.name/supported").status_code == 404
        assert client.get(f"{plain.url}/sumdb/any.name/latest").status_code == 404


def test_range_resumes_with_206_and_the_right_bytes(
    upstream_factory: UpstreamPool, big_set: ModuleSet
) -> None:
    server = upstream_factory(big_set)
    full = big_set.modules()[0].zip_bytes
    with httpx.Client(timeout=HANG) as client:
        etag = client.get(server.url + BIG_ZIP).headers["etag"]
        part = client.get(server.url + BIG_ZIP, headers={"Range": "bytes=1000-", "If-Range": etag})
        assert part.status_code == 206
        assert part.content == full[1000:]
        assert part.headers["content-range"] == f"bytes 1000-{len(full) - 1}/{len(full)}"
        assert part.headers["etag"] == etag
        closed = client.get(server.url + BIG_ZIP, headers={"Range": "bytes=10-19"})
        assert closed.status_code == 206
        assert closed.content == full[10:20]
        stale = client.get(server.url + BIG_ZIP, headers={"Range": "bytes=5-", "If-Range": '"x"'})
        assert stale.status_code == 200
        assert stale.content == full
        beyond = client.get(server.url + BIG_ZIP, headers={"Range": f"bytes={len(full)}-"})
        assert beyond.status_code == 416


def test_async_code_can_use_it(big_set: ModuleSet) -> None:
    async def fetch() -> tuple[int, int]:
        async with FakeUpstream(big_set) as server, httpx.AsyncClient(timeout=HANG) as client:
            answer = await client.get(server.url + BIG_ZIP)
            return answer.status_code, len(answer.content)

    assert asyncio.run(fetch()) == (200, len(big_set.modules()[0].zip_bytes))


# -- faults, one request at a time ---------------------------------------------------


def test_reset_body_sends_part_then_econnreset(
    upstream_factory: UpstreamPool, big_set: ModuleSet
) -> None:
    server = upstream_factory(big_set)
    server.add_fault("*.zip", ResetBody(after_bytes=5000))
    head, body, ended = _raw_get(server, BIG_ZIP)
    assert isinstance(ended, ConnectionResetError)
    assert b" 200 " in head
    assert _content_length(head) == len(big_set.modules()[0].zip_bytes)
    assert body == big_set.modules()[0].zip_bytes[:5000]
    # The fault was used up: the next request succeeds.
    assert _raw_get(server, BIG_ZIP)[1] == big_set.modules()[0].zip_bytes


def test_reset_body_minus_one_means_half(
    upstream_factory: UpstreamPool, big_set: ModuleSet
) -> None:
    server = upstream_factory(big_set)
    server.add_fault("*.zip", ResetBody(after_bytes=-1))
    _head, body, ended = _raw_get(server, BIG_ZIP)
    assert isinstance(ended, ConnectionResetError)
    assert len(body) == len(big_set.modules()[0].zip_bytes) // 2


def test_reset_answers_nothing(upstream_factory: UpstreamPool, big_set: ModuleSet) -> None:
    server = upstream_factory(big_set)
    server.add_fault("*.zip", Reset())
    head, body, ended = _raw_get(server, BIG_ZIP)
    assert (head, body) == (b"", b"")
    assert isinstance(ended, ConnectionResetError)
    with httpx.Client(timeout=HANG) as client:
        server.add_fault("*.zip", Reset())
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            client.get(server.url + BIG_ZIP)
    assert server.requests[0].status is None
    assert server.requests[0].fault == "Reset()"


def test_truncate_closes_cleanly_before_content_length(
    upstream_factory: UpstreamPool, big_set: ModuleSet
) -> None:
    server = upstream_factory(big_set)
    server.add_fault("*.zip", Truncate(after_bytes=3000))
    head, body, ended = _raw_get(server, BIG_ZIP)
    assert isinstance(ended, EOFError)
    assert len(body) == 3000 < _content_length(head)
    server.add_fault("*.zip", Truncate(after_bytes=3000))
    with httpx.Client(timeout=HANG) as client, pytest.raises(httpx.RemoteProtocolError):
        client.get(server.url + BIG_ZIP)


def test_stalls_are_seen_by_a_short_read_timeout(
    upstream_factory: UpstreamPool, big_set: ModuleSet
) -> None:
    server = upstream_factory(big_set)
    server.add_fault("*.zip", StallBody(after_bytes=2000, seconds=60))
    server.add_fault("*.mod", StallHeaders(seconds=60))
    started = time.monotonic()
    with httpx.Client(timeout=httpx.Timeout(HANG, read=0.3)) as client:
        received, ended = _stream(client, server.url + BIG_ZIP)
        assert isinstance(ended, httpx.ReadTimeout)
        assert received == big_set.modules()[0].zip_bytes[:2000]
        with pytest.raises(httpx.ReadTimeout):
            client.get(f"{server.url}/fixture.test/!big/@v/v1.0.0.mod")
    server.stop()  # must not wait for the 60 s stalls
    assert time.monotonic() - started < HANG


def test_stall_body_then_finishes(upstream_factory: UpstreamPool, big_set: ModuleSet) -> None:
    server = upstream_factory(big_set)
    server.add_fault("*.zip", StallBody(after_bytes=100, seconds=0.05))
    assert _raw_get(server, BIG_ZIP)[1] == big_set.modules()[0].zip_bytes


def test_latency_delays_headers(upstream_factory: UpstreamPool, big_set: ModuleSet) -> None:
    server = upstream_factory(big_set, latency=30)
    with (
        httpx.Client(timeout=httpx.Timeout(HANG, read=0.2)) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.get(server.url + BIG_ZIP)


def test_trickle_delivers_everything_in_pieces(
    upstream_factory: UpstreamPool, fixture_modules: ModuleSet
) -> None:
    server = upstream_factory(fixture_modules)
    module = fixture_modules.modules()[0]
    path = f"/{escape(module.path)}/@v/{module.version}.mod"
    server.add_fault("*.mod", Trickle(chunk_bytes=10, interval=0.02))
    with socket.create_connection((server.host, server.port), timeout=HANG) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        reads = []
        while chunk := sock.recv(65536):
            reads.append(chunk)
    assert b"".join(reads).partition(b"\r\n\r\n")[2] == module.gomod
    assert len(reads) >= 2


def test_status_fault_with_retry_after(upstream_factory: UpstreamPool, big_set: ModuleSet) -> None:
    server = upstream_factory(big_set)
    server.add_fault("*.zip", Status(503, retry_after=2, body="busy"), times=2)
    server.add_fault("*.zip", Status(429))
    with httpx.Client(timeout=HANG) as client:
        answers = [client.get(server.url + BIG_ZIP) for _ in range(4)]
    assert [a.status_code for a in answers] == [503, 503, 429, 200]
    assert answers[0].headers["retry-after"] == "2"
    assert answers[0].text == "busy"
    assert "retry-after" not in answers[2].headers
    assert [r.status for r in server.requests] == [503, 503, 429, 200]


def test_fault_match_is_a_glob_and_none_means_forever(
    upstream_factory: UpstreamPool, fixture_modules: ModuleSet
) -> None:
    server = upstream_factory(fixture_modules)
    server.add_fault("*/dep001/@v/v1.0.0.zip", Status(500), times=None)
    with httpx.Client(timeout=HANG) as client:
        for _ in range(3):
            assert client.get(f"{server.url}/fixture.test/dep001/@v/v1.0.0.zip").status_code == 500
        assert client.get(f"{server.url}/fixture.test/dep000/@v/v1.0.0.zip").status_code == 200
        assert client.get(f"{server.url}/fixture.test/dep001/@v/v1.0.0.mod").status_code == 200
        server.clear_faults()
        assert client.get(f"{server.url}/fixture.test/dep001/@v/v1.0.0.zip").status_code == 200


def test_corrupt_zip_breaks_crc_or_h1(upstream_factory: UpstreamPool, big_set: ModuleSet) -> None:
    server = upstream_factory(big_set)
    module = big_set.modules()[0]
    server.add_fault("*.zip", CorruptZip())
    with httpx.Client(timeout=HANG) as client:
        served = client.get(server.url + BIG_ZIP).content
    assert len(served) == len(module.zip_bytes)
    assert served != module.zip_bytes
    try:
        with zipfile.ZipFile(io.BytesIO(served)) as archive:
            got = hash_zip(archive)
    except (zipfile.BadZipFile, zlib.error):  # a bad CRC or undecodable deflate data
        return
    assert got != module.h1_zip


def test_wrong_content_is_served_with_200(
    upstream_factory: UpstreamPool, big_set: ModuleSet
) -> None:
    server = upstream_factory(big_set)
    server.add_fault("*.zip", WrongContent(b"not a zip"))
    with httpx.Client(timeout=HANG) as client:
        answer = client.get(server.url + BIG_ZIP)
    assert (answer.status_code, answer.content) == (200, b"not a zip")


# -- server-wide modes ---------------------------------------------------------------


def test_blackhole_accepts_and_never_answers(upstream_factory: UpstreamPool) -> None:
    server = upstream_factory(mode="blackhole", host="127.0.0.5")
    assert server.url.startswith("http://127.0.0.5:")
    with socket.create_connection((server.host, server.port), timeout=HANG) as sock:
        sock.sendall(b"GET /x/@v/list HTTP/1.1\r\nHost: t\r\n\r\n")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(1)
        assert server.connections == 1
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < HANG
        sock.settimeout(HANG)
        # Stopping closes held sockets: the client sees the end of the stream.
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(1) == b""


def test_refuse_mode_is_refused(upstream_factory: UpstreamPool) -> None:
    server = upstream_factory(mode="refuse")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((server.host, server.port), timeout=HANG)


def test_no_accept_mode_makes_connect_time_out(upstream_factory: UpstreamPool) -> None:
    server = upstream_factory(mode="no-accept")
    with pytest.raises(TimeoutError):
        socket.create_connection((server.host, server.port), timeout=0.5)


def test_random_faults_hit_about_their_share(
    upstream_factory: UpstreamPool, big_set: ModuleSet
) -> None:
    faults: list[tuple[float, Fault]] = [(0.2, ResetBody(after_bytes=-1)), (0.1, Status(503))]
    server = upstream_factory(big_set, random_faults=faults, random_match="*.zip", seed=3)
    seen: Counter[str] = Counter()
    with httpx.Client(timeout=HANG) as client:
        for _ in range(200):
            try:
                seen[str(client.get(server.url + BIG_ZIP).status_code)] += 1
            except (httpx.ReadError, httpx.RemoteProtocolError):
                seen["reset"] += 1
        # Paths outside random_match are never hit.
        assert client.get(f"{server.url}/fixture.test/!big/@v/list").status_code == 200
    assert 20 <= seen["reset"] <= 65
    assert 6 <= seen["503"] <= 40
    assert seen["200"] + seen["reset"] + seen["503"] == 200
    logged = Counter(r.fault for r in server.requests)
    assert logged["ResetBody(after_bytes=-1)"] == seen["reset"]
    # The same seed replays the same faults.
    again = upstream_factory(big_set, random_faults=faults, random_match="*.zip", seed=3)
    with httpx.Client(timeout=HANG) as client:
        for _ in range(30):
            with contextlib.suppress(httpx.ReadError, httpx.RemoteProtocolError):
                client.get(again.url + BIG_ZIP)
    assert [r.fault for r in again.requests] == [r.fault for r in server.requests[:30]]


# -- the module factory --------------------------------------------------------------


def test_fixture_zip_layout_and_hashes() -> None:
    module = make_module(
        "fixture.test/a/My-Lib",
        "v1.2.3-rc.1",
        requires=[("fixture.test/b", "v1.0.0")],
        payload_size=10_000,
        extra_files={"sub/dir/data.txt": b"x", "empty": b""},
        import_requires=False,
    )
    with zipfile.ZipFile(io.BytesIO(module.zip_bytes)) as archive:
        names = sorted(archive.namelist())
        assert hash_zip(archive) == module.h1_zip
    prefix = "fixture.test/a/My-Lib@v1.2.3-rc.1/"
    assert names == sorted(
        prefix + n for n in ["go.mod", "my_lib.go", "sub/dir/data.txt", "empty", PAYLOAD_NAME]
    )
    # Incompressible filler: the zip is about as big as the payload.
    assert 10_000 <= len(module.zip_bytes) < 12_000
    assert b"require (\n\tfixture.test/b v1.0.0\n)" in module.gomod
    assert module.gosum_lines() == [
        f"fixture.test/a/My-Lib v1.2.3-rc.1 {module.h1_zip}",
        f"fixture.test/a/My-Lib v1.2.3-rc.1/go.mod {module.h1_mod}",
    ]
    same = make_module(
        "fixture.test/a/My-Lib",
        "v1.2.3-rc.1",
        requires=[("fixture.test/b", "v1.0.0")],
        payload_size=10_000,
        extra_files={"sub/dir/data.txt": b"x", "empty": b""},
        import_requires=False,
    )
    assert same == module  # deterministic, hashes included


def test_package_names_and_versions() -> None:
    assert package_name_for("fixture.test/go-lib") == "go_lib"
    assert package_name_for("fixture.test/lib/v2") == "lib"
    assert package_name_for("fixture.test/1x") == "p1x"
    assert package_name_for("fixture.test/type") == "type_"
    assert package_name_for("fixture.test/main") == "main_"
    ordered = ["v0.9.0", "v1.0.0-alpha", "v1.0.0-alpha.2", "v1.0.0-alpha.10", "v1.0.0", "v1.10.0"]
    assert sorted(reversed(ordered), key=semver_key) == ordered
    with pytest.raises(ValueError, match="/v2"):
        make_module("fixture.test/lib", "v2.0.0")
    assert make_module("fixture.test/lib/v2", "v2.0.0").package_name == "lib"


def test_file_proxy_layout(tmp_path: Path, fixture_modules: ModuleSet) -> None:
    fixture_modules.write_file_proxy(tmp_path)
    base = tmp_path / "fixture.test" / "!dep003" / "@v"
    assert (base / "list").read_text() == "v1.0.0\n"
    module = fixture_modules.get("fixture.test/Dep003", "v1.0.0")
    assert module is not None
    assert (base / "v1.0.0.zip").read_bytes() == module.zip_bytes
    assert (base / "v1.0.0.mod").read_bytes() == module.gomod
    assert (base / "v1.0.0.info").read_bytes() == module.info


def test_graph_is_connected_and_acyclic() -> None:
    modules, direct = make_graph(12, seed=5)
    closure = modules.closure(direct)
    assert {m.path for m in closure} == set(modules.paths())
    index = {m.path: int(m.path[-3:]) for m in closure}
    assert all(index[dep] > index[m.path] for m in closure for dep, _ in m.requires)


# -- the real go against the fake upstream ----------------------------------------


def test_go_downloads_and_builds_from_the_fake_upstream(
    upstream_factory: UpstreamPool,
    fixture_graph: FixtureGraph,
    go_env: GoEnvFactory,
    tmp_path: Path,
) -> None:
    server = upstream_factory(fixture_graph.modules)
    main = tmp_path / "main"
    write_main_module(
        main, "example.test/main", fixture_graph.direct, all_modules=fixture_graph.closure
    )
    before = {name: (main / name).read_text() for name in ("go.mod", "go.sum")}
    env = go_env(server.url, {"GOSUMDB": "off"})

    downloaded = run_go(["mod", "download"], cwd=main, env=env, timeout=60)
    assert downloaded.returncode == 0, downloaded.stderr
    built = run_go(["build", "-o", str(tmp_path / "app"), "."], cwd=main, env=env, timeout=120)
    assert built.returncode == 0, built.stderr

    # go.mod and go.sum were complete: -mod=mod had nothing to add.
    assert {name: (main / name).read_text() for name in before} == before
    cache = cache_download_dir(env)
    for module in fixture_graph.closure:
        assert (cache / escape(module.path) / "@v" / f"{module.version}.zip").read_bytes() == (
            module.zip_bytes
        )
    assert all(r.status == 200 for r in server.requests)


def test_go_stops_on_a_corrupt_zip(
    upstream_factory: UpstreamPool,
    fixture_graph: FixtureGraph,
    go_env: GoEnvFactory,
    tmp_path: Path,
) -> None:
    server = upstream_factory(fixture_graph.modules)
    server.add_fault("*.zip", CorruptZip(), times=None)
    write_main_module(
        tmp_path / "m", "example.test/m", fixture_graph.direct, all_modules=fixture_graph.closure
    )
    env = go_env(server.url, {"GOSUMDB": "off"})
    result = run_go(["mod", "download"], cwd=tmp_path / "m", env=env, timeout=60)
    assert result.returncode != 0
    # go reports the bad CRC, the undecodable data or the hash mismatch, per module.
    assert any(word in result.stderr for word in ("zip", "flate", "SECURITY ERROR"))


def test_run_go_kills_a_hanging_go(
    upstream_factory: UpstreamPool, go_cmd: str, tmp_path: Path
) -> None:
    server = upstream_factory(mode="blackhole")
    env = go_environment(tmp_path, goproxy=server.url, extra={"GOSUMDB": "off"})
    started = time.monotonic()
    with pytest.raises(GoTimedOut) as caught:
        run_go(
            ["mod", "download", "-json", "fixture.test/x@v1.0.0"],
            cwd=tmp_path,
            env=env,
            timeout=1.5,
        )
    assert time.monotonic() - started < HANG
    assert caught.value.timeout == 1.5
    remove_modcache(Path(env["GOMODCACHE"]))
    assert not Path(env["GOMODCACHE"]).exists()


def test_go_environment_is_isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.9:1")
    monkeypatch.setenv("all_proxy", "http://127.0.0.9:1")
    monkeypatch.setenv("GOPRIVATE", "example.test")
    monkeypatch.setenv("GOSUMDB", "off")
    env = go_environment(tmp_path, goproxy="http://127.0.0.1:1", extra={"GOFLAGS": "-mod=readonly"})
    for name in ("HTTPS_PROXY", "all_proxy", "GOPRIVATE", "GONOPROXY", "GOSUMDB"):
        assert name not in env
    assert env["GOENV"] == "off"
    assert env["GOTOOLCHAIN"] == "local"
    assert env["GONOSUMDB"] == "fixture.test"
    assert env["GOPROXY"] == "http://127.0.0.1:1"
    assert env["GOFLAGS"] == "-mod=readonly"
    for name in ("GOMODCACHE", "GOPATH", "GOCACHE", "HOME"):
        assert Path(env[name]).is_relative_to(tmp_path)
