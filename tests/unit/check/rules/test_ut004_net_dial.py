"""UT004 net-dial-no-timeout: what it flags, what it leaves alone, and its fixes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.check.rules.helpers import assert_valid_go, fixed, imported
from unstall.check.model import Finding
from unstall.check.parse import parse_go
from unstall.check.rules.ut004_net_dial import RULE
from unstall.config import CheckTimeouts

TIMEOUTS = CheckTimeouts()


def check(source: str) -> list[Finding]:
    return list(RULE.check(parse_go(Path("main.go"), source.encode()), TIMEOUTS))


NET_DIAL = """package main

import "net"

func connect(addr string) (net.Conn, error) {
	return net.Dial("tcp", addr)
}
"""


def test_net_dial_tcp_is_flagged_with_position_and_message() -> None:
    [finding] = check(NET_DIAL)
    assert finding.rule == "UT004"
    assert (finding.line, finding.column) == (6, 9)
    assert (finding.end_line, finding.end_column) == (6, 30)
    assert "net.Dial has no timeout" in finding.message
    assert "DialTimeout" in finding.message


def test_net_dial_fix_uses_dial_timeout_and_adds_time_import() -> None:
    [finding] = check(NET_DIAL)
    assert finding.fix is not None
    assert finding.fix.safe
    assert finding.fix.imports == ("time",)
    text = fixed(NET_DIAL, finding)
    assert 'net.DialTimeout("tcp", addr, 10*time.Second)' in text.replace(" * ", "*")
    assert "time" in imported(text)
    assert_valid_go(text)
    assert check(text) == []  # a second pass finds nothing


@pytest.mark.parametrize("network", ["tcp4", "tcp6", "udp", "udp4", "udp6"])
def test_every_ip_network_is_flagged(network: str) -> None:
    assert len(check(NET_DIAL.replace('"tcp"', f'"{network}"'))) == 1


@pytest.mark.parametrize(
    "network", ['"unix"', '"unixgram"', '"unixpacket"', "network", '"ip4:icmp"']
)
def test_unix_sockets_and_unknown_networks_are_not_flagged(network: str) -> None:
    assert check(NET_DIAL.replace('"tcp"', network)) == []


def test_dial_timeout_and_dialer_are_not_flagged() -> None:
    source = """package main

import (
	"net"
	"time"
)

func connect(addr string) {
	net.DialTimeout("tcp", addr, time.Second)
	d := net.Dialer{Timeout: time.Second}
	d.Dial("tcp", addr)
}
"""
    assert check(source) == []


def test_a_local_variable_named_net_is_not_the_package() -> None:
    source = """package main

type dialer struct{}

func (dialer) Dial(network, addr string) {}

func connect(net dialer) {
	net.Dial("tcp", "127.0.0.1:1")
}
"""
    assert check(source) == []


def test_aliased_imports_are_matched_and_reused_by_the_fix() -> None:
    source = """package main

import (
	stdnet "net"
	clock "time"
)

var _ = clock.Now

func connect() {
	stdnet.Dial("udp", "127.0.0.1:53")
}
"""
    [finding] = check(source)
    assert "stdnet.Dial" in finding.message
    assert finding.fix is not None
    assert finding.fix.imports == ()
    text = fixed(source, finding)
    assert 'stdnet.DialTimeout("udp", "127.0.0.1:53", 10 * clock.Second)' in text
    assert_valid_go(text)


def test_multiline_call_with_trailing_comma_stays_valid() -> None:
    source = """package main

import "net"

func connect(addr string) {
	net.Dial(
		"tcp",
		addr,
	)
}
"""
    [finding] = check(source)
    text = fixed(source, finding)
    assert "net.DialTimeout(" in text
    assert "10 * time.Second," in text
    assert_valid_go(text)


TLS_DIAL = """package main

import "crypto/tls"

func connect(addr string) (*tls.Conn, error) {
	return tls.Dial("tcp", addr, &tls.Config{})
}
"""


def test_tls_dial_is_flagged_and_fixed_with_a_dialer() -> None:
    [finding] = check(TLS_DIAL)
    assert (finding.line, finding.column) == (6, 9)
    assert "tls.Dial has no timeout" in finding.message
    assert finding.fix is not None
    assert finding.fix.safe
    assert set(finding.fix.imports) == {"net", "time"}
    text = fixed(TLS_DIAL, finding)
    assert (
        'tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{})'
        in text
    )
    assert_valid_go(text)
    assert check(text) == []


def test_tls_dial_over_unix_is_not_flagged() -> None:
    assert check(TLS_DIAL.replace('"tcp"', '"unix"')) == []


def test_configured_timeout_is_used() -> None:
    [finding] = list(
        RULE.check(
            parse_go(Path("main.go"), NET_DIAL.encode()),
            CheckTimeouts(net_dial="3 * time.Second"),
        )
    )
    assert "3 * time.Second" in fixed(NET_DIAL, finding)


@pytest.mark.parametrize(
    "source",
    [
        "",
        'package main\nimport "net"\nfunc f() { net.Dial( }',
        'package main\nimport "net"\nfunc f() { net.Dial() }',
        'package main\nimport "net"\nfunc f() { net.Dial(args...) }',
        'package main\nimport "crypto/tls"\nfunc f() { tls.Dial("tcp") }',
        'package main\nimport "net"\nfunc f() { (net.Dial)("tcp", a) }',
    ],
)
def test_odd_input_does_not_raise(source: str) -> None:
    check(source)
