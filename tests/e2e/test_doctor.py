"""`unstall doctor` as a user runs it: sources from the toolchains, verdicts, --json, exits.

Every source is a loopback server the test starts; the environment is isolated like go's
in the other end-to-end tests, and the pip index and npm registry come from variables, so
no tool and no probe reaches anything beyond 127.0.0.0/8.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_unstall
from tests.support.dnsserver import DnsServer
from tests.support.faults import Status
from tests.support.gocmd import go_environment
from tests.support.netfaults import BODY_PATH, HttpProxy, ProxyAnswer, probe_upstream
from unstall.doctor.model import PHASE_KEYS

TIMEOUT = "1"
# A did-not-hang bound: every probe has one-second phases and runs alongside the others.
RUN_BOUND = 60.0


def doctor(tmp_path: Path, args: list[str], **env: str) -> tuple[int, str, str]:
    environment = go_environment(tmp_path, goproxy=env.pop("GOPROXY", "off"), extra=env)
    done = run_unstall(["doctor", *args], cwd=tmp_path, env=environment, timeout=RUN_BOUND)
    return done.returncode, done.stdout, done.stderr


def parsed(stdout: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(stdout)
    return document


def test_default_sources_are_the_machines_own_and_json_has_the_documented_shape(
    tmp_path: Path,
) -> None:
    with (
        probe_upstream() as goproxy,  # a module proxy that does not proxy the checksum db
        probe_upstream(Status(503)) as pip_index,
        probe_upstream() as npm_registry,
    ):
        code, stdout, stderr = doctor(
            tmp_path,
            ["--json", "--timeout", TIMEOUT],
            GOPROXY=f"{goproxy.url},direct",
            GOSUMDB="sum.example.test",
            PIP_INDEX_URL=pip_index.url + "/simple/",
            NPM_CONFIG_REGISTRY=npm_registry.url + BODY_PATH,  # answers 200
        )
    assert code == 1, stderr
    document = parsed(stdout)
    assert set(document) == {"checks", "sources"}
    found = {(s["url"], s["verdict"], s["layer"], s["cause"]) for s in document["sources"]}
    assert found == {
        (goproxy.url, "ok", "none", "ok"),
        (f"{goproxy.url}/sumdb/sum.example.test/supported", "fail", "http", "sumdb-unsupported"),
        (pip_index.url + "/simple/", "fail", "http", "http-server-error"),
        (npm_registry.url + BODY_PATH, "ok", "none", "ok"),
    }
    for source in document["sources"]:
        assert set(source) == {"url", "verdict", "layer", "cause", "message", "fix", "phases"}
        assert set(source["phases"]) == set(PHASE_KEYS)
        assert source["fix"]
    healthy = next(s for s in document["sources"] if s["url"] == goproxy.url)
    assert healthy["phases"]["connect_ms"] is not None
    assert healthy["phases"]["dns_ms"] is None  # an IP literal needs no lookup
    for check in document["checks"]:
        assert set(check) == {"id", "status", "message", "fix"}
        assert check["status"] in {"ok", "info", "warn", "fail"}
    checks = {c["id"]: c for c in document["checks"]}
    assert checks["tool-go"]["status"] == "info"
    assert "go version" in checks["tool-go"]["message"]


def test_every_source_ok_exits_zero_and_the_tables_say_so(tmp_path: Path) -> None:
    with probe_upstream() as healthy:
        code, stdout, stderr = doctor(
            tmp_path, ["--source", healthy.url + BODY_PATH, "--samples", "2", "--timeout", TIMEOUT]
        )
    assert code == 0, stderr
    assert f"OK  {healthy.url}{BODY_PATH}" in stdout
    assert "1 source(s): 1 ok, 0 slow, 0 failing" in stdout
    assert "Environment" in stdout


def test_a_failing_source_is_explained_with_layer_cause_and_fix(tmp_path: Path) -> None:
    with probe_upstream(mode="refuse") as closed:
        code, stdout, _ = doctor(tmp_path, ["--source", closed.url + "/", "--timeout", TIMEOUT])
    assert code == 1
    assert f"FAIL  {closed.url}/" in stdout
    assert "tcp-refused (tcp layer)" in stdout
    assert "Check the port" in stdout


def test_dns_server_flag_picks_the_resolver(tmp_path: Path) -> None:
    with DnsServer() as resolver:  # knows no name: NXDOMAIN for all
        code, stdout, _ = doctor(
            tmp_path,
            [
                "--json",
                "--dns-server",
                f"127.0.0.1:{resolver.port}",
                "--source",
                "http://nowhere.example.test/",
                "--timeout",
                TIMEOUT,
            ],
        )
        asked = resolver.queries
    assert code == 1
    (source,) = parsed(stdout)["sources"]
    assert (source["layer"], source["cause"]) == ("dns", "dns-nxdomain")
    assert ("nowhere.example.test", "A") in asked


def test_proxy_flag_and_its_407_schemes_with_the_password_never_shown(tmp_path: Path) -> None:
    answer = ProxyAnswer(
        407, [("Proxy-Authenticate", "NTLM"), ("Proxy-Authenticate", 'Basic realm="corp"')]
    )
    with HttpProxy(answer) as proxy:
        secret_proxy = proxy.url.replace("http://", "http://alice:s3cret-pw@")
        code, stdout, stderr = doctor(
            tmp_path,
            ["--proxy", secret_proxy, "--source", "https://127.0.0.1:9/", "--timeout", TIMEOUT],
        )
        seen = proxy.requests
    assert code == 1
    assert "proxy-auth-required (proxy layer)" in stdout
    assert "NTLM" in stdout
    assert "Basic" in stdout
    assert seen
    assert seen[0].startswith("CONNECT 127.0.0.1:9 ")
    assert "s3cret-pw" not in stdout + stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--dns-server", "resolver.example.test"], "--dns-server"),
        (["--source", "ftp://mirror.example.test/"], "--source"),
        (["--proxy", "socks://127.0.0.1:1080"], "--proxy"),
        (["--samples", "0"], "--samples"),
        (["--timeout", "0"], "--timeout"),
    ],
)
def test_usage_errors_exit_2_and_name_the_flag(tmp_path: Path, args: list[str], named: str) -> None:
    code, stdout, stderr = doctor(tmp_path, args)
    assert code == 2
    assert named in stdout + stderr
