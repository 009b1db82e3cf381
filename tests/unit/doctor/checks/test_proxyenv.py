"""Proxy variables: what is set, case conflicts, and malformed URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.doctor.checks import by_id, make_context
from unstall.doctor.checks.proxyenv import check_proxy_env, show_proxy
from unstall.doctor.model import Check, CheckStatus


def _run(tmp_path: Path, **environ: str) -> list[Check]:
    return check_proxy_env(make_context(tmp_path, environ=environ))


def test_nothing_set_is_ok(tmp_path: Path) -> None:
    checks = _run(tmp_path)

    assert checks == [Check("proxy-env", CheckStatus.OK, "no proxy variables are set")]


def test_both_cases_are_reported_and_credentials_hidden(tmp_path: Path) -> None:
    checks = _run(
        tmp_path,
        https_proxy="http://user:pw@127.0.0.1:3128",
        HTTP_PROXY="http://127.0.0.1:3129",
        all_proxy="socks5://127.0.0.1:1080",
        NO_PROXY="localhost,.example.test",
    )

    check = by_id(checks, "proxy-env")
    assert check.status is CheckStatus.INFO
    assert check.message == (
        "HTTP_PROXY=http://127.0.0.1:3129; https_proxy=http://***@127.0.0.1:3128; "
        "all_proxy=socks5://127.0.0.1:1080; NO_PROXY=localhost,.example.test"
    )
    assert all("pw" not in c.message + c.fix for c in checks)


def test_the_same_value_in_both_cases_is_no_conflict(tmp_path: Path) -> None:
    checks = _run(
        tmp_path, HTTPS_PROXY="http://127.0.0.1:3128", https_proxy="http://127.0.0.1:3128"
    )

    assert [c.id for c in checks] == ["proxy-env"]
    assert "HTTPS_PROXY/https_proxy=http://127.0.0.1:3128" in checks[0].message


def test_upper_and_lower_case_that_differ_warn(tmp_path: Path) -> None:
    checks = _run(
        tmp_path, HTTPS_PROXY="http://127.0.0.1:3128", https_proxy="http://127.0.0.2:8080"
    )

    check = by_id(checks, "proxy-case-https-proxy")
    assert check.status is CheckStatus.WARN
    assert "127.0.0.1:3128" in check.message
    assert "127.0.0.2:8080" in check.message
    assert "programs differ in which one they read" in check.message
    assert "go reads HTTPS_PROXY first" in check.message
    assert check.fix.startswith('export https_proxy="$HTTPS_PROXY"')


def test_no_proxy_conflicts_are_found_too(tmp_path: Path) -> None:
    checks = _run(tmp_path, NO_PROXY="localhost", no_proxy="localhost,.corp")

    assert by_id(checks, "proxy-case-no-proxy").status is CheckStatus.WARN


def test_a_proxy_without_scheme_warns_and_keeps_credentials_out_of_sight(tmp_path: Path) -> None:
    checks = _run(tmp_path, HTTPS_PROXY="user:pw@127.0.0.1:3128")

    check = by_id(checks, "proxy-url-https-proxy")
    assert check.status is CheckStatus.WARN
    assert "no scheme" in check.message
    assert check.fix == 'export HTTPS_PROXY="http://$HTTPS_PROXY"'
    assert all("pw" not in c.message + c.fix for c in checks)


@pytest.mark.parametrize(
    "value",
    ["http://127.0.0.1:31x8", "http://127.0.0.1:99999", "http://127.0.0.1:0", "http://:3128"],
)
def test_an_unusable_port_or_host_fails(tmp_path: Path, value: str) -> None:
    check = by_id(_run(tmp_path, HTTP_PROXY=value), "proxy-url-http-proxy")

    assert check.status is CheckStatus.FAIL
    assert check.fix.startswith("export HTTP_PROXY=http://")


def test_a_scheme_go_cannot_use_warns(tmp_path: Path) -> None:
    check = by_id(_run(tmp_path, HTTPS_PROXY="socks4://127.0.0.1:1080"), "proxy-url-https-proxy")

    assert check.status is CheckStatus.WARN
    assert "go cannot use a socks4:// proxy" in check.message


def test_all_proxy_takes_the_schemes_curl_takes(tmp_path: Path) -> None:
    checks = _run(tmp_path, ALL_PROXY="socks4://127.0.0.1:1080", HTTPS_PROXY="http://127.0.0.1:1")
    bogus = _run(tmp_path, ALL_PROXY="gopher://127.0.0.1:1080", HTTPS_PROXY="http://127.0.0.1:1")

    assert [c.id for c in checks] == ["proxy-env"]
    assert "curl cannot use a gopher:// proxy" in by_id(bogus, "proxy-url-all-proxy").message


def test_all_proxy_alone_is_ignored_by_go(tmp_path: Path) -> None:
    check = by_id(_run(tmp_path, all_proxy="http://127.0.0.1:3128"), "proxy-all-only")

    assert check.status is CheckStatus.WARN
    assert "go does not read it" in check.message
    assert check.fix == 'export HTTPS_PROXY="${ALL_PROXY:-$all_proxy}"'


def test_an_all_proxy_conflict_makes_no_claim_about_go(tmp_path: Path) -> None:
    checks = _run(
        tmp_path,
        ALL_PROXY="http://127.0.0.1:1",
        all_proxy="http://127.0.0.1:2",
        HTTPS_PROXY="http://127.0.0.1:3",
    )

    check = by_id(checks, "proxy-case-all-proxy")
    assert "go" not in check.message.split("(", 1)[1]
    assert "Python's urllib and pip prefer all_proxy" in check.message


@pytest.mark.parametrize(
    "value", ["http://127.0.0.1:3128", "https://127.0.0.1", "socks5h://127.0.0.1:1080"]
)
def test_well_formed_proxies_raise_nothing(tmp_path: Path, value: str) -> None:
    assert [c.id for c in _run(tmp_path, HTTPS_PROXY=value)] == ["proxy-env"]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("http://u:p@127.0.0.1:1", "http://***@127.0.0.1:1"),
        ("u:p@127.0.0.1:1", "***@127.0.0.1:1"),
        ("http://127.0.0.1:1", "http://127.0.0.1:1"),
    ],
)
def test_show_proxy_hides_credentials_with_or_without_scheme(value: str, shown: str) -> None:
    assert show_proxy(value) == shown
