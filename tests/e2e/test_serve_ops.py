"""Operating `unstall serve`: access control, TLS, health, metrics, shutdown, quota,
and hostile requests or upstreams. Real server process, real clients."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import ssl
import threading
import time
from pathlib import Path
from typing import NamedTuple

import bcrypt
import httpx
import trustme

from tests.support.cli import run_unstall
from tests.support.faults import CorruptZip, Trickle, WrongContent
from tests.support.gocmd import GoEnvFactory, run_go
from tests.support.modfactory import FixtureGraph, FixtureModule, make_module
from tests.support.server import ServeProcess, get_together
from tests.support.upstream import FakeUpstream, UpstreamPool
from unstall.goproxy.paths import escape

GO_TIMEOUT = 180.0


def _zip_path(module: FixtureModule) -> str:
    return f"{escape(module.path)}/@v/{module.version}.zip"


def _stored(cache: Path) -> list[Path]:
    """Every file in the served layout (temporary downloads excluded)."""
    return sorted(
        p for p in cache.rglob("*") if p.is_file() and ".incoming" not in p.relative_to(cache).parts
    )


class TlsFiles(NamedTuple):
    ca: trustme.CA
    certfile: Path
    keyfile: Path
    cafile: Path

    @property
    def trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cafile))


def _tls_files(tmp: Path) -> TlsFiles:
    """A CA, and a certificate for 127.0.0.1 with its key, as PEM files."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    files = TlsFiles(ca, tmp / "srv.crt", tmp / "srv.key", tmp / "ca.pem")
    cert.cert_chain_pems[0].write_to_path(str(files.certfile))
    cert.private_key_pem.write_to_path(str(files.keyfile))
    ca.cert_pem.write_to_path(str(files.cafile))
    return files


def test_a_token_protects_everything_but_health(
    tmp_path: Path,
    go_env: GoEnvFactory,
    upstream_factory: UpstreamPool,
    fixture_graph: FixtureGraph,
) -> None:
    upstream = upstream_factory(fixture_graph.modules)
    module = fixture_graph.closure[0]
    token = "s3cret-team-token"
    tls = _tls_files(tmp_path)
    args = [
        "--upstream",
        upstream.url,
        "--certfile",
        str(tls.certfile),
        "--keyfile",
        str(tls.keyfile),
    ]
    with ServeProcess(tmp_path / "srv", args, env={"UNSTALL_TOKEN": token}) as server:
        client = httpx.Client(verify=tls.trust, timeout=30)
        assert client.get(f"{server.url}/healthz").status_code == 200
        assert client.get(f"{server.url}/readyz").status_code == 200
        refused = client.get(f"{server.url}/{_zip_path(module)}")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Basic")
        assert client.get(f"{server.url}/metrics").status_code == 401
        bearer = {"Authorization": f"Bearer {token}"}
        ok = client.get(f"{server.url}/{_zip_path(module)}", headers=bearer)
        assert ok.content == module.zip_bytes
        wrong = client.get(
            f"{server.url}/{_zip_path(module)}", headers={"Authorization": "Bearer nope"}
        )
        assert wrong.status_code == 401

        # go sends the token as the Basic password from the GOPROXY URL; it refuses
        # to send credentials over plain http, hence TLS.
        main = fixture_graph.write_main(tmp_path / "main")
        with_token = server.url.replace("https://", f"https://ci:{token}@")
        trusted = {"GOSUMDB": "off", "SSL_CERT_FILE": str(tls.cafile)}
        done = run_go(
            ["mod", "download"], cwd=main, env=go_env(with_token, trusted), timeout=GO_TIMEOUT
        )
        assert done.returncode == 0, done.stderr
        without = run_go(
            ["mod", "download"], cwd=main, env=go_env(server.url, trusted), timeout=GO_TIMEOUT
        )
        assert without.returncode != 0
        assert "401" in without.stderr
    users = {r["user"] for r in server.access_records() if r["status"] == 200}
    assert "token" in users


def test_an_htpasswd_users_file_admits_its_users_only(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = make_module("fixture.test/guarded", "v1.0.0")
    upstream = upstream_factory()
    upstream.modules.add(module)
    users = tmp_path / "users.htpasswd"
    hashed = bcrypt.hashpw(b"correct horse", bcrypt.gensalt(rounds=4)).decode()
    users.write_text(f"# team\nalice:{hashed.replace('$2b$', '$2y$', 1)}\n")
    args = ["--upstream", upstream.url, "--users", str(users)]
    with ServeProcess(tmp_path / "srv", args) as server:
        url = f"{server.url}/{_zip_path(module)}"
        assert httpx.get(url, auth=("alice", "correct horse"), timeout=30).status_code == 200
        assert httpx.get(url, auth=("alice", "wrong"), timeout=30).status_code == 401
        assert httpx.get(url, auth=("mallory", "correct horse"), timeout=30).status_code == 401
    assert any(r["user"] == "alice" for r in server.access_records())


def test_exposing_the_proxy_without_credentials_is_refused(tmp_path: Path) -> None:
    refused = run_unstall(
        ["serve", "--host", "0.0.0.0", "--port", "0", "--offline", "--cache", str(tmp_path / "c")],
        cwd=tmp_path,
        env={**os.environ, "UNSTALL_HOME": str(tmp_path / "home")},
        timeout=60,
    )
    assert refused.returncode == 2
    assert "without authentication" in refused.stderr
    assert "UNSTALL_TOKEN" in refused.stderr

    bad_users = tmp_path / "users"
    bad_users.write_text("bob:{SHA}fEqNCco3Yq9h5ZUglD3CZJT4lBs=\n")
    rejected = run_unstall(
        ["serve", "--port", "0", "--offline", "--users", str(bad_users)],
        cwd=tmp_path,
        env={**os.environ, "UNSTALL_HOME": str(tmp_path / "home")},
        timeout=60,
    )
    assert rejected.returncode != 0
    assert f"{bad_users}:1" in rejected.stderr
    assert "bcrypt" in rejected.stderr


def test_tls_with_a_certificate_and_key_serves_go(
    tmp_path: Path,
    go_env: GoEnvFactory,
    upstream_factory: UpstreamPool,
    fixture_graph: FixtureGraph,
) -> None:
    tls = _tls_files(tmp_path)
    certfile, keyfile, cafile = tls.certfile, tls.keyfile, tls.cafile
    upstream = upstream_factory(fixture_graph.modules)
    args = ["--upstream", upstream.url, "--certfile", str(certfile), "--keyfile", str(keyfile)]
    with ServeProcess(tmp_path / "srv", args) as server:
        assert server.url.startswith("https://")
        assert httpx.get(f"{server.url}/healthz", verify=tls.trust, timeout=30).status_code == 200
        main = fixture_graph.write_main(tmp_path / "main")
        env = go_env(server.url, {"GOSUMDB": "off", "SSL_CERT_FILE": str(cafile)})
        done = run_go(["mod", "download"], cwd=main, env=env, timeout=GO_TIMEOUT)
        assert done.returncode == 0, done.stderr

    wrong_key = tmp_path / "other.key"
    tls.ca.issue_cert("127.0.0.1").private_key_pem.write_to_path(str(wrong_key))
    mismatched = run_unstall(
        [
            "serve",
            "--port",
            "0",
            "--offline",
            "--certfile",
            str(certfile),
            "--keyfile",
            str(wrong_key),
        ],
        cwd=tmp_path,
        env={**os.environ, "UNSTALL_HOME": str(tmp_path / "home")},
        timeout=60,
    )
    assert mismatched.returncode != 0
    assert "cannot use the TLS certificate" in mismatched.stderr


def test_metrics_and_the_access_log_describe_the_traffic(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = make_module("fixture.test/counted", "v1.0.0")
    upstream = upstream_factory()
    upstream.modules.add(module)
    with ServeProcess(tmp_path / "srv", ["--upstream", upstream.url]) as server:
        url = f"{server.url}/{_zip_path(module)}"
        assert httpx.get(url, timeout=30).headers["x-unstall-cache"] == "miss"
        # the second answer comes from the store, the third from memory
        for _ in range(2):
            again = httpx.get(url, timeout=30)
            assert again.headers["x-unstall-cache"] == "hit"
            assert again.content == module.zip_bytes
        assert httpx.get(f"{server.url}/fixture.test/counted/@v/v9.9.9.info").status_code == 404
        text = httpx.get(f"{server.url}/metrics", timeout=30).text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert samples['unstall_http_requests_total{endpoint="zip",status="200"}'] == 3
    assert samples['unstall_http_requests_total{endpoint="info",status="404"}'] == 1
    assert samples['unstall_cache_lookups_total{kind="zip",result="hit"}'] == 2
    assert samples['unstall_cache_lookups_total{kind="zip",result="miss"}'] == 1
    assert samples['unstall_http_response_bytes_total{endpoint="zip"}'] == 3 * len(module.zip_bytes)
    ok_attempts = (
        f'unstall_upstream_attempts_total{{cause="ok",outcome="ok",upstream="{upstream.url}"}}'
    )
    assert samples[ok_attempts] == 1
    phase = f'unstall_upstream_phase_seconds_count{{phase="first_byte",upstream="{upstream.url}"}}'
    assert samples[phase] >= 1
    breaker = f'unstall_upstream_breaker{{state="closed",upstream="{upstream.url}"}}'
    assert samples[breaker] == 1
    records = server.access_records()
    zips = [r for r in records if r["endpoint"] == "zip"]
    assert [(r["status"], r["cache"], r["bytes"]) for r in zips] == [
        (200, "miss", len(module.zip_bytes)),
        (200, "hit", len(module.zip_bytes)),
        (200, "hit", len(module.zip_bytes)),
    ]
    assert zips[0]["upstream"] == upstream.url
    assert all(r["remote"] == "127.0.0.1" and r["duration_ms"] >= 0 for r in records)


def test_readyz_follows_the_upstreams_probed_at_start_and_while_serving(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = make_module("fixture.test/back", "v1.0.0")
    first = upstream_factory()
    port, url = first.port, first.url
    first.stop()  # nothing listens there now: connections are refused
    fast_probes = {"UNSTALL_PROBE__INTERVAL": "0.3"}
    with ServeProcess(tmp_path / "srv", ["--upstream", url], env=fast_probes) as server:
        assert "assumed offline until it answers" in server.stderr
        assert "tcp-refused" in server.stderr
        down = httpx.get(f"{server.url}/readyz", timeout=30)
        assert down.status_code == 503
        assert "assumed offline" in down.text
        assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200
        failed = httpx.get(f"{server.url}/{_zip_path(module)}", timeout=60)
        assert failed.status_code == 502

        back = upstream_factory(port=port)  # the same address answers again
        back.modules.add(module)
        deadline = time.monotonic() + 30
        while httpx.get(f"{server.url}/readyz", timeout=30).status_code != 200:
            assert time.monotonic() < deadline, "the periodic probe never saw it back"
            time.sleep(0.1)
        served = httpx.get(f"{server.url}/{_zip_path(module)}", timeout=60)
        assert served.content == module.zip_bytes
    assert back.count("/") >= 1  # the probes that brought it back


def test_a_blackholed_first_upstream_is_skipped_from_the_first_request(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = make_module("fixture.test/first", "v1.0.0")
    silent = upstream_factory(mode="blackhole")
    healthy = upstream_factory()
    healthy.modules.add(module)
    args = ["--upstream", silent.url, "--upstream", healthy.url]
    with ServeProcess(tmp_path / "srv", args, env={"UNSTALL_PROBE__TIMEOUT": "0.5"}) as server:
        assert f"upstream {silent.url}: no answer" in server.stderr
        assert f"upstream {healthy.url}: answered 5/5 probes" in server.stderr
        answer = httpx.get(f"{server.url}/{_zip_path(module)}", timeout=60)
        assert answer.content == module.zip_bytes
        assert answer.headers["x-unstall-upstream"] == healthy.url
        text = httpx.get(f"{server.url}/metrics", timeout=30).text
    # The request went straight to the healthy upstream: no hedge was needed.
    assert not [line for line in text.splitlines() if line.startswith("unstall_upstream_hedges")]
    assert f'unstall_upstream_breaker{{state="open",upstream="{silent.url}"}} 1.0' in text


def _zip_in_flight(
    server: ServeProcess, upstream: FakeUpstream, module: FixtureModule
) -> tuple[threading.Thread, list[httpx.Response]]:
    """Ask the server for ``module``'s zip from a thread; return once the upstream is
    sending it (the thread appends the answer to the list when there is one)."""
    answers: list[httpx.Response] = []

    def ask() -> None:
        with contextlib.suppress(httpx.HTTPError):
            answers.append(httpx.get(f"{server.url}/{_zip_path(module)}", timeout=120))

    client = threading.Thread(target=ask, daemon=True)
    client.start()
    deadline = time.monotonic() + 30
    while upstream.count("*.zip") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    return client, answers


def _trickling(
    upstream_factory: UpstreamPool, *, chunk_bytes: int, interval: float
) -> tuple[FakeUpstream, FixtureModule]:
    """An upstream sending a 64 KiB module's zip ``chunk_bytes`` per ``interval``."""
    module = make_module("fixture.test/slow", "v1.0.0", payload_size=64 * 1024)
    upstream = upstream_factory()
    upstream.modules.add(module)
    upstream.add_fault("*.zip", Trickle(chunk_bytes=chunk_bytes, interval=interval), times=None)
    return upstream, module


def test_sigterm_finishes_answers_in_flight_and_leaves_no_partial_files(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    # about 2 s for the whole zip: the SIGTERM lands in the middle of it
    upstream, module = _trickling(upstream_factory, chunk_bytes=4096, interval=0.1)
    with ServeProcess(tmp_path / "srv", ["--upstream", upstream.url, "--grace", "60"]) as server:
        client, answers = _zip_in_flight(server, upstream, module)
        assert server.stop(signal.SIGTERM) == 0
        client.join(timeout=120)
    assert [a.status_code for a in answers] == [200]
    assert answers[0].content == module.zip_bytes
    assert "stopped" in server.stderr
    incoming = list((server.cache / ".incoming").iterdir())
    assert [p for p in incoming if p.suffix == ".part"] == []


def test_second_signal_stops_at_once_without_partial_artifacts(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    # about 13 s for the whole zip: far from done when the second signal comes
    upstream, module = _trickling(upstream_factory, chunk_bytes=1024, interval=0.2)
    with ServeProcess(tmp_path / "srv", ["--upstream", upstream.url, "--grace", "60"]) as server:
        _zip_in_flight(server, upstream, module)
        server.send(signal.SIGTERM)
        time.sleep(0.5)
        started = time.monotonic()
        assert server.stop(signal.SIGINT) == 0
        assert time.monotonic() - started < 30  # did not wait out the 60 s grace
    assert not [p for p in _stored(server.cache) if p.suffix == ".zip"]
    assert not [p for p in (server.cache / ".incoming").iterdir() if p.suffix == ".part"]


def test_least_recently_used_zips_are_evicted_over_the_quota(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    modules = [
        make_module(f"fixture.test/big{i}", "v1.0.0", payload_size=200 * 1024) for i in range(4)
    ]
    upstream = upstream_factory()
    for module in modules:
        upstream.modules.add(module)
    cache = tmp_path / "store"
    with ServeProcess(tmp_path / "srv", ["--upstream", upstream.url], cache=cache) as server:
        for module in modules[:3]:
            assert httpx.get(f"{server.url}/{_zip_path(module)}", timeout=30).status_code == 200
    # Age the three stored zips: big1 used longest ago, then big0, then big2.
    now = time.time()
    for module, age in ((modules[1], 3000), (modules[0], 2000), (modules[2], 1000)):
        stored = cache / _zip_path(module)
        os.utime(stored, (now - age, stored.stat().st_mtime))
    sizes = sorted(len(m.zip_bytes) for m in modules)
    quota = str(sum(sizes[1:]))  # room for any three of the zips, not four
    args = ["--upstream", upstream.url, "--max-cache-size", quota]
    with ServeProcess(tmp_path / "srv2", args, cache=cache) as server:
        assert httpx.get(f"{server.url}/{_zip_path(modules[3])}", timeout=30).status_code == 200
        assert not (cache / _zip_path(modules[1])).exists()
        assert not (cache / _zip_path(modules[1])).with_suffix(".ziphash").exists()
        for kept in (modules[0], modules[2], modules[3]):
            assert (cache / _zip_path(kept)).exists()
        # The evicted version is still known (.mod/.info stay) and comes back on demand.
        before = upstream.count(f"*/{escape(modules[1].path)}/*.zip")
        again = httpx.get(f"{server.url}/{_zip_path(modules[1])}", timeout=30)
        assert again.content == modules[1].zip_bytes
        assert upstream.count(f"*/{escape(modules[1].path)}/*.zip") == before + 1
        text = httpx.get(f"{server.url}/metrics", timeout=30).text
    # Bringing big1 back went over the quota again: big0 was then the oldest.
    assert "unstall_cache_evictions_total 2.0" in text
    assert not (cache / _zip_path(modules[0])).exists()


def test_hostile_paths_get_4xx_and_touch_nothing(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    upstream = upstream_factory()
    with ServeProcess(tmp_path / "srv", ["--upstream", upstream.url]) as server:
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        for path in (
            "/../../etc/passwd",
            "/example.com/../../../etc/passwd/@v/list",
            "/example.com/%2e%2e/%2e%2e/@v/list",
            "/example.com/m/@v/..%2f..%2fsecret.zip",
            "/Example.com/m/@v/v1.0.0.info",
            "/example.com/m/@v/not-a-version.mod",
            "/example.com/m/@v/v1.0.0.exe",
            "/example.com/m/@v/v1.0.0%00.zip",
            "/%ff%fe/@v/list",
        ):
            connection = http.client.HTTPConnection(host, int(port), timeout=30)
            connection.request("GET", path)
            answer = connection.getresponse()
            body = answer.read().decode("utf-8", "replace")
            connection.close()
            assert 400 <= answer.status < 500, (path, answer.status, body)
            assert body.strip(), path
    assert [r.path for r in upstream.requests if r.path != "/"] == []  # "/": health probes
    assert _stored(server.cache) == []


def test_corrupt_or_oversized_upstream_answers_are_502_and_not_stored(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = make_module("fixture.test/bad", "v1.0.0")
    upstream = upstream_factory()
    upstream.modules.add(module)
    upstream.add_fault("*.zip", CorruptZip(), times=None)
    upstream.add_fault("*.mod", WrongContent(b"module x\n" + b"/" * (17 << 20)), times=None)
    with ServeProcess(tmp_path / "srv", ["--upstream", upstream.url]) as server:
        bad_zip = httpx.get(f"{server.url}/{_zip_path(module)}", timeout=60)
        assert bad_zip.status_code == 502
        assert "unstall: cause" in bad_zip.text
        huge_mod = httpx.get(f"{server.url}/{escape(module.path)}/@v/v1.0.0.mod", timeout=60)
        assert huge_mod.status_code == 502
        assert "integrity-size" in huge_mod.text
    assert [p for p in _stored(server.cache) if p.suffix in (".zip", ".mod")] == []


def test_probes_can_be_turned_off(tmp_path: Path, upstream_factory: UpstreamPool) -> None:
    module = make_module("fixture.test/quiet", "v1.0.0")
    upstream = upstream_factory()
    upstream.modules.add(module)
    quiet = {"UNSTALL_PROBE__SAMPLES": "0", "UNSTALL_PROBE__INTERVAL": "0.1"}
    with ServeProcess(tmp_path / "srv", ["--upstream", upstream.url], env=quiet) as server:
        assert f"upstream {upstream.url}:" not in server.stderr  # no probe report
        assert httpx.get(f"{server.url}/{_zip_path(module)}", timeout=30).status_code == 200
        time.sleep(0.5)  # several probe intervals
    assert upstream.count("/") == 0


def _worker_pids(parent: int) -> list[int]:
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [int(pid) for pid in children]


def test_workers_share_the_port_the_store_and_the_metrics(
    tmp_path: Path, upstream_factory: UpstreamPool
) -> None:
    module = make_module("fixture.test/many", "v1.0.0", payload_size=64 * 1024)
    upstream = upstream_factory(latency=0.3)
    upstream.modules.add(module)
    info = f"{escape(module.path)}/@v/{module.version}.info"

    args = ["--upstream", upstream.url, "--workers", "2"]
    with ServeProcess(tmp_path / "srv", args) as server:
        workers = _worker_pids(server.pid)
        assert len(workers) == 2
        zips = get_together([f"{server.url}/{_zip_path(module)}"] * 60)
        assert all(z.content == module.zip_bytes for z in zips)
        infos = get_together([f"{server.url}/{info}"] * 40)
        assert all(i.status_code == 200 for i in infos)
        text = httpx.get(f"{server.url}/metrics", timeout=30).text

        time.sleep(0.7)  # past the access log's half-second flush: a kill loses no line
        os.kill(workers[1], signal.SIGKILL)  # a crashed worker is started again
        deadline = time.monotonic() + 30
        while len(set(_worker_pids(server.pid)) - {workers[1]}) < 2:
            assert time.monotonic() < deadline, server.stderr
            time.sleep(0.1)
        assert httpx.get(f"{server.url}/{info}", timeout=30).status_code == 200
        assert server.stop() == 0
    assert "starting it again" in server.stderr
    assert upstream.count("*.zip") == 1  # one download for both workers
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    # the scrape sums both workers' counts, whichever of them answered it
    assert samples['unstall_http_requests_total{endpoint="zip",status="200"}'] == 60
    assert samples['unstall_http_requests_total{endpoint="info",status="200"}'] == 40
    assert len([r for r in server.access_records() if r["endpoint"] == "info"]) == 41
