"""Which files `unstall check` reads: recursion, .gitignore, vendor/testdata, tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from unstall.check.walk import go_files
from unstall.errors import UsageError


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("package p\n")


def found(root: Path, **kwargs: bool) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in go_files([root], **kwargs))


def test_walks_recursively_skipping_vendor_testdata_hidden_and_non_go(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "main.go",
        "pkg/a.go",
        "pkg/deep/b.go",
        "vendor/x/v.go",
        "pkg/testdata/t.go",
        ".hidden/h.go",
        "notes.txt",
    )
    assert found(tmp_path) == ["main.go", "pkg/a.go", "pkg/deep/b.go"]


def test_test_files_only_with_include_tests(tmp_path: Path) -> None:
    touch(tmp_path, "a.go", "a_test.go")
    assert found(tmp_path) == ["a.go"]
    assert found(tmp_path, include_tests=True) == ["a.go", "a_test.go"]


def test_gitignore_patterns_negation_and_directories(tmp_path: Path) -> None:
    touch(tmp_path, "keep.go", "gen.pb.go", "important.pb.go", "build/out.go", "src/build.go")
    (tmp_path / ".gitignore").write_text("*.pb.go\n!important.pb.go\nbuild/\n")
    assert found(tmp_path) == ["important.pb.go", "keep.go", "src/build.go"]


def test_nested_gitignore_applies_to_its_directory_only(tmp_path: Path) -> None:
    touch(tmp_path, "gen.go", "sub/gen.go", "sub/main.go", "sub/inner/gen.go")
    (tmp_path / "sub" / ".gitignore").write_text("gen.go\n")
    assert found(tmp_path) == ["gen.go", "sub/main.go"]


def test_nested_gitignore_can_re_include(tmp_path: Path) -> None:
    touch(tmp_path, "a.go", "sub/a.go")
    (tmp_path / ".gitignore").write_text("a.go\n")
    (tmp_path / "sub" / ".gitignore").write_text("!a.go\n")
    assert found(tmp_path) == ["sub/a.go"]


def test_repository_gitignore_applies_when_walking_a_subdirectory(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("generated/\n")
    touch(tmp_path, "svc/main.go", "svc/generated/g.go")
    assert [p.name for p in go_files([tmp_path / "svc"])] == ["main.go"]


def test_explicit_file_is_checked_even_if_ignored_or_a_test(tmp_path: Path) -> None:
    touch(tmp_path, "gen.go", "x_test.go")
    (tmp_path / ".gitignore").write_text("*.go\n")
    assert found(tmp_path) == []
    assert go_files([tmp_path / "gen.go", tmp_path / "x_test.go"]) == [
        tmp_path / "gen.go",
        tmp_path / "x_test.go",
    ]


def test_relative_arguments_keep_the_users_spelling_and_files_appear_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    touch(tmp_path, "pkg/a.go")
    monkeypatch.chdir(tmp_path)
    assert go_files([Path("pkg"), Path("pkg/a.go"), Path(".")]) == [Path("pkg/a.go")]


def test_missing_path_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"nope\.go"):
        go_files([tmp_path / "nope.go"])
