"""resolv.conf: nameservers, local stubs, search domains and how long lookups can stall."""

from __future__ import annotations

from pathlib import Path

from tests.unit.doctor.checks import by_id, make_context
from unstall.doctor.checks.resolver import check_resolver, parse_resolv_conf
from unstall.doctor.model import Check, CheckStatus


def _run(tmp_path: Path, text: str) -> list[Check]:
    return check_resolver(make_context(tmp_path, resolv_conf=text))


def test_parser_follows_go_rules() -> None:
    conf = parse_resolv_conf(
        "# comment\n"
        "; another\n"
        "nameserver 192.0.2.1\n"
        "nameserver not-an-ip\n"
        "nameserver fe80::1%eth0\n"
        "nameserver 192.0.2.3\n"
        "nameserver 192.0.2.4\n"
        "domain old.example.test\n"
        "search a.example.test b.example.test\n"
        "options ndots:40 timeout:0 attempts:3 rotate\n"
    )

    assert conf.nameservers == ["192.0.2.1", "fe80::1%eth0", "192.0.2.3"]
    assert conf.ignored == ["not-an-ip (not an IP address)", "192.0.2.4 (only 3 are used)"]
    assert conf.search == ["a.example.test", "b.example.test"]
    assert (conf.ndots, conf.timeout, conf.attempts) == (15, 1, 3)


def test_a_plain_configuration_is_ok_with_defaults(tmp_path: Path) -> None:
    checks = _run(tmp_path, "nameserver 192.0.2.53\n")

    assert [c.id for c in checks] == ["dns-nameservers", "dns-timeouts"]
    assert checks[0] == Check("dns-nameservers", CheckStatus.OK, "nameservers: 192.0.2.53")
    assert checks[1].status is CheckStatus.INFO
    assert "timeout:5 attempts:2" in checks[1].message
    assert "up to 10s" in checks[1].message


def test_no_nameserver_fails(tmp_path: Path) -> None:
    check = by_id(_run(tmp_path, "search example.test\n"), "dns-nameservers")

    assert check.status is CheckStatus.FAIL
    assert "names no usable nameserver" in check.message
    assert "nameserver <your DNS server's IP>" in check.fix


def test_a_missing_resolv_conf_fails(tmp_path: Path) -> None:
    context = make_context(tmp_path)
    context.resolv_conf.unlink()

    check = by_id(check_resolver(context), "dns-nameservers")

    assert check.status is CheckStatus.FAIL
    assert "cannot be read" in check.message


def test_ignored_nameserver_lines_warn(tmp_path: Path) -> None:
    check = by_id(
        _run(tmp_path, "nameserver 192.0.2.1\nnameserver dns.example.test\n"), "dns-nameservers"
    )

    assert check.status is CheckStatus.WARN
    assert "dns.example.test (not an IP address)" in check.message


def test_a_loopback_stub_resolver_is_noted(tmp_path: Path) -> None:
    check = by_id(_run(tmp_path, "nameserver 127.0.0.53\n"), "dns-local-resolver")

    assert check.status is CheckStatus.INFO
    assert "127.0.0.53" in check.message
    assert "resolvectl" in check.message


def test_search_domains_and_ndots_are_explained(tmp_path: Path) -> None:
    text = "nameserver 192.0.2.1\nsearch svc.example.test example.test\noptions ndots:5\n"

    check = by_id(_run(tmp_path, text), "dns-search")

    assert check.status is CheckStatus.INFO
    assert "svc.example.test example.test (ndots:5)" in check.message
    assert "up to 2 extra lookups" in check.message


def test_long_timeouts_warn_with_how_long_a_dead_resolver_stalls(tmp_path: Path) -> None:
    text = "nameserver 192.0.2.1\nnameserver 192.0.2.2\noptions timeout:10 attempts:3\n"

    check = by_id(_run(tmp_path, text), "dns-timeouts")

    assert check.status is CheckStatus.WARN
    assert "up to 60s" in check.message
    assert "options timeout:2 attempts:2" in check.fix
