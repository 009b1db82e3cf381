"""Reading the hosts file the way the system resolver does."""

from __future__ import annotations

from unstall.doctor.probe.dns import hosts_file_addresses, is_ip_literal

HOSTS = """\
127.0.0.1   localhost
::1         localhost ip6-localhost
# 10.0.0.1  mirror.example.test
10.0.0.2    Mirror.Example.Test mirror   # pinned mirror
not-an-ip   mirror.example.test
fe80::1%eth0 other.example.test
10.0.0.3    mirror.example.test.
10.0.0.2    mirror.example.test
"""


def test_every_address_of_a_name_in_file_order_once() -> None:
    assert hosts_file_addresses(HOSTS, "mirror.example.test") == ["10.0.0.2", "10.0.0.3"]
    assert hosts_file_addresses(HOSTS, "localhost") == ["127.0.0.1", "::1"]
    assert hosts_file_addresses(HOSTS, "mirror") == ["10.0.0.2"]


def test_comments_and_unknown_names_give_nothing() -> None:
    assert hosts_file_addresses(HOSTS, "example.test") == []
    assert hosts_file_addresses("", "localhost") == []


def test_ip_literals() -> None:
    assert is_ip_literal("127.0.0.1")
    assert is_ip_literal("::1")
    assert not is_ip_literal("mirror.example.test")
    assert not is_ip_literal("[::1]")
