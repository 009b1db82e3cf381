"""h1 hashes (checked against the real go) and the go.sum format."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.gocmd import GoEnvFactory, cache_download_dir, run_go
from tests.support.modfactory import FixtureModule, ModuleSet, make_module
from unstall.errors import GoSumError, InputError
from unstall.goproxy.hashes import (
    GoSum,
    GoSumLine,
    hash1,
    hash_gomod,
    hash_zip,
    iter_gosum,
    load_gosum,
    parse_gosum_line,
)
from unstall.goproxy.paths import escape


def _oracle_modules() -> list[FixtureModule]:
    """Modules that stress what h1 covers: case, nesting, empty files, odd names, size."""
    return [
        make_module(
            "fixture.test/Upper/CaseMod",
            "v1.0.0",
            extra_files={
                "sub/dir/deep.txt": b"deep\n",
                "sub/pkg/pkg.go": b"package pkg\n",
                "empty.txt": b"",
                "docs/read me+.md": b"# spaces and plus\n",
            },
        ),
        make_module("fixture.test/payload", "v1.2.3-RC.1", payload_size=50_000, seed=11),
        make_module(
            "fixture.test/major/v2",
            "v2.1.0",
            requires=[("fixture.test/payload", "v1.0.0")],
            import_requires=False,
        ),
    ]


def _json_stream(text: str) -> list[dict[str, Any]]:
    """``go mod download -json`` prints one JSON object after another, not a list."""
    decoder = json.JSONDecoder()
    objects: list[dict[str, Any]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        obj, end = decoder.raw_decode(text, position)
        objects.append(obj)
        position = end
        while position < len(text) and text[position].isspace():
            position += 1
    return objects


def test_h1_agrees_with_go(tmp_path: Path, go_env: GoEnvFactory) -> None:
    modules = _oracle_modules()
    proxy = ModuleSet(modules).write_file_proxy(tmp_path / "proxy")
    env = go_env(proxy.as_uri(), {"GOSUMDB": "off"})
    work = tmp_path / "work"
    work.mkdir()
    args = ["mod", "download", "-json", *(f"{m.path}@{m.version}" for m in modules)]
    result = run_go(args, cwd=work, env=env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr

    reported = {(o["Path"], o["Version"]): o for o in _json_stream(result.stdout)}
    for module in modules:
        entry = reported[(module.path, module.version)]
        assert "Error" not in entry
        assert entry["Sum"] == module.h1_zip
        assert entry["GoModSum"] == module.h1_mod
        with zipfile.ZipFile(entry["Zip"]) as archive:
            assert hash_zip(archive) == module.h1_zip
        ziphash = (
            cache_download_dir(env)
            / escape(module.path)
            / "@v"
            / (escape(module.version) + ".ziphash")
        )
        assert ziphash.read_text().strip() == module.h1_zip


def test_hash1_is_sorted_sha256_lines() -> None:
    empty = "h1:" + base64.b64encode(hashlib.sha256(b"").digest()).decode()
    assert hash1([]) == empty
    a = ("a", hashlib.sha256(b"1").digest())
    b = ("b/c", hashlib.sha256(b"").digest())
    summary = f"{a[1].hex()}  a\n{b[1].hex()}  b/c\n".encode()
    assert hash1([b, a]) == "h1:" + base64.b64encode(hashlib.sha256(summary).digest()).decode()
    assert hash1([a, b]) == hash1([b, a])
    with pytest.raises(ValueError, match="newline"):
        hash1([("bad\nname", a[1])])


def test_hash_gomod_names_the_file_go_mod() -> None:
    content = b"module fixture.test/a\n"
    assert hash_gomod(content) == hash1([("go.mod", hashlib.sha256(content).digest())])
    assert hash_gomod(content) != hash_gomod(content + b"\n")


# -- go.sum ------------------------------------------------------------------------

_A = make_module("fixture.test/a", "v1.0.0")
_B = make_module("fixture.test/B", "v0.1.0-pre")


def test_parse_valid_lines() -> None:
    zip_line = parse_gosum_line(_A.gosum_lines()[0], 3)
    assert zip_line == GoSumLine("fixture.test/a", "v1.0.0", False, _A.h1_zip, 3)
    mod_line = parse_gosum_line(f"  {_B.gosum_lines()[1]}\t\r\n", 4)
    assert mod_line == GoSumLine("fixture.test/B", "v0.1.0-pre", True, _B.h1_mod, 4)
    assert parse_gosum_line("", 1) is None
    assert parse_gosum_line("   \t", 1) is None


_SHORT_DIGEST = "h1:" + base64.b64encode(b"0" * 16).decode()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("fixture.test/a v1.0.0", "3 fields"),
        (f"fixture.test/a v1.0.0 {_A.h1_zip} extra", "3 fields"),
        (f"fixture.test/a v1 {_A.h1_zip}", "version"),
        (f"fixture.test/a latest {_A.h1_zip}", "version"),
        (f"fixture.test/a v1.0.0/go.sum {_A.h1_zip}", "version"),
        (f"nodot/a v1.0.0 {_A.h1_zip}", "module path"),
        (f"fixture.test/../a v1.0.0 {_A.h1_zip}", "module path"),
        ("fixture.test/a v1.0.0 h2:" + _A.h1_zip[3:], "unsupported hash"),
        ("fixture.test/a v1.0.0 h1:not*base64", "not base64"),
        (f"fixture.test/a v1.0.0 {_SHORT_DIGEST}", "SHA-256"),
    ],
)
def test_parse_malformed_lines(line: str, reason: str) -> None:
    with pytest.raises(GoSumError, match=reason) as caught:
        parse_gosum_line(line, 7, "dir/go.sum")
    assert caught.value.line_number == 7
    assert caught.value.path == "dir/go.sum"
    assert str(caught.value).startswith("dir/go.sum:7: ")
    assert isinstance(caught.value, InputError)
    assert caught.value.cause == "gosum-malformed"


def test_iter_reports_bad_lines_and_keeps_going() -> None:
    text = "\n".join(
        [
            _A.gosum_lines()[0],
            "",
            "garbage",
            _A.gosum_lines()[1],
            "fixture.test/a v1 h1:x",
            *_B.gosum_lines(),
        ]
    )
    items = list(iter_gosum(text, "go.sum"))
    problems = [i for i in items if isinstance(i, GoSumError)]
    lines = [i for i in items if isinstance(i, GoSumLine)]
    assert [p.line_number for p in problems] == [3, 5]
    assert [(line.module, line.gomod, line.line_number) for line in lines] == [
        ("fixture.test/a", False, 1),
        ("fixture.test/a", True, 4),
        ("fixture.test/B", False, 6),
        ("fixture.test/B", True, 7),
    ]


def test_load_gosum_first_hash_wins(tmp_path: Path) -> None:
    other = make_module("fixture.test/a", "v1.0.0", extra_files={"x": b"different"})
    assert other.h1_zip != _A.h1_zip
    first = tmp_path / "go.sum"
    first.write_text("\n".join([*_A.gosum_lines(), "bad line here", ""]))
    second = tmp_path / "sub" / "go.sum"
    second.parent.mkdir()
    second.write_text("\n".join([*other.gosum_lines(), *_B.gosum_lines()[1:]]))

    gosum, problems = load_gosum([first, tmp_path / "missing.sum", second])
    assert [(p.path, p.line_number) for p in problems] == [(str(first), 3)]
    assert gosum.zip_hash("fixture.test/a", "v1.0.0") == _A.h1_zip
    assert gosum.mod_hash("fixture.test/a", "v1.0.0") == _A.h1_mod
    assert gosum.zip_hash("fixture.test/B", "v0.1.0-pre") is None
    assert gosum.mod_hash("fixture.test/B", "v0.1.0-pre") == _B.h1_mod
    assert gosum.zip_hash("fixture.test/c", "v1.0.0") is None
    assert gosum.versions() == [
        ("fixture.test/B", "v0.1.0-pre", False),
        ("fixture.test/a", "v1.0.0", True),
    ]


def test_gosum_add_keeps_the_first() -> None:
    gosum = GoSum()
    gosum.add(GoSumLine("fixture.test/a", "v1.0.0", False, "h1:first", 1))
    gosum.add(GoSumLine("fixture.test/a", "v1.0.0", False, "h1:second", 2))
    assert gosum.zip_hash("fixture.test/a", "v1.0.0") == "h1:first"
