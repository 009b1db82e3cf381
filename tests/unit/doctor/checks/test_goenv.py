"""go env values that stall installs or switch verification off."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.doctor.checks import FakeRunner, by_id, make_context
from unstall.doctor.checks import CommandResult
from unstall.doctor.checks.goenv import check_go_env, matches_everything
from unstall.doctor.model import Check, CheckStatus


def _run(tmp_path: Path, environ: dict[str, str] | None = None, **go_env: str) -> list[Check]:
    return check_go_env(make_context(tmp_path, go_env=go_env, environ=environ))


def test_a_proxy_with_direct_fallback_is_ok(tmp_path: Path) -> None:
    checks = _run(tmp_path, GOPROXY="https://proxy.example.test,direct", GOSUMDB="sum.example.test")

    assert by_id(checks, "goproxy").status is CheckStatus.OK
    assert by_id(checks, "gosumdb").status is CheckStatus.OK
    assert [c.id for c in checks] == ["goproxy", "gosumdb"]


def test_goproxy_off_fails(tmp_path: Path) -> None:
    check = by_id(_run(tmp_path, GOPROXY="off"), "goproxy")

    assert check.status is CheckStatus.FAIL
    assert check.fix == "go env -w GOPROXY='<your proxy>,direct'"


def test_direct_only_warns_about_git_and_firewalls(tmp_path: Path) -> None:
    check = by_id(_run(tmp_path, GOPROXY="direct"), "goproxy")

    assert check.status is CheckStatus.WARN
    assert "git" in check.message
    assert "firewall" in check.message
    assert "GOPROXY=" in check.fix


def test_an_exported_goproxy_is_fixed_with_export(tmp_path: Path) -> None:
    check = by_id(_run(tmp_path, {"GOPROXY": "direct"}, GOPROXY="direct"), "goproxy")

    assert check.fix.startswith("export GOPROXY=")


def test_goproxy_credentials_are_not_shown(tmp_path: Path) -> None:
    check = by_id(_run(tmp_path, GOPROXY="https://bob:s3cret@proxy.example.test"), "goproxy")

    assert "s3cret" not in check.message
    assert "proxy.example.test" in check.message


def test_gosumdb_off_warns_and_is_reset_with_go_env_u(tmp_path: Path) -> None:
    check = by_id(_run(tmp_path, GOSUMDB="off"), "gosumdb")

    assert check.status is CheckStatus.WARN
    assert check.fix.startswith("go env -u GOSUMDB")


@pytest.mark.parametrize("flags", ["-insecure", "-mod=mod -insecure", "--insecure=true"])
def test_goflags_with_insecure_warns_and_keeps_other_flags(tmp_path: Path, flags: str) -> None:
    check = by_id(_run(tmp_path, GOFLAGS=flags), "goflags-insecure")

    assert check.status is CheckStatus.WARN
    if "-mod=mod" in flags:
        assert check.fix.startswith("go env -w GOFLAGS=-mod=mod")
    else:
        assert check.fix.startswith("go env -u GOFLAGS")


def test_goflags_without_insecure_say_nothing(tmp_path: Path) -> None:
    checks = _run(tmp_path, GOFLAGS="-mod=mod -insecurely-named=1")

    assert not [c for c in checks if c.id == "goflags-insecure"]


def test_goinsecure_warns(tmp_path: Path) -> None:
    check = by_id(_run(tmp_path, GOINSECURE="git.example.test"), "goinsecure")

    assert check.status is CheckStatus.WARN
    assert "git.example.test" in check.message
    assert check.fix.startswith("go env -u GOINSECURE")


@pytest.mark.parametrize("patterns", ["*", "*.*", "*/*", "example.test,*"])
def test_patterns_that_match_every_module(patterns: str) -> None:
    assert matches_everything(patterns)


@pytest.mark.parametrize("patterns", ["", "git.example.test", "*.example.test", "*.corp,*.lan"])
def test_patterns_that_are_scoped(patterns: str) -> None:
    assert not matches_everything(patterns)


def test_goprivate_matching_everything_warns_once(tmp_path: Path) -> None:
    # go env shows GONOPROXY and GONOSUMDB as GOPRIVATE when they are not set.
    checks = _run(tmp_path, GOPRIVATE="*", GONOPROXY="*", GONOSUMDB="*")

    warned = [c for c in checks if c.status is CheckStatus.WARN]
    assert [c.id for c in warned] == ["goprivate-all"]
    assert "every module" in warned[0].message


def test_gonosumdb_alone_matching_everything_warns(tmp_path: Path) -> None:
    checks = _run(tmp_path, GOPRIVATE="git.example.test", GONOSUMDB="*.*")

    assert by_id(checks, "gonosumdb-all").status is CheckStatus.WARN
    assert not [c for c in checks if c.id == "goprivate-all"]


def test_scoped_private_patterns_are_reported_as_a_fact(tmp_path: Path) -> None:
    checks = _run(tmp_path, GOPRIVATE="git.example.test", GONOPROXY="git.example.test")

    check = by_id(checks, "go-private")
    assert check.status is CheckStatus.INFO
    assert check.message == "GOPRIVATE=git.example.test"


def test_without_go_env_the_failure_of_go_env_is_reported(tmp_path: Path) -> None:
    runner = FakeRunner(
        {("go", "env"): CommandResult(1, "", "go: GOPROXY list is not the empty string\n")}
    )

    check = by_id(check_go_env(make_context(tmp_path, runner=runner)), "go-env")

    assert check.status is CheckStatus.FAIL
    assert "GOPROXY list" in check.message


def test_without_go_at_all_go_env_is_not_checked(tmp_path: Path) -> None:
    check = by_id(check_go_env(make_context(tmp_path)), "go-env")

    assert check.status is CheckStatus.INFO
    assert "not installed" in check.message
