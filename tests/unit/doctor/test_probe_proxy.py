"""Which proxy a probed URL goes through: the environment as go and curl read it."""

from __future__ import annotations

import base64
from collections.abc import Mapping

import pytest

from unstall.doctor.model import ProbeFailure
from unstall.doctor.probe import ProbeOptions
from unstall.doctor.probe.proxy import bypasses, parse_proxy, proxy_for

CORP = "http://proxy.example.test:3128"


def _host(
    scheme: str,
    host: str,
    port: int,
    *,
    environ: Mapping[str, str] | None = None,
    proxy: str | None = None,
) -> str | None:
    options = ProbeOptions(environ=environ or {}, proxy=proxy)
    found = proxy_for(scheme, host, port, options)
    return None if found is None else f"{found.scheme}://{found.host}:{found.port}"


@pytest.mark.parametrize(
    ("environ", "scheme", "expected"),
    [
        ({"HTTPS_PROXY": CORP}, "https", CORP),
        ({"https_proxy": CORP}, "https", CORP),
        ({"HTTPS_PROXY": CORP}, "http", None),
        ({"HTTP_PROXY": CORP}, "http", CORP),
        ({"http_proxy": CORP}, "https", None),
        ({"ALL_PROXY": CORP}, "https", CORP),
        ({"all_proxy": CORP}, "http", CORP),
        ({"HTTPS_PROXY": "", "ALL_PROXY": CORP}, "https", CORP),
        ({"HTTPS_PROXY": "proxy.example.test:8080"}, "https", "http://proxy.example.test:8080"),
        ({"HTTPS_PROXY": "https://proxy.example.test"}, "https", "https://proxy.example.test:443"),
        ({}, "https", None),
    ],
)
def test_the_scheme_picks_the_variable(
    environ: dict[str, str], scheme: str, expected: str | None
) -> None:
    assert _host(scheme, "mirror.example.test", 443, environ=environ) == expected


def test_the_option_wins_over_the_environment_and_no_proxy() -> None:
    environ = {"HTTPS_PROXY": CORP, "NO_PROXY": "*"}
    chosen = _host("https", "mirror.example.test", 443, proxy="http://other.example.test:8080")
    assert chosen == "http://other.example.test:8080"
    assert _host("https", "mirror.example.test", 443, environ=environ) is None


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "bypassed"),
    [
        ("*", "mirror.example.test", 443, True),
        ("example.test", "mirror.example.test", 443, True),
        ("example.test", "example.test", 443, True),
        (".example.test", "mirror.example.test", 443, True),
        ("*.example.test", "mirror.example.test", 443, True),
        ("example.test", "badexample.test", 443, False),
        ("other.test, example.test", "mirror.example.test", 443, True),
        ("other.test example.test", "mirror.example.test", 443, True),
        ("MIRROR.example.test", "mirror.example.test", 443, True),
        ("mirror.example.test:8443", "mirror.example.test", 443, False),
        ("mirror.example.test:443", "mirror.example.test", 443, True),
        ("127.0.0.1", "127.0.0.1", 8080, True),
        ("127.0.0.1", "127.0.0.2", 8080, False),
        ("127.0.0.0/8", "127.0.0.9", 8080, True),
        ("10.0.0.0/8", "127.0.0.9", 8080, False),
        ("[::1]:8080", "::1", 8080, True),
        ("::1", "::1", 8080, True),
        ("", "mirror.example.test", 443, False),
    ],
)
def test_no_proxy_entries(no_proxy: str, host: str, port: int, bypassed: bool) -> None:
    assert bypasses(no_proxy, host, port) is bypassed


def test_lowercase_no_proxy_counts_too() -> None:
    environ = {"https_proxy": CORP, "no_proxy": ".example.test"}
    assert _host("https", "mirror.example.test", 443, environ=environ) is None


def test_credentials_become_basic_authorization_and_are_hidden() -> None:
    proxy = parse_proxy("http://corp%5Cjane:p%40ss@proxy.example.test:3128")
    assert proxy.authorization == "Basic " + base64.b64encode(b"corp\\jane:p@ss").decode()
    assert "p%40ss" not in proxy.shown
    assert proxy.shown == "http://***@proxy.example.test:3128"


def test_a_socks_proxy_cannot_be_probed() -> None:
    with pytest.raises(ProbeFailure) as caught:
        parse_proxy("socks5://proxy.example.test:1080")
    assert caught.value.cause == "proxy-protocol"
