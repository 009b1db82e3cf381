"""Which sources doctor probes, read from the toolchains' own settings."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from unstall.cli.doctor_cmd import parse_dns_server
from unstall.doctor.model import SourceKind
from unstall.doctor.sources import (
    checksum_db_name,
    given_sources,
    go_sources,
    machine_sources,
    npm_registry,
    pip_index,
)
from unstall.errors import UsageError


class Commands:
    """Scripted tool answers by program and first arguments; None for anything else."""

    def __init__(self, answers: dict[tuple[str, ...], str]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, ...]] = []

    def __call__(self, argv: Sequence[str]) -> str | None:
        self.asked.append(tuple(argv))
        for prefix, answer in self.answers.items():
            if tuple(argv[: len(prefix)]) == prefix:
                return answer
        return None


def test_each_goproxy_entry_and_the_checksum_database_through_each() -> None:
    sources = go_sources(
        {
            "GOPROXY": "https://a.example.test|https://b.example.test/mirror,direct",
            "GOSUMDB": "sum.example.test+abc123",
        }
    )
    assert [(s.url, s.kind) for s in sources] == [
        ("https://a.example.test", SourceKind.GOPROXY),
        ("https://b.example.test/mirror", SourceKind.GOPROXY),
        ("https://a.example.test/sumdb/sum.example.test/supported", SourceKind.SUMDB),
        ("https://b.example.test/mirror/sumdb/sum.example.test/supported", SourceKind.SUMDB),
    ]


@pytest.mark.parametrize(
    ("gosumdb", "name"),
    [
        ("sum.example.test", "sum.example.test"),
        ("sum.example.test+key+more", "sum.example.test"),
        ("sum.example.test+key https://sumdb.example.test/db", "sum.example.test"),
        ("off", None),
        ("", None),
    ],
)
def test_checksum_db_name(gosumdb: str, name: str | None) -> None:
    assert checksum_db_name(gosumdb) == name


def test_direct_or_off_names_no_go_source_and_sumdb_off_adds_none() -> None:
    assert go_sources({"GOPROXY": "direct", "GOSUMDB": "sum.example.test"}) == []
    assert go_sources({"GOPROXY": "off"}) == []
    only_proxy = go_sources({"GOPROXY": "https://a.example.test", "GOSUMDB": "off"})
    assert [s.kind for s in only_proxy] == [SourceKind.GOPROXY]


def test_pip_index_from_environment_then_config_then_pips_own_default() -> None:
    config = Commands({("python3", "-m", "pip", "config"): "https://pip.example.test/simple\n"})
    assert pip_index({"PIP_INDEX_URL": "https://env.example.test/simple"}, config) == (
        "https://env.example.test/simple"
    )
    assert pip_index({}, config) == "https://pip.example.test/simple"
    default = Commands({("python3", "-c"): "https://default.example.test/simple/\n"})
    assert pip_index({}, default) == "https://default.example.test/simple/"
    assert pip_index({}, Commands({})) is None


def test_npm_registry_from_environment_or_npm_itself() -> None:
    npm = Commands({("npm", "config", "get", "registry"): "https://npm.example.test/\n"})
    assert npm_registry({}, npm) == "https://npm.example.test/"
    assert npm_registry({"NPM_CONFIG_REGISTRY": "https://env.example.test/"}, npm) == (
        "https://env.example.test/"
    )
    # npm prints "undefined" or warnings when it has no answer: not a URL, no source
    assert npm_registry({}, Commands({("npm",): "undefined\n"})) is None
    assert npm_registry({}, Commands({})) is None


def test_machine_sources_in_order_and_without_go() -> None:
    read = Commands(
        {
            ("python3", "-m", "pip", "config"): "https://pip.example.test/simple\n",
            ("npm", "config", "get", "registry"): "https://npm.example.test/\n",
        }
    )
    sources = machine_sources({"GOPROXY": "https://a.example.test", "GOSUMDB": "off"}, {}, read)
    assert [s.kind for s in sources] == [SourceKind.GOPROXY, SourceKind.PIP, SourceKind.NPM]
    without_go = machine_sources(None, {}, read)
    assert [s.kind for s in without_go] == [SourceKind.PIP, SourceKind.NPM]


@pytest.mark.parametrize(
    "url", ["mirror.example.test", "ftp://mirror.example.test/", "https://", "http://h:99999/"]
)
def test_given_sources_must_be_http_urls_with_a_host(url: str) -> None:
    with pytest.raises(UsageError) as caught:
        given_sources([url])
    assert caught.value.exit_code == 2


def test_given_sources_keep_order() -> None:
    urls = ["https://a.example.test/", "http://127.0.0.1:8080/x"]
    assert [s.url for s in given_sources(urls)] == urls


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("::1", ("::1", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("[::1]", ("::1", 53)),
    ],
)
def test_dns_server_forms(value: str, parsed: tuple[str, int]) -> None:
    assert parse_dns_server(value) == parsed


@pytest.mark.parametrize("value", ["resolver.example.test", "1.2.3.4:0", "1.2.3.4:x", "[::1:53"])
def test_dns_server_must_be_an_address(value: str) -> None:
    with pytest.raises(UsageError):
        parse_dns_server(value)
