"""go, git and ssh: versions when present, install instructions when not."""

from __future__ import annotations

from pathlib import Path

from tests.unit.doctor.checks import FakeRunner, by_id, make_context, ok
from unstall.doctor.checks import CommandResult
from unstall.doctor.checks.tools import check_tools
from unstall.doctor.model import CheckStatus


def test_versions_are_reported_including_ssh_on_stderr(tmp_path: Path) -> None:
    runner = FakeRunner(
        {
            ("go", "version"): ok("go version go1.99.1 linux/arm64\n"),
            ("git", "--version"): ok("git version 2.99.2\n"),
            ("ssh", "-V"): ok(stderr="OpenSSH_9.9p1 Debian-1, OpenSSL 3.9.9\n"),
        }
    )

    checks = check_tools(make_context(tmp_path, runner=runner))

    assert [c.id for c in checks] == ["tool-go", "tool-git", "tool-ssh"]
    assert all(c.status is CheckStatus.INFO for c in checks)
    assert by_id(checks, "tool-go").message == "go version go1.99.1 linux/arm64"
    assert by_id(checks, "tool-git").message == "git version 2.99.2"
    assert by_id(checks, "tool-ssh").message.startswith("OpenSSH_9.9p1")


def test_missing_go_fails_and_points_at_the_install_page(tmp_path: Path) -> None:
    check = by_id(check_tools(make_context(tmp_path)), "tool-go")

    assert check.status is CheckStatus.FAIL
    assert "not installed" in check.message
    assert "https://go.dev/doc/install" in check.fix


def test_missing_git_and_ssh_are_warnings_with_package_names(tmp_path: Path) -> None:
    runner = FakeRunner({("go", "version"): ok("go version go1.99.0 linux/amd64")})

    checks = check_tools(make_context(tmp_path, runner=runner))

    git, ssh = by_id(checks, "tool-git"), by_id(checks, "tool-ssh")
    assert git.status is ssh.status is CheckStatus.WARN
    assert "apt-get install git" in git.fix
    assert "openssh-client" in ssh.fix
    assert "GOPRIVATE" in git.message


def test_a_go_that_cannot_run_fails_with_what_it_printed(tmp_path: Path) -> None:
    runner = FakeRunner(
        {("go", "version"): CommandResult(1, "", "go: cannot find GOROOT directory\n")}
    )

    check = by_id(check_tools(make_context(tmp_path, runner=runner)), "tool-go")

    assert check.status is CheckStatus.FAIL
    assert "cannot find GOROOT" in check.message
    assert "go version" in check.fix
