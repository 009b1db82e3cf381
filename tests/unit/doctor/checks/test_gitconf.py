"""git's proxy and insteadOf settings, from scripted `git config` output."""

from __future__ import annotations

from pathlib import Path

from tests.unit.doctor.checks import FakeRunner, by_id, make_context, ok
from unstall.doctor.checks import CommandResult
from unstall.doctor.checks.gitconf import GIT_CONFIG_REGEX, check_git_config
from unstall.doctor.model import Check, CheckStatus


def _run(tmp_path: Path, output: str, environ: dict[str, str] | None = None) -> list[Check]:
    runner = FakeRunner({("git", "config", "--show-scope"): ok(output)})
    return check_git_config(make_context(tmp_path, runner=runner, environ=environ))


def test_git_is_asked_for_proxy_and_insteadof_keys(tmp_path: Path) -> None:
    runner = FakeRunner({("git", "config"): CommandResult(1, "", "")})

    checks = check_git_config(make_context(tmp_path, runner=runner))

    assert runner.calls == [("git", "config", "--show-scope", "--get-regexp", GIT_CONFIG_REGEX)]
    assert checks == [Check("git-config", CheckStatus.OK, "no proxy or insteadOf settings in git")]


def test_a_git_proxy_that_differs_from_https_proxy_warns_redacted(tmp_path: Path) -> None:
    checks = _run(
        tmp_path,
        "global\thttp.proxy http://bob:hunter2@127.0.0.1:3128\n",
        environ={"HTTPS_PROXY": "http://127.0.0.1:8080"},
    )

    check = by_id(checks, "git-proxy")
    assert check.status is CheckStatus.WARN
    assert "http.proxy=http://***@127.0.0.1:3128 (global config)" in check.message
    assert "127.0.0.1:8080" in check.message
    assert "hunter2" not in check.message + check.fix
    assert check.fix.startswith("git config --global --unset http.proxy")


def test_a_git_proxy_without_any_https_proxy_warns(tmp_path: Path) -> None:
    check = by_id(_run(tmp_path, "system\thttp.proxy http://127.0.0.1:3128\n"), "git-proxy")

    assert check.status is CheckStatus.WARN
    assert "HTTPS_PROXY is not set" in check.message
    assert check.fix.startswith("git config --system --unset http.proxy")


def test_a_git_proxy_matching_https_proxy_is_a_fact(tmp_path: Path) -> None:
    proxy = "http://127.0.0.1:3128"
    checks = _run(tmp_path, f"global\thttp.proxy {proxy}\n", environ={"HTTPS_PROXY": proxy})

    assert by_id(checks, "git-proxy").status is CheckStatus.INFO


def test_https_proxy_is_not_a_git_setting(tmp_path: Path) -> None:
    check = by_id(_run(tmp_path, "global\thttps.proxy http://127.0.0.1:3128\n"), "git-proxy")

    assert check.status is CheckStatus.WARN
    assert "ignores it" in check.message
    assert "git config --global --unset https.proxy" in check.fix


def test_a_per_site_proxy_override_is_a_fact(tmp_path: Path) -> None:
    check = by_id(_run(tmp_path, "global\thttp.https://git.example.test/.proxy \n"), "git-proxy")

    assert check.status is CheckStatus.INFO
    assert "matching URLs only" in check.message


def test_insteadof_to_https_is_a_fact(tmp_path: Path) -> None:
    output = "global\turl.https://mirror.example.test/.insteadof https://git.example.test/\n"

    check = by_id(_run(tmp_path, output), "git-insteadof")

    assert check.status is CheckStatus.INFO
    assert "git rewrites https://git.example.test/ to https://mirror.example.test/" in check.message


def test_insteadof_to_ssh_behind_a_proxy_warns(tmp_path: Path) -> None:
    output = "global\turl.git@git.example.test:.insteadof https://git.example.test/\n"

    check = by_id(
        _run(tmp_path, output, environ={"https_proxy": "http://127.0.0.1:3128"}), "git-insteadof"
    )

    assert check.status is CheckStatus.WARN
    assert "ssh" in check.message
    assert check.fix.startswith(
        "git config --global --unset-all url.git@git.example.test:.insteadof"
    )


def test_insteadof_with_a_token_in_the_url_is_redacted_everywhere(tmp_path: Path) -> None:
    output = "global\turl.https://ci:tok3n@git.example.test/.insteadof https://git.example.test/\n"

    check = by_id(_run(tmp_path, output), "git-insteadof")

    assert "tok3n" not in check.message + check.fix
    assert "https://***@git.example.test/" in check.message


def test_old_git_without_show_scope_is_asked_again(tmp_path: Path) -> None:
    runner = FakeRunner(
        {
            ("git", "config", "--show-scope"): CommandResult(129, "", "error: unknown option"),
            ("git", "config", "--get-regexp"): ok("http.proxy http://127.0.0.1:3128\n"),
        }
    )

    checks = check_git_config(make_context(tmp_path, runner=runner))

    check = by_id(checks, "git-proxy")
    assert "(global config)" not in check.message
    assert check.fix.startswith("git config --global --unset http.proxy")


def test_missing_git_is_only_noted(tmp_path: Path) -> None:
    checks = check_git_config(make_context(tmp_path))

    assert [(c.id, c.status) for c in checks] == [("git-config", CheckStatus.INFO)]
