"""run_checks, default_context and the real command runner."""

from __future__ import annotations

import json
import shutil
import ssl
import sys
from pathlib import Path

import pytest

from tests.unit.doctor.checks import FakeRunner, make_context, ok
from unstall.doctor.checks import (
    CheckContext,
    CommandResult,
    SubprocessRunner,
    default_context,
    run_checks,
)
from unstall.doctor.checks.context import env_fix
from unstall.doctor.model import CheckStatus, report_json

GO_ENV = {"GOPROXY": "https://proxy.example.test,direct", "GOSUMDB": "sum.example.test"}


def _healthy_runner() -> FakeRunner:
    return FakeRunner(
        {
            ("go", "version"): ok("go version go1.99.0 linux/amd64\n"),
            ("git", "--version"): ok("git version 2.99.0\n"),
            ("ssh", "-V"): ok(stderr="OpenSSH_9.9p1\n"),
            ("git", "config"): CommandResult(1, "", ""),
            ("npm", "config", "get", "registry"): ok("https://npm.example.test/\n"),
        }
    )


def test_checks_come_grouped_in_a_stable_order(tmp_path: Path) -> None:
    context = make_context(tmp_path, runner=_healthy_runner(), go_env=GO_ENV)

    first = [check.id for check in run_checks(context)]
    second = [check.id for check in run_checks(context)]

    assert first == second
    expected_order = [
        "os",
        "user",
        "tool-go",
        "tool-git",
        "tool-ssh",
        "goproxy",
        "gosumdb",
        "gomod-private-hosts",
        "proxy-env",
        "git-config",
        "pip-index",
        "npm-registry",
        "trust-store",
        "dns-nameservers",
        "dns-timeouts",
    ]
    assert first == expected_order


def test_every_warning_and_failure_carries_a_fix(tmp_path: Path) -> None:
    context = make_context(
        tmp_path,
        environ={"HTTPS_PROXY": "proxy.example.test:3128", "PIP_EXTRA_INDEX_URL": "x"},
        go_env={"GOPROXY": "off", "GOSUMDB": "off", "GOPRIVATE": "*"},
        resolv_conf="# empty\n",
    )

    checks = run_checks(context)

    problems = [c for c in checks if c.status in (CheckStatus.WARN, CheckStatus.FAIL)]
    assert {c.id for c in problems} >= {
        "tool-go",
        "goproxy",
        "gosumdb",
        "goprivate-all",
        "proxy-url-https-proxy",
        "pip-extra-index",
        "trust-store",
        "dns-nameservers",
    }
    assert all(c.fix for c in problems), [c.id for c in problems if not c.fix]


def test_a_group_that_breaks_becomes_one_finding_not_a_traceback(tmp_path: Path) -> None:
    def broken_verify_paths() -> ssl.DefaultVerifyPaths:
        raise RuntimeError("store exploded")

    context = make_context(tmp_path, verify_paths=broken_verify_paths)

    checks = run_checks(context)

    broken = [c for c in checks if c.id == "trust-error"]
    assert len(broken) == 1
    assert "store exploded" in broken[0].message
    assert broken[0].status is CheckStatus.WARN
    # The groups after it still ran.
    assert any(c.id == "dns-nameservers" for c in checks)


def test_the_json_document_holds_the_checks(tmp_path: Path) -> None:
    checks = run_checks(make_context(tmp_path, runner=_healthy_runner(), go_env=GO_ENV))

    document = json.loads(json.dumps(report_json(checks, [])))

    assert [c["id"] for c in document["checks"]] == [c.id for c in checks]
    assert {c["status"] for c in document["checks"]} <= {"ok", "info", "warn", "fail"}


def test_env_fix_uses_export_for_variables_set_in_the_shell(tmp_path: Path) -> None:
    exported = make_context(tmp_path, environ={"GOPROXY": "off"})
    written = make_context(tmp_path)

    assert env_fix(exported, "GOPROXY", "a,direct") == "export GOPROXY=a,direct"
    assert env_fix(exported, "GOPROXY", None).startswith("unset GOPROXY")
    assert env_fix(written, "GOPROXY", "a b") == "go env -w GOPROXY='a b'"
    assert env_fix(written, "GOSUMDB", None) == "go env -u GOSUMDB"


def test_subprocess_runner_returns_output_and_status(tmp_path: Path) -> None:
    runner = SubprocessRunner({"GREETING": "hello"}, tmp_path)
    script = "import os,sys; print(os.environ['GREETING']); print(os.getcwd(), file=sys.stderr)"

    result = runner([sys.executable, "-c", script + "; sys.exit(3)"], timeout=30)

    assert result == CommandResult(3, "hello\n", f"{tmp_path}\n")


def test_subprocess_runner_says_none_for_a_missing_program(tmp_path: Path) -> None:
    runner = SubprocessRunner({}, tmp_path)

    assert runner(["unstall-no-such-program-here"], timeout=5) is None


def test_subprocess_runner_stops_a_command_at_its_deadline(tmp_path: Path) -> None:
    runner = SubprocessRunner({}, tmp_path)

    result = runner([sys.executable, "-c", "import time; time.sleep(60)"], timeout=0.5)

    assert result is not None
    assert result.returncode == 124
    assert "timed out" in result.stderr


@pytest.mark.skipif(shutil.which("go") is None, reason="go is not installed")
def test_default_context_reads_this_machine(tmp_path: Path) -> None:
    context = default_context(tmp_path)

    assert isinstance(context, CheckContext)
    assert context.cwd == tmp_path
    assert context.go_env is not None
    assert "GOPROXY" in context.go_env
    assert "GOMODCACHE" in context.go_env
    assert isinstance(context.run, SubprocessRunner)
