"""Case-escaping, path validation and parsing of module proxy request paths."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from unstall.errors import InputError
from unstall.goproxy.paths import (
    Artifact,
    Kind,
    check_module_path,
    escape,
    parse_artifact,
    unescape,
)

_ELEMENT_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_~"
_HOST_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"

path_text = st.text(alphabet=_ELEMENT_CHARS + "./", max_size=60)
host = st.builds(
    lambda a, b: f"{a}.{b}",
    st.text(alphabet=_HOST_CHARS, min_size=1, max_size=12),
    st.text(alphabet=_HOST_CHARS, min_size=1, max_size=6),
)
element = st.builds(
    lambda a, b: f"{a}.{b}" if b else a,
    st.text(alphabet=_ELEMENT_CHARS, min_size=1, max_size=10),
    st.text(alphabet=_ELEMENT_CHARS, max_size=5),
)
module_path = st.builds(
    lambda first, rest: "/".join([first, *rest]), host, st.lists(element, max_size=4)
)
number = st.integers(min_value=0, max_value=999).map(str)
prerelease = st.text(alphabet=_HOST_CHARS + "ABCXYZ", min_size=1, max_size=8)
canonical_version = st.builds(
    lambda a, b, c, pre: f"v{a}.{b}.{c}" + (f"-{pre}" if pre else ""),
    number,
    number,
    number,
    st.one_of(st.none(), prerelease),
)


@given(path_text)
def test_escape_round_trips(text: str) -> None:
    escaped = escape(text)
    assert unescape(escaped) == text
    assert escaped == escaped.lower()


@given(st.text(alphabet="abcxyz0123456789./-", max_size=40))
def test_escape_leaves_lower_case_alone(text: str) -> None:
    assert escape(text) == text


def test_escape_examples() -> None:
    assert escape("fixture.test/Azure/azure-sdk") == "fixture.test/!azure/azure-sdk"
    assert escape("v1.0.0-RC1") == "v1.0.0-!r!c1"
    assert unescape("fixture.test/!my!lib") == "fixture.test/MyLib"


@pytest.mark.parametrize(
    "text",
    ["fixture.test/abc!", "!", "fixture.test/!A", "fixture.test/!1", "fixture.test/!!a", "Abc"],
)
def test_unescape_rejects_invalid_escapes(text: str) -> None:
    with pytest.raises(InputError):
        unescape(text)


@pytest.mark.parametrize(
    "path",
    [
        "",
        "../x",
        "fixture.test/../x",
        "fixture.test/./b",
        "a/./b",
        "fixture.test//b",
        "fixture.test/",
        "/fixture.test/x",
        "nodot/x",
        "Fixture.test/x",
        ".fixture.test/x",
        "fixture.test/x.",
        "fixture.test/a b",
        "fixture.test/a\\b",
        "fixture.test/" + "a" * 1100,
    ],
)
def test_check_module_path_rejects(path: str) -> None:
    with pytest.raises(InputError):
        check_module_path(path)


@given(module_path)
def test_generated_module_paths_are_valid(path: str) -> None:
    assert check_module_path(path) == path


@pytest.mark.parametrize(
    ("request_path", "expected"),
    [
        ("fixture.test/!my!lib/@v/list", Artifact("fixture.test/MyLib", Kind.LIST)),
        ("fixture.test/a/b/@latest", Artifact("fixture.test/a/b", Kind.LATEST)),
        ("fixture.test/x/@v/v1.2.3.info", Artifact("fixture.test/x", Kind.INFO, "v1.2.3")),
        ("fixture.test/x/@v/v1.2.3.mod", Artifact("fixture.test/x", Kind.MOD, "v1.2.3")),
        (
            "fixture.test/!x/@v/v1.0.0-!r!c.1.zip",
            Artifact("fixture.test/X", Kind.ZIP, "v1.0.0-RC.1"),
        ),
        (
            "fixture.test/x/v2/@v/v2.0.0+incompatible.zip",
            Artifact("fixture.test/x/v2", Kind.ZIP, "v2.0.0+incompatible"),
        ),
        # .info also answers version queries such as a branch name.
        ("fixture.test/x/@v/master.info", Artifact("fixture.test/x", Kind.INFO, "master")),
        (
            "fixture.test/x/@v/release-1.x.info",
            Artifact("fixture.test/x", Kind.INFO, "release-1.x"),
        ),
    ],
)
def test_parse_artifact(request_path: str, expected: Artifact) -> None:
    assert parse_artifact(request_path) == expected


@pytest.mark.parametrize(
    "request_path",
    [
        "fixture.test/x/@v/v1.zip",
        "fixture.test/x/@v/1.0.0.zip",
        "fixture.test/x/@v/v1.0.mod",
        "fixture.test/x/@v/master.zip",
        "fixture.test/x/@v/master.mod",
        "fixture.test/x/@v/v01.0.0.zip",
        "fixture.test/x/@v/v1.0.0/../x.zip",
        "fixture.test/x/@v/v1.0.0/../x.info",
        "fixture.test/x/@v/../../etc.info",
        "fixture.test/x/@v/.hidden.info",
        "fixture.test/x/@v/v1.0.0-!!.zip",
        "fixture.test/x/@v/v1.0.0.tar",
        "fixture.test/x/@v/v1.0.0",
        "fixture.test/x/@v/",
        "fixture.test/x/list",
        "fixture.test/X/@v/list",
        "fixture.test/../x/@v/list",
        "../x/@latest",
        "nodot/@v/list",
        "fixture.test/!/@v/list",
    ],
)
def test_parse_artifact_rejects(request_path: str) -> None:
    with pytest.raises(InputError):
        parse_artifact(request_path)


@given(module_path, canonical_version, st.sampled_from([Kind.INFO, Kind.MOD, Kind.ZIP]))
def test_escaped_path_parses_back(path: str, version: str, kind: Kind) -> None:
    artifact = Artifact(path, kind, version)
    assert parse_artifact(artifact.escaped_path) == artifact
    assert artifact.escaped_path == artifact.escaped_path.lower()


@given(module_path, st.sampled_from([Kind.LIST, Kind.LATEST]))
def test_escaped_path_parses_back_without_version(path: str, kind: Kind) -> None:
    assert parse_artifact(Artifact(path, kind).escaped_path) == Artifact(path, kind)


def test_escaped_path_and_str() -> None:
    zipped = Artifact("fixture.test/MyLib", Kind.ZIP, "v1.0.0")
    assert zipped.escaped_path == "fixture.test/!my!lib/@v/v1.0.0.zip"
    assert str(zipped) == "fixture.test/MyLib@v1.0.0 .zip"
    assert Artifact("fixture.test/a", Kind.LIST).escaped_path == "fixture.test/a/@v/list"
    assert Artifact("fixture.test/a", Kind.LATEST).escaped_path == "fixture.test/a/@latest"


def test_only_immutable_artifacts_say_so() -> None:
    assert Artifact("fixture.test/a", Kind.ZIP, "v1.0.0").immutable
    assert Artifact("fixture.test/a", Kind.MOD, "v1.0.0").immutable
    assert Artifact("fixture.test/a", Kind.INFO, "v1.0.0").immutable
    assert not Artifact("fixture.test/a", Kind.INFO, "master").immutable
    assert not Artifact("fixture.test/a", Kind.LIST).immutable
    assert not Artifact("fixture.test/a", Kind.LATEST).immutable
