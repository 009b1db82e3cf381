"""No credential from the environment, git, pip or npm reaches any shown text."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tests.unit.doctor.checks import FakeRunner, make_context, ok
from unstall.doctor.checks import run_checks
from unstall.doctor.model import CheckStatus, report_json

SECRET = "Sup3rS3cret"


def test_no_check_ever_shows_a_password(tmp_path: Path) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    environ = {
        "HTTPS_PROXY": f"https://user:{SECRET}@127.0.0.1:{port}",
        "https_proxy": f"http://user:{SECRET}@127.0.0.2:3128",
        "HTTP_PROXY": f"user:{SECRET}@127.0.0.1:3128",
        "ALL_PROXY": f"gopher://user:{SECRET}@127.0.0.1:1080",
        "http_proxy": f"http://user:{SECRET}@127.0.0.1:notaport",
        "PIP_INDEX_URL": f"https://user:{SECRET}@pypi.example.test/simple",
        "PIP_EXTRA_INDEX_URL": f"https://user:{SECRET}@extra.example.test/simple",
        "NPM_CONFIG_REGISTRY": f"https://user:{SECRET}@npm.example.test/",
        "GOPROXY": f"https://user:{SECRET}@goproxy.example.test",
    }
    go_mod = tmp_path / "go.mod"
    go_mod.write_text("module m\nrequire git.corp/lib v1.0.0\n")
    runner = FakeRunner(
        {
            ("git", "config"): ok(
                f"global\thttp.proxy http://user:{SECRET}@127.0.0.1:3128\n"
                f"global\turl.ssh://git:{SECRET}@git.example.test/.insteadof "
                "https://git.example.test/\n"
                f"global\turl.https://ci:{SECRET}@git.example.test/.insteadof git.example.test:\n"
            ),
            ("pip",): ok(f"global.extra-index-url='https://u:{SECRET}@x.example.test'\n"),
            ("npm",): ok(f"https://user:{SECRET}@npm.example.test/\n"),
        }
    )
    go_env = {
        "GOPROXY": environ["GOPROXY"],
        "GOSUMDB": f"sum.example.test https://user:{SECRET}@sum.example.test",
        "GOMOD": str(go_mod),
        "GONOSUMDB": f"https://user:{SECRET}@odd.example.test",
    }
    context = make_context(tmp_path, environ=environ, runner=runner, go_env=go_env)

    checks = run_checks(context)

    shown = json.dumps(report_json(checks, []))
    assert SECRET not in shown
    # The findings that carry those values are there, so redaction was actually exercised.
    ids = {c.id for c in checks}
    assert {
        "proxy-env",
        "proxy-case-https-proxy",
        "proxy-url-http-proxy",
        "proxy-url-all-proxy",
        "proxy-tls-https-proxy",
        "git-proxy",
        "git-insteadof",
        "pip-index",
        "pip-extra-index",
        "npm-registry",
        "goproxy",
        "gosumdb",
    } <= ids
    assert "***@" in shown
    assert all(c.fix for c in checks if c.status in (CheckStatus.WARN, CheckStatus.FAIL))
