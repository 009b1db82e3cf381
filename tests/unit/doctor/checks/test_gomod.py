"""go.mod requirements whose hosts look private but are not in GOPRIVATE/GONOPROXY."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.unit.doctor.checks import by_id, make_context
from unstall.doctor.checks.gomod import check_go_mod, looks_private, parse_go_mod
from unstall.doctor.model import CheckStatus

GO_MOD = """\
module example.test/app // the main module

go 1.22

require git.corp/team/lib v1.2.3

require (
\tpkg.example.test/public v1.0.0
\t"intranet-tools/gen" v0.1.0 // indirect
\t10.20.30.40/infra/cfg v0.0.1 // indirect; kept for tests
\tbuild.example.internal/ci v1.0.0
\tlocal.example.test/replaced v1.0.0
\tmoved.example.test/mod v1.0.0
)

replace local.example.test/replaced => ../replaced

replace (
\tmoved.example.test/mod v1.0.0 => git.lan/mirror/mod v1.0.1
)
"""


def _write(tmp_path: Path, text: str = GO_MOD) -> Path:
    path = tmp_path / "go.mod"
    path.write_text(text, encoding="utf-8")
    return path


def test_parser_reads_single_and_block_requires_with_indirect_comments() -> None:
    gomod = parse_go_mod(GO_MOD)

    assert gomod.requires == (
        ("git.corp/team/lib", False),
        ("pkg.example.test/public", False),
        ("intranet-tools/gen", True),
        ("10.20.30.40/infra/cfg", True),
        ("build.example.internal/ci", False),
        ("local.example.test/replaced", False),
        ("moved.example.test/mod", False),
    )
    assert gomod.replacements == {
        "local.example.test/replaced": None,
        "moved.example.test/mod": "git.lan/mirror/mod",
    }


def test_parser_ignores_commented_out_requires() -> None:
    gomod = parse_go_mod("module m\n// require git.corp/x v1.0.0\nrequire (\n// a.corp/b v1\n)\n")

    assert gomod.requires == ()


@pytest.mark.parametrize(
    "path",
    [
        "mycompany/lib",
        "git.corp/x",
        "svc.local/y",
        "a.internal/z",
        "nas.lan/q",
        "wiki.intranet/w",
        "box.home.arpa/m",
        "host.localdomain/k",
        "10.1.2.3/r",
        "192.168.1.9/s",
    ],
)
def test_names_that_look_private(path: str) -> None:
    assert looks_private(path)


@pytest.mark.parametrize("path", ["pkg.example.test/a", "8.8.4.4/x", "code.example.org/b/c"])
def test_names_that_look_public(path: str) -> None:
    assert not looks_private(path)


def test_private_looking_hosts_outside_goprivate_warn(tmp_path: Path) -> None:
    gomod = _write(tmp_path)
    go_env = {"GOMOD": str(gomod), "GOPRIVATE": "build.example.internal"}

    check = by_id(check_go_mod(make_context(tmp_path, go_env=go_env)), "gomod-private-hosts")

    assert check.status is CheckStatus.WARN
    assert "module proxy (not in GONOPROXY) and the checksum database" in check.message
    for host in ("git.corp", "intranet-tools", "10.20.30.40", "git.lan"):
        assert host in check.message
    # Covered, public, replaced by a directory, or replaced by another path: not listed.
    for path in ("build.example.internal", "pkg.example.test", "local.example.test"):
        assert path not in check.message
    assert "moved.example.test" not in check.message
    assert check.fix == (
        "go env -w GOPRIVATE=build.example.internal,git.corp,intranet-tools,10.20.30.40,git.lan"
    )


def test_covered_hosts_are_ok(tmp_path: Path) -> None:
    gomod = _write(tmp_path)
    go_env = {
        "GOMOD": str(gomod),
        "GOPRIVATE": "git.corp,intranet-tools,10.20.30.40,*.internal,git.lan",
    }

    check = by_id(check_go_mod(make_context(tmp_path, go_env=go_env)), "gomod-private-hosts")

    assert check.status is CheckStatus.OK


def test_gonoproxy_without_gonosumdb_still_warns_and_names_both(tmp_path: Path) -> None:
    gomod = _write(tmp_path, "module m\n\nrequire git.corp/lib v1.0.0\n")
    go_env = {"GOMOD": str(gomod), "GONOPROXY": "git.corp", "GOPRIVATE": ""}

    check = by_id(check_go_mod(make_context(tmp_path, go_env=go_env)), "gomod-private-hosts")

    assert check.status is CheckStatus.WARN
    assert "checksum database (not in GONOSUMDB)" in check.message
    assert "module proxy" not in check.message
    assert check.fix == "go env -w GOPRIVATE=git.corp"


def test_an_explicit_gonoproxy_gets_the_missing_hosts_too(tmp_path: Path) -> None:
    gomod = _write(tmp_path, "module m\n\nrequire git.corp/lib v1.0.0\n")
    go_env = {"GOMOD": str(gomod), "GOPRIVATE": "a.corp", "GONOPROXY": "b.corp"}

    check = by_id(check_go_mod(make_context(tmp_path, go_env=go_env)), "gomod-private-hosts")

    assert check.fix == "go env -w GOPRIVATE=a.corp,git.corp; go env -w GONOPROXY=b.corp,git.corp"


def test_without_go_env_go_mod_is_found_walking_up(tmp_path: Path) -> None:
    _write(tmp_path, "module m\nrequire git.corp/lib v1.0.0\n")
    nested = tmp_path / "cmd" / "tool"
    nested.mkdir(parents=True)
    context = make_context(tmp_path, environ={"GOPRIVATE": "other.corp"})
    context = dataclasses.replace(context, cwd=nested)

    check = by_id(check_go_mod(context), "gomod-private-hosts")

    assert check.status is CheckStatus.WARN
    assert check.fix == "export GOPRIVATE=other.corp,git.corp"


def test_outside_a_module_it_says_so(tmp_path: Path) -> None:
    context = make_context(tmp_path, go_env={"GOMOD": "/dev/null"})

    check = by_id(check_go_mod(context), "gomod-private-hosts")

    assert check.status is CheckStatus.INFO
    assert "not inside a Go module" in check.message
