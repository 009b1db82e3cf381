"""gotool.env: GOPROXY, GOPRIVATE and go.sum locations read as go reads them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from unstall.errors import UsageError
from unstall.goproxy.upstream import UpstreamSpec
from unstall.gotool.env import (
    ProxyList,
    gosum_paths,
    match_prefix_patterns,
    parse_goproxy,
    private_patterns,
    read_go_env,
)

LOCAL = "http://127.0.0.1:5000"
A, B, C = "https://a.example", "https://b.example", "https://c.example"


def test_separators_set_fallthrough_per_entry_and_keep_the_tail() -> None:
    parsed = parse_goproxy(f"{A},{B}|{C},direct")

    assert parsed.proxies == (
        UpstreamSpec(A, fallthrough_on_error=False),
        UpstreamSpec(B, fallthrough_on_error=True),
        UpstreamSpec(C, fallthrough_on_error=False),
    )
    assert parsed.tail == "direct"
    assert parsed.tail_fallthrough_on_error is False
    assert parsed.go_value(LOCAL) == f"{LOCAL},direct"


def test_pipe_before_the_tail_is_kept() -> None:
    parsed = parse_goproxy(f"{A}|direct")

    assert parsed.proxies == (UpstreamSpec(A, fallthrough_on_error=True),)
    assert parsed.tail == "direct"
    assert parsed.tail_fallthrough_on_error is True
    assert parsed.go_value(LOCAL) == f"{LOCAL}|direct"


def test_off_alone() -> None:
    parsed = parse_goproxy("off")

    assert parsed.proxies == ()
    assert parsed.tail == "off"


def test_direct_alone() -> None:
    parsed = parse_goproxy("direct")

    assert parsed.proxies == ()
    assert parsed.tail == "direct"


def test_proxies_without_tail() -> None:
    parsed = parse_goproxy(f"{A},{B}")

    assert [p.url for p in parsed.proxies] == [A, B]
    assert parsed.tail is None
    assert parsed.go_value(LOCAL) == LOCAL


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_value_means_no_proxies_and_no_tail(value: str) -> None:
    assert parse_goproxy(value) == ProxyList((), None, False)


def test_entries_after_the_tail_are_ignored() -> None:
    parsed = parse_goproxy(f"{A},direct,{B}")

    assert [p.url for p in parsed.proxies] == [A]
    assert parsed.tail == "direct"


def test_whitespace_and_empty_entries_are_ignored() -> None:
    parsed = parse_goproxy(f" {A} ,, {B} ,direct ")

    assert [p.url for p in parsed.proxies] == [A, B]
    assert parsed.tail == "direct"


def test_scheme_less_entries_mean_https() -> None:
    parsed = parse_goproxy("goproxy.example,goproxy.example/sub/path,direct")

    assert [p.url for p in parsed.proxies] == [
        "https://goproxy.example",
        "https://goproxy.example/sub/path",
    ]


def test_http_entries_are_kept_as_given() -> None:
    parsed = parse_goproxy("http://127.0.0.1:3000/goproxy,off")

    assert [p.url for p in parsed.proxies] == ["http://127.0.0.1:3000/goproxy"]
    assert parsed.tail == "off"


@pytest.mark.parametrize("value", ["file:///srv/goproxy", f"{A},file:///srv/goproxy,direct"])
def test_file_proxies_are_a_usage_error(value: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_goproxy(value)

    assert "file:///srv/goproxy" in str(caught.value)
    assert caught.value.exit_code == 2
    assert caught.value.fix


def test_mirrors_are_appended_after_goproxy_and_fall_through() -> None:
    parsed = parse_goproxy(f"{A},direct", mirrors=["https://m1.example", "https://m2.example"])

    assert parsed.proxies == (
        UpstreamSpec(A, fallthrough_on_error=False),
        UpstreamSpec("https://m1.example", fallthrough_on_error=True),
        UpstreamSpec("https://m2.example", fallthrough_on_error=True),
    )
    # go still sees the original tail, after the local proxy.
    assert parsed.go_value(LOCAL) == f"{LOCAL},direct"


def test_mirrors_already_in_goproxy_are_not_added_twice() -> None:
    parsed = parse_goproxy(f"{A}/,{B},direct", mirrors=[A, f"{B}/", "https://m.example"])

    assert [p.url for p in parsed.proxies] == [f"{A}/", B, "https://m.example"]


def test_mirrors_alone_when_goproxy_is_direct() -> None:
    parsed = parse_goproxy("direct", mirrors=["https://m.example"])

    assert [p.url for p in parsed.proxies] == ["https://m.example"]
    assert parsed.tail == "direct"


@pytest.mark.parametrize(
    ("patterns", "path", "expected"),
    [
        # a plain prefix matches the module and everything below it, element-wise
        ("corp.example", "corp.example", True),
        ("corp.example", "corp.example/team/mod", True),
        ("corp.example", "corp.example.evil.com/mod", False),
        ("corp.example", "notcorp.example/mod", False),
        ("github.com/org", "github.com/org/repo", True),
        ("github.com/org", "github.com/organisation/repo", False),
        ("github.com/org", "github.com/other/repo", False),
        # a glob matches exactly as many leading elements as it has
        ("corp.example/*", "corp.example/team/mod", True),
        ("corp.example/*", "corp.example/team", True),
        ("corp.example/*", "corp.example", False),
        ("*.corp.example", "git.corp.example/x/y", True),
        ("*.corp.example", "corp.example/x", False),
        ("*.corp.example", "a.b.corp.example/x", True),
        ("github.com/*/private-*", "github.com/acme/private-api/v2", True),
        ("github.com/*/private-*", "github.com/acme/public-api", False),
        # a shorter path cannot match a longer pattern
        ("github.com/acme/repo", "github.com/acme", False),
        # trailing slash is ignored
        ("corp.example/", "corp.example/team/mod", True),
        ("github.com/acme/", "github.com/acme/repo", True),
        # comma-separated lists: any pattern may match
        ("a.example,b.example/x", "b.example/x/y", True),
        ("a.example,b.example/x", "b.example/y", False),
        ("a.example,b.example/x", "a.example/anything", True),
        (",,a.example,", "a.example/m", True),
        ("", "a.example/m", False),
        # case matters, as in go
        ("Corp.example", "corp.example/m", False),
    ],
)
def test_goprivate_matching(patterns: str, path: str, expected: bool) -> None:
    assert match_prefix_patterns(patterns, path) is expected


def test_private_patterns_prefer_gonoproxy() -> None:
    assert private_patterns({"GOPRIVATE": "a.example", "GONOPROXY": "b.example"}) == "b.example"
    assert private_patterns({"GOPRIVATE": "a.example", "GONOPROXY": ""}) == "a.example"
    assert private_patterns({}) == ""


def test_gosum_paths_of_a_module(tmp_path: Path) -> None:
    gomod = tmp_path / "app" / "go.mod"

    assert gosum_paths({"GOMOD": str(gomod)}) == [tmp_path / "app" / "go.sum"]


@pytest.mark.parametrize("gomod", ["", os.devnull])
def test_gosum_paths_outside_a_module(gomod: str) -> None:
    assert gosum_paths({"GOMOD": gomod, "GOWORK": ""}) == []
    assert gosum_paths({}) == []


def test_gosum_paths_of_a_workspace(tmp_path: Path) -> None:
    env = {
        "GOMOD": str(tmp_path / "ws" / "app" / "go.mod"),
        "GOWORK": str(tmp_path / "ws" / "go.work"),
    }

    assert gosum_paths(env) == [
        tmp_path / "ws" / "app" / "go.sum",
        tmp_path / "ws" / "go.work.sum",
        tmp_path / "ws" / "go.sum",
    ]


def test_gosum_paths_with_workspaces_off(tmp_path: Path) -> None:
    env = {"GOMOD": str(tmp_path / "go.mod"), "GOWORK": "off"}

    assert gosum_paths(env) == [tmp_path / "go.sum"]


def _go_env_base(tmp_path: Path) -> dict[str, str]:
    """The caller's environment, minus settings that would make the two go runs differ."""
    dropped = {"GOPROXY", "GOFLAGS", "GOWORK", "GOENV", "GOTOOLCHAIN"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update({"GOENV": "off", "GOTOOLCHAIN": "local", "HOME": str(tmp_path / "home")})
    return env


def _go_env_var(go: str, name: str, env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [go, "env", name], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_read_go_env_reports_what_go_env_prints(go_cmd: str, tmp_path: Path) -> None:
    env = _go_env_base(tmp_path)

    values = read_go_env(go_cmd, cwd=tmp_path, env=env)

    assert values["GOPROXY"] == _go_env_var(go_cmd, "GOPROXY", env, tmp_path)
    assert values["GOPROXY"]  # go always has one


def test_read_go_env_sees_goproxy_and_the_module_of_cwd(go_cmd: str, tmp_path: Path) -> None:
    module = tmp_path / "app"
    module.mkdir()
    (module / "go.mod").write_text("module fixture.test/app\n\ngo 1.21\n")
    env = _go_env_base(tmp_path)
    env["GOPROXY"] = "http://127.0.0.1:9|direct"
    env["GOPRIVATE"] = "corp.example"

    values = read_go_env(go_cmd, cwd=module, env=env)

    assert values["GOPROXY"] == "http://127.0.0.1:9|direct"
    assert values["GONOPROXY"] == "corp.example"  # go defaults it to GOPRIVATE
    assert Path(values["GOMOD"]) == module / "go.mod"
    assert gosum_paths(values) == [module / "go.sum"]


def test_a_mirror_listed_twice_is_one_upstream() -> None:
    parsed = parse_goproxy(
        "https://a.example,direct", mirrors=["https://m.example", "https://m.example/"]
    )
    assert [p.url.rstrip("/") for p in parsed.proxies] == ["https://a.example", "https://m.example"]


def test_scheme_less_mirror_means_https() -> None:
    parsed = parse_goproxy("off", mirrors=["m.example"])
    assert [p.url for p in parsed.proxies] == ["https://m.example"]


def test_negated_character_class_follows_path_match() -> None:
    assert match_prefix_patterns("corp[^x].example", "corpa.example/mod")
    assert not match_prefix_patterns("corp[^x].example", "corpx.example/mod")
