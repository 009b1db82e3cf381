"""Candidates: the shipped catalogue, --candidate, the toolchains' current sources."""

from __future__ import annotations

import pytest

from unstall.errors import ConfigError, UsageError
from unstall.mirrors.catalogue import current_sources, load_catalogue, merge, parse_candidate
from unstall.mirrors.model import Candidate, Ecosystem


def test_the_shipped_catalogue_has_mirrors_and_a_sample_for_every_ecosystem() -> None:
    mirrors, samples = load_catalogue()
    assert set(samples) == set(Ecosystem)
    for ecosystem in Ecosystem:
        found = [m for m in mirrors if m.ecosystem is ecosystem]
        assert len(found) >= 2
        assert all(m.url.startswith("https://") and not m.url.endswith("/") for m in found)
    assert len({(m.ecosystem, m.url) for m in mirrors}) == len(mirrors)


def test_a_malformed_catalogue_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        load_catalogue('[[mirror]]\necosystem = "cobol"\nurl = "https://x.example.test"\n')


def test_candidate_flags() -> None:
    go = parse_candidate("go=https://m.example.test/", list(Ecosystem))
    assert go == Candidate("https://m.example.test", Ecosystem.GO, "--candidate")
    assert parse_candidate("https://p.example.test/simple/", [Ecosystem.PIP]).ecosystem is (
        Ecosystem.PIP
    )
    with pytest.raises(UsageError):
        parse_candidate("https://m.example.test", list(Ecosystem))  # which ecosystem?
    with pytest.raises(UsageError):
        parse_candidate("go=ftp://m.example.test", list(Ecosystem))


def test_current_sources_come_from_the_toolchains_and_merge_keeps_them_first() -> None:
    current = current_sources(
        {"GOPROXY": "https://a.example.test|https://b.example.test,direct"},
        {"PIP_INDEX_URL": "https://p.example.test/simple/"},
        lambda argv: "https://n.example.test/\n" if argv[0] == "npm" else None,
    )
    assert [(c.url, c.ecosystem, c.origin) for c in current] == [
        ("https://a.example.test", Ecosystem.GO, "current"),
        ("https://b.example.test", Ecosystem.GO, "current"),
        ("https://p.example.test/simple", Ecosystem.PIP, "current"),
        ("https://n.example.test", Ecosystem.NPM, "current"),
    ]
    catalogue = [Candidate("https://a.example.test", Ecosystem.GO, "catalogue")]
    merged = merge([current, catalogue], [Ecosystem.GO])
    assert [(c.url, c.origin) for c in merged] == [
        ("https://a.example.test", "current"),
        ("https://b.example.test", "current"),
    ]
