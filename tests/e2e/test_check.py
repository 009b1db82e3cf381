"""`unstall check` as a user runs it: formats, exit codes, --fix, --diff, selection.

Uses the real rules on snippets the issue describes (UT001: a Client literal without
Timeout, safe fix; http.Get, suggested fix only; UT003: http.ListenAndServe, safe fix).
Nothing here touches the network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import run_unstall

CLIENT = """package main

import "net/http"

func main() {
	client := &http.Client{}
	_ = client
	resp, err := http.Get("http://127.0.0.1:8080/")
	if err == nil {
		resp.Body.Close()
	}
}
"""

SERVER = """package main

import "net/http"

func serve() error {
	return http.ListenAndServe("127.0.0.1:8080", nil)
}
"""

CLEAN = """package main

import (
	"net/http"
	"time"
)

var client = &http.Client{Timeout: 5 * time.Second}
"""

BROKEN = "package main\n\nfunc main( {\n"


def project(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        # Keyword names spell paths: "cmd__server_go" is cmd/server.go.
        path = tmp_path / (name.replace("__", "/").removesuffix("_go") + ".go")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def check(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNSTALL_")}
    env["UNSTALL_HOME"] = str(root.parent / "unstall-home")
    return run_unstall(["check", *args], cwd=root, env=env, timeout=120)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.go"))}


def test_text_output_lists_findings_and_exits_one(tmp_path: Path) -> None:
    root = project(tmp_path, client_go=CLIENT, cmd__server_go=SERVER, clean_go=CLEAN)
    (root / "client.go").rename(root / "main.go")
    done = check(root, ".")
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("cmd/server.go:6:9: UT003 ")
    assert lines[1].startswith("main.go:6:13: UT001 ")
    assert lines[2].startswith("main.go:8:15: UT001 ")
    assert lines[-1] == "3 findings (2 fixable with --fix, 1 with --unsafe-fixes)"


def test_clean_code_exits_zero(tmp_path: Path) -> None:
    done = check(project(tmp_path, clean_go=CLEAN), ".")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("0 findings")


def test_json_format(tmp_path: Path) -> None:
    root = project(tmp_path, main_go=CLIENT)
    done = check(root, "--format", "json", "main.go")
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert [(d["rule"], d["path"], d["line"], d["fix"]) for d in document] == [
        ("UT001", "main.go", 6, {"safe": True, "applied": False}),
        ("UT001", "main.go", 8, {"safe": False, "applied": False}),
    ]


def test_sarif_and_github_formats(tmp_path: Path) -> None:
    root = project(tmp_path, main_go=SERVER)
    (root / ".git").mkdir()  # the repository root SARIF URIs are relative to
    (root / "sub").mkdir()
    sarif = check(root / "sub", "--format", "sarif", "..")
    assert sarif.returncode == 1
    run = json.loads(sarif.stdout)["runs"][0]
    assert len(run["tool"]["driver"]["rules"]) == 9
    (result,) = run["results"]
    location = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert (result["ruleId"], location["uri"]) == ("UT003", "main.go")
    github = check(root, "--format", "github")
    assert github.stdout.startswith("::error file=main.go,line=6,col=9,endLine=6,")
    assert ",title=UT003::" in github.stdout


def test_diff_prints_a_patch_and_writes_nothing(tmp_path: Path) -> None:
    root = project(tmp_path, main_go=CLIENT)
    before = snapshot(root)
    done = check(root, "--diff")
    assert snapshot(root) == before
    assert done.returncode == 1  # the unsafe finding would remain
    assert done.stdout.startswith("--- a/main.go\n+++ b/main.go\n")
    assert "+\tclient := &http.Client{Timeout: 30 * time.Second}" in done.stdout
    assert "http.Get(" in done.stdout
    assert "+\tresp, err := (" not in done.stdout
    assert "1 finding" in done.stderr
    if shutil.which("patch"):
        applied = subprocess.run(
            ["patch", "-p1", "--dry-run"],
            input=done.stdout,
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        assert applied.returncode == 0, applied.stdout + applied.stderr


def test_fix_writes_safe_fixes_and_a_second_fix_changes_nothing(tmp_path: Path) -> None:
    root = project(tmp_path, main_go=CLIENT, server_go=SERVER)
    first = check(root, "--fix")
    assert first.returncode == 1, first.stdout + first.stderr  # http.Get: unsafe only
    fixed = snapshot(root)
    assert "&http.Client{Timeout: 30 * time.Second}" in fixed["main.go"].decode()
    assert "ReadHeaderTimeout" in fixed["server.go"].decode()
    assert first.stdout.splitlines()[-1].endswith("; 2 fixed")
    second = check(root, "--fix")
    assert snapshot(root) == fixed
    assert second.stdout.splitlines()[-1] == (
        "1 finding (0 fixable with --fix, 1 with --unsafe-fixes)"
    )
    third = check(root, "--fix", "--unsafe-fixes")
    assert third.returncode == 0, third.stdout + third.stderr
    if shutil.which("gofmt"):
        unformatted = subprocess.run(
            ["gofmt", "-l", "."], cwd=root, capture_output=True, text=True, check=False
        )
        assert unformatted.stdout == ""


def test_syntax_error_is_reported_and_other_files_still_checked(tmp_path: Path) -> None:
    root = project(tmp_path, bad_go=BROKEN, server_go=SERVER)
    done = check(root, ".")
    assert done.returncode == 1
    assert "bad.go:3:" in done.stdout
    assert "syntax error" in done.stdout
    assert "server.go:6:9: UT003" in done.stdout
    assert "Traceback" not in done.stderr


def test_select_and_ignore(tmp_path: Path) -> None:
    root = project(tmp_path, main_go=CLIENT, server_go=SERVER)
    selected = check(root, "--select", "UT003")
    assert [line.split()[1] for line in selected.stdout.splitlines()[:-1]] == ["UT003"]
    ignored = check(root, "--ignore", "UT001,UT003")
    assert ignored.returncode == 0
    assert ignored.stdout.startswith("0 findings")


def test_test_files_are_checked_only_with_include_tests(tmp_path: Path) -> None:
    root = project(tmp_path, server_test_go=SERVER)
    assert check(root).returncode == 0
    assert check(root, "--include-tests").returncode == 1


def test_suppression_comment_silences_a_finding(tmp_path: Path) -> None:
    source = SERVER.replace("nil)\n", "nil) //nolint:UT003 // local only\n")
    done = check(project(tmp_path, main_go=source))
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["missing-dir"], "missing-dir"),
        (["--select", "UT999"], "UT999"),
        (["--format", "xml"], "xml"),
    ],
)
def test_usage_errors_exit_two(tmp_path: Path, args: list[str], expected: str) -> None:
    done = check(project(tmp_path, main_go=CLEAN), *args)
    assert done.returncode == 2
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
