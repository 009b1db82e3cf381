"""`fleet go`'s remote script: quoting, tool choice, the marker read back, the summary.

The script is run by the local dash and bash with PATH pointing at fake ``unstall`` and
``go`` programs that print their arguments one per line, the way the remote shell runs it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from unstall.fleet.executor import Target
from unstall.fleet.go_command import (
    is_go_script,
    remote_command,
    strip_marker,
    tool_of,
    tools_document,
    tools_summary,
    without_markers,
)
from unstall.fleet.states import HostState
from unstall.fleet.store import FleetRun, HostRecord

SHELLS = ["/usr/bin/dash", "/usr/bin/bash"]
TRICKY = ["mod", "download", "with space", "it's", 'say "hi"', "$HOME", "`id`", "a;b", "*", ""]


def fake_tool(bin_dir: Path, name: str, status: int = 0) -> None:
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    script.write_text(f"#!/bin/sh\necho {name}-ran\nprintf '<%s>\\n' \"$@\"\nexit {status}\n")
    script.chmod(0o755)


def run_script(shell: str, script: str, path: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [shell, "-c", script],
        env={"PATH": path, "HOME": str(cwd)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("shell", SHELLS)
def test_go_args_arrive_intact_through_the_shell(shell: str, tmp_path: Path) -> None:
    fake_tool(tmp_path / "bin", "go")
    result = run_script(shell, remote_command(TRICKY), str(tmp_path / "bin"), tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "unstall-fleet-go: tool=go"
    assert lines[1] == "go-ran"
    assert lines[2:-1] == [f"<{arg}>" for arg in TRICKY]
    assert lines[-1] == "unstall-fleet-go: tool=go"
    assert tool_of(result.stdout) == "go"


@pytest.mark.parametrize("shell", SHELLS)
def test_unstall_is_preferred_and_gets_go_first(shell: str, tmp_path: Path) -> None:
    fake_tool(tmp_path / "bin", "go")
    fake_tool(tmp_path / "bin", "unstall")
    result = run_script(shell, remote_command(["env", "GOFLAGS"]), str(tmp_path / "bin"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "unstall-ran\n<go>\n<env>\n<GOFLAGS>\n" in result.stdout
    assert "go-ran" not in result.stdout
    assert tool_of(result.stdout) == "unstall"


@pytest.mark.parametrize("shell", SHELLS)
def test_the_tools_exit_status_is_kept_and_the_marker_is_last(shell: str, tmp_path: Path) -> None:
    fake_tool(tmp_path / "bin", "go", status=3)
    result = run_script(shell, remote_command(["build"]), str(tmp_path / "bin"), tmp_path)
    assert result.returncode == 3
    assert result.stdout.splitlines()[-1] == "unstall-fleet-go: tool=go"


def test_neither_tool_on_path_exits_127_and_cannot_be_told(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run_script(
        "/usr/bin/dash", remote_command(["version"]), str(tmp_path / "empty"), tmp_path
    )
    assert result.returncode == 127
    assert "neither unstall nor go is on PATH" in result.stderr
    assert tool_of(result.stdout) is None


@pytest.mark.parametrize("shell", SHELLS)
def test_chdir_enters_the_directory_home_relative_and_quoted(shell: str, tmp_path: Path) -> None:
    fake_tool(tmp_path / "bin", "go")
    (tmp_path / "my src" / "$x").mkdir(parents=True)
    # "go" prints its arguments; "pwd" through go's argument list is not possible, so the
    # fake records where it ran instead.
    (tmp_path / "bin" / "go").write_text("#!/bin/sh\npwd\n")
    for chdir in (str(tmp_path / "my src" / "$x"), "~/my src/$x"):
        result = run_script(shell, remote_command(["x"], chdir), str(tmp_path / "bin"), tmp_path)
        assert result.returncode == 0, result.stderr
        assert str(tmp_path / "my src" / "$x") in result.stdout.splitlines()


def test_a_missing_chdir_fails_the_host_without_running_go(tmp_path: Path) -> None:
    fake_tool(tmp_path / "bin", "go")
    script = remote_command(["x"], str(tmp_path / "nowhere"))
    result = run_script("/usr/bin/dash", script, str(tmp_path / "bin"), tmp_path)
    assert result.returncode != 0
    assert "go-ran" not in result.stdout
    assert "nowhere" in result.stderr


def test_the_script_is_one_readable_line_recognised_as_a_go_run() -> None:
    script = remote_command(["mod", "download"])
    assert "\n" not in script
    assert "unstall go mod download" in script
    assert "go) go mod download" in script
    assert is_go_script(script)
    assert not is_go_script("go mod download")


def test_tool_of_reads_the_last_marker() -> None:
    assert tool_of("unstall-fleet-go: tool=unstall\nok\nunstall-fleet-go: tool=unstall\n") == (
        "unstall"
    )
    assert tool_of("unstall-fleet-go: tool=go\r\n") == "go"
    assert tool_of("...cut by the cap\nunstall-fleet-go: tool=go") == "go"
    assert tool_of("unstall-fleet-go: tool=none\n") is None
    assert tool_of("") is None
    # Only whole lines count: the tool's own output quoting the marker does not.
    assert tool_of("echo unstall-fleet-go: tool=go\n") is None


def test_strip_marker_keeps_everything_the_tool_printed() -> None:
    tail = "unstall-fleet-go: tool=go\nfirst\n\nsecond\nunstall-fleet-go: tool=go\n"
    assert strip_marker(tail) == "first\n\nsecond\n"
    assert strip_marker("no marker") == "no marker"


def record(name: str, state: HostState, tail: str) -> HostRecord:
    code = {HostState.OK: 0, HostState.FAILED: 1}.get(state)
    return HostRecord(Target(name, "127.0.0.1"), state, 1, code, 0.5, tail, None, None)


def run_of(*hosts: HostRecord) -> FleetRun:
    return FleetRun("r1", remote_command(["mod", "download"]), {}, None, 0.0, 1.0, 1, hosts)


MARK_U = "unstall-fleet-go: tool=unstall\n"
MARK_G = "unstall-fleet-go: tool=go\n"


def test_tools_summary_and_document_name_the_hosts_per_tool() -> None:
    run = run_of(
        record("a", HostState.OK, MARK_U + "done\n" + MARK_U),
        record("b", HostState.OK, MARK_U + MARK_U),
        record("c", HostState.FAILED, MARK_G + "go: module lookup disabled\n" + MARK_G),
        record("d", HostState.TIMEOUT, "partial output\n"),
        record("e", HostState.UNREACHABLE, ""),
        record("f", HostState.PENDING, ""),
    )
    assert tools_summary(run) == (
        "unstall go on 2 hosts: a, b; plain go on 1 host: c; tool unknown on 1 host: d"
    )
    assert tools_document(run) == {"unstall": ["a", "b"], "go": ["c"]}


def test_tools_summary_is_none_when_no_host_ran() -> None:
    assert tools_summary(run_of(record("e", HostState.UNREACHABLE, ""))) is None


def test_without_markers_lets_errors_group_by_the_tools_message() -> None:
    run = without_markers(run_of(record("c", HostState.FAILED, MARK_G + "oops 1\n" + MARK_G)))
    assert run.hosts[0].output_tail == "oops 1\n"
    assert run.run_id == "r1"
