"""The layered probes against real failures built on loopback, one layer at a time.

Every server is real (tests/support/netfaults.py, tests/support/dnsserver.py) and listens
on 127.0.0.0/8; URLs are IP literals except in the DNS tests, which bring their own DNS
server and an empty hosts file, so nothing reaches the system resolver or the internet.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.dnsserver import DnsServer
from tests.support.faults import StallBody, Status, Trickle
from tests.support.modfactory import ModuleSet, make_module
from tests.support.netfaults import (
    BODY_PATH,
    Authority,
    HttpProxy,
    ProxyAnswer,
    probe_upstream,
)
from tests.support.upstream import FakeUpstream
from unstall.doctor.causes import cause_for
from unstall.doctor.model import Source, SourceKind, SourceReport, Verdict
from unstall.doctor.probe import ProbeOptions, probe_source, probe_sources

TIMEOUT = 0.5  # each phase's deadline: short, the suite stays fast
SUMDB_SUPPORTED = "/sumdb/sum.example.test/supported"
NTLM_AND_BASIC = ProxyAnswer(
    407, [("Proxy-Authenticate", "NTLM"), ("Proxy-Authenticate", 'Basic realm="corp"')]
)


def probe(url: str, kind: SourceKind = SourceKind.URL, **options: Any) -> SourceReport:
    options.setdefault("timeout", TIMEOUT)
    return asyncio.run(probe_source(Source(url, kind), ProbeOptions(**options)))


def https(server: FakeUpstream, path: str = BODY_PATH) -> str:
    return f"https://{server.host}:{server.port}{path}"


def assert_finding(report: SourceReport, verdict: Verdict, cause: str) -> None:
    """Verdict, cause, the cause's own layer and fix: what the table shows."""
    assert (report.verdict, report.cause) == (verdict, cause), report
    assert report.layer == cause_for(cause).layer
    assert report.fix == cause_for(cause).fix


@pytest.fixture(scope="module")
def authority() -> Authority:
    return Authority()


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with probe_upstream() as server:
        yield server


@pytest.fixture
def tls_upstream(authority: Authority) -> Iterator[FakeUpstream]:
    with probe_upstream(tls=authority.server_context()) as server:
        yield server


@pytest.fixture
def no_hosts(tmp_path: Path) -> Path:
    path = tmp_path / "hosts"
    path.write_text("# nothing here\n")
    return path


# -- TCP ---------------------------------------------------------------------------


def test_a_closed_port_is_refused() -> None:
    with probe_upstream(mode="refuse") as closed:
        report = probe(closed.url + "/")
    assert_finding(report, Verdict.FAIL, "tcp-refused")
    assert f"127.0.0.1:{closed.port} refused" in report.message
    assert report.phases.connect_ms is None


def test_a_full_accept_queue_times_out_the_connection() -> None:
    with probe_upstream(mode="no-accept", host="127.0.0.2") as dropping:
        report = probe(dropping.url + "/")
    assert_finding(report, Verdict.FAIL, "tcp-timeout")
    assert f"127.0.0.2:{dropping.port} timed out" in report.message


# -- TLS ---------------------------------------------------------------------------


def test_a_server_that_never_speaks_times_out_the_tls_handshake() -> None:
    with probe_upstream(mode="blackhole") as silent:
        report = probe(https(silent, "/"))
    assert_finding(report, Verdict.FAIL, "tls-timeout")
    assert report.phases.connect_ms is not None  # TCP got through, TLS did not
    assert report.phases.tls_ms is None


def test_a_server_that_never_speaks_times_out_the_http_request() -> None:
    with probe_upstream(mode="blackhole") as silent:
        report = probe(silent.url + "/")
    assert_finding(report, Verdict.FAIL, "http-timeout")
    assert "sent no response" in report.message
    assert report.phases.ttfb_ms is None


def test_an_untrusted_certificate_names_its_issuer(
    tls_upstream: FakeUpstream, authority: Authority
) -> None:
    # The default context is the system trust store, which does not know the test CA.
    report = probe(https(tls_upstream))
    assert_finding(report, Verdict.FAIL, "tls-untrusted")
    assert authority.subject in report.message
    assert "interception" in report.message
    assert tls_upstream.requests == []  # no request went to an unverified server


def test_a_trusted_certificate_passes_and_shows_the_tls_version(
    tls_upstream: FakeUpstream, authority: Authority
) -> None:
    report = probe(https(tls_upstream), ssl_context=authority.client_context)
    assert_finding(report, Verdict.OK, "ok")
    details = dict(report.details)
    assert details["tls"].startswith("TLSv1.")
    assert details["issuer"] == authority.subject
    assert report.phases.tls_ms is not None


def test_an_https_url_to_a_plain_http_server_says_so() -> None:
    # HttpProxy answers 400 to bytes that are not HTTP, as plain HTTP servers do.
    with HttpProxy() as plain:
        report = probe(f"https://127.0.0.1:{plain.port}/")
    assert_finding(report, Verdict.FAIL, "tls-plain-http")
    assert f"127.0.0.1:{plain.port}" in report.message


# -- proxy ---------------------------------------------------------------------------


@pytest.mark.parametrize("given", ["environ", "option"])
def test_a_proxy_asking_for_credentials_names_the_schemes_it_offers(
    tls_upstream: FakeUpstream, given: str
) -> None:
    with HttpProxy(NTLM_AND_BASIC) as proxy:
        if given == "environ":
            report = probe(https(tls_upstream), environ={"HTTPS_PROXY": proxy.url})
        else:
            report = probe(https(tls_upstream), proxy=proxy.url)
        seen = proxy.requests
    assert_finding(report, Verdict.FAIL, "proxy-auth-required")
    assert "NTLM, Basic" in report.message
    assert seen == [f"CONNECT 127.0.0.1:{tls_upstream.port} HTTP/1.1"]


def test_proxy_credentials_never_show(tls_upstream: FakeUpstream) -> None:
    with HttpProxy(NTLM_AND_BASIC) as proxy:
        secret = proxy.url.replace("http://", "http://corp%5Cjane:hunter2@")
        report = probe(https(tls_upstream), proxy=secret)
    assert_finding(report, Verdict.FAIL, "proxy-auth-required")
    shown = report.message + repr(report.details)
    assert "hunter2" not in shown
    assert "***@127.0.0.1" in shown


def test_a_closed_proxy_port_is_the_proxy_refusing(tls_upstream: FakeUpstream) -> None:
    with probe_upstream(mode="refuse") as closed:
        report = probe(https(tls_upstream), proxy=closed.url)
    assert_finding(report, Verdict.FAIL, "proxy-refused")
    assert f"proxy http://127.0.0.1:{closed.port}" in report.message


def test_a_proxy_name_that_does_not_resolve_is_the_proxy_unreachable(
    tls_upstream: FakeUpstream, no_hosts: Path
) -> None:
    with DnsServer() as dns:
        report = probe(
            https(tls_upstream),
            proxy="http://proxy.example.test:3128",
            dns_server=dns.address,
            hosts_file=no_hosts,
        )
        asked = dns.queries
    assert_finding(report, Verdict.FAIL, "proxy-unreachable")
    assert "proxy http://proxy.example.test:3128" in report.message
    assert "NXDOMAIN" in report.message
    assert ("proxy.example.test", "A") in asked


def test_a_proxy_that_never_answers_connect_times_out(tls_upstream: FakeUpstream) -> None:
    with HttpProxy("silent") as proxy:
        report = probe(https(tls_upstream), environ={"https_proxy": proxy.url})
    assert_finding(report, Verdict.FAIL, "proxy-timeout")
    assert "did not answer CONNECT" in report.message


def test_a_working_proxy_tunnels_to_the_tls_server(
    tls_upstream: FakeUpstream, authority: Authority
) -> None:
    with HttpProxy() as proxy:
        report = probe(
            https(tls_upstream),
            environ={"HTTPS_PROXY": proxy.url},
            ssl_context=authority.client_context,
        )
        seen = proxy.requests
    assert_finding(report, Verdict.OK, "ok")
    details = dict(report.details)
    assert details["CONNECT"].startswith("200")
    assert details["proxy"] == proxy.url
    assert seen == [f"CONNECT 127.0.0.1:{tls_upstream.port} HTTP/1.1"]


def test_no_proxy_covering_the_host_goes_direct(
    tls_upstream: FakeUpstream, authority: Authority
) -> None:
    with HttpProxy() as proxy:
        report = probe(
            https(tls_upstream),
            environ={"HTTPS_PROXY": proxy.url, "NO_PROXY": "localhost,127.0.0.1"},
            ssl_context=authority.client_context,
        )
        seen = proxy.requests
    assert_finding(report, Verdict.OK, "ok")
    assert seen == []
    assert "proxy" not in dict(report.details)


def test_an_https_proxy_tunnels_tls_inside_tls(
    tls_upstream: FakeUpstream, authority: Authority
) -> None:
    with HttpProxy(tls=authority.server_context()) as proxy:
        report = probe(https(tls_upstream), proxy=proxy.url, ssl_context=authority.client_context)
        seen = proxy.requests
    assert_finding(report, Verdict.OK, "ok")
    assert proxy.url.startswith("https://")
    assert dict(report.details)["proxy tls"].startswith("TLSv1.")
    assert len(seen) == 1


def test_an_https_proxy_url_for_a_plain_proxy_is_a_protocol_error(
    tls_upstream: FakeUpstream,
) -> None:
    with HttpProxy() as plain:
        wrong = plain.url.replace("http://", "https://")
        report = probe(https(tls_upstream), proxy=wrong)
        seen = plain.requests
    assert_finding(report, Verdict.FAIL, "proxy-protocol")
    assert "http://" in report.message
    assert seen == []  # it got a ClientHello, not a request


def test_an_http_url_goes_through_the_proxy_in_absolute_form(upstream: FakeUpstream) -> None:
    with HttpProxy() as proxy:
        report = probe(upstream.url + BODY_PATH, environ={"http_proxy": proxy.url})
        seen = proxy.requests
    assert_finding(report, Verdict.OK, "ok")
    assert seen == [f"GET {upstream.url}{BODY_PATH} HTTP/1.1"]
    assert upstream.count(BODY_PATH) == 1


# -- HTTP ----------------------------------------------------------------------------


def test_a_server_error_fails_the_http_layer() -> None:
    with probe_upstream(fault=Status(503)) as failing:
        report = probe(failing.url + BODY_PATH)
    assert_finding(report, Verdict.FAIL, "http-server-error")
    assert "503" in report.message
    assert report.phases.ttfb_ms is not None
    assert report.phases.transfer_ms is None


def test_a_module_proxy_root_answering_404_is_an_answer(upstream: FakeUpstream) -> None:
    as_goproxy = probe(upstream.url + "/", SourceKind.GOPROXY)
    as_pip = probe(upstream.url + "/", SourceKind.PIP)
    assert_finding(as_goproxy, Verdict.OK, "ok")
    assert dict(as_goproxy.details)["status"] == "404 Not Found"
    assert_finding(as_pip, Verdict.FAIL, "http-client-error")


def test_a_proxy_without_sumdb_support_fails_the_sumdb_source(upstream: FakeUpstream) -> None:
    report = probe(upstream.url + SUMDB_SUPPORTED, SourceKind.SUMDB)
    assert_finding(report, Verdict.FAIL, "sumdb-unsupported")
    assert "404" in report.message


def test_a_proxy_with_sumdb_support_passes_the_sumdb_source() -> None:
    with probe_upstream(sumdb=True) as proxying:
        report = probe(proxying.url + SUMDB_SUPPORTED, SourceKind.SUMDB)
    assert_finding(report, Verdict.OK, "ok")
    assert report.message.startswith("200 OK in ")


# -- transfer ------------------------------------------------------------------------


def test_a_body_that_stops_midway_is_a_stall() -> None:
    with probe_upstream(fault=StallBody(after_bytes=-1, seconds=30.0)) as stalling:
        report = probe(stalling.url + BODY_PATH)
    assert_finding(report, Verdict.FAIL, "transfer-stall")
    assert "stopped arriving" in report.message
    assert report.phases.transfer_ms is not None


def test_a_trickling_body_is_slow() -> None:
    # 100 bytes every 100 ms: 1 kB/s, half the minimum, for longer than the deadline.
    with probe_upstream(fault=Trickle(chunk_bytes=100, interval=0.1)) as trickling:
        report = probe(trickling.url + BODY_PATH)
    assert_finding(report, Verdict.SLOW, "transfer-slow")
    assert "still arriving" in report.message
    assert report.phases.throughput_kbps is not None
    assert 0 < report.phases.throughput_kbps < 2.048


def test_a_healthy_server_passes_every_layer(upstream: FakeUpstream) -> None:
    report = probe(upstream.url + BODY_PATH)
    assert_finding(report, Verdict.OK, "ok")
    phases = report.phases
    assert phases.dns_ms is None  # an IP literal needs no lookup
    assert phases.tls_ms is None  # http
    for reached in (phases.connect_ms, phases.ttfb_ms, phases.transfer_ms):
        assert reached is not None
    assert phases.throughput_kbps is not None
    assert phases.throughput_kbps > 0
    assert report.message.startswith("200 OK in ")
    assert "IP literal" in dict(report.details)["dns"]


def test_the_transfer_stops_after_transfer_bytes() -> None:
    # 4 MiB: far more than one read can return, however the kernel buffers it
    large = make_module("fixture.test/large", "v1.0.0", payload_size=4 << 20, seed=3)
    with FakeUpstream(ModuleSet([large])) as server:
        report = probe(f"{server.url}/{large.path}/@v/{large.version}.zip", transfer_bytes=1000)
    assert_finding(report, Verdict.OK, "ok")
    received = int(dict(report.details)["body"].split()[0])
    assert 1000 <= received < len(large.zip_bytes)


def test_samples_report_their_spread(upstream: FakeUpstream) -> None:
    report = probe(upstream.url + BODY_PATH, samples=3)
    assert_finding(report, Verdict.OK, "ok")
    details = dict(report.details)
    assert details["samples"] == "3"
    assert "connect_ms" in details["spread"]
    assert "median of 3" in report.message
    assert upstream.count(BODY_PATH) == 3


def test_sampling_stops_at_the_first_failure() -> None:
    with probe_upstream(fault=Status(503)) as failing:
        report = probe(failing.url + BODY_PATH, samples=3)
        asked = failing.count(BODY_PATH)
    assert_finding(report, Verdict.FAIL, "http-server-error")
    assert asked == 1
    assert dict(report.details)["samples"] == "stopped at sample 1 of 3"


# -- DNS -----------------------------------------------------------------------------


def test_a_name_that_does_not_exist_is_nxdomain(no_hosts: Path) -> None:
    with DnsServer({"mirror.example.test": ["127.0.0.1"]}) as dns:
        report = probe("http://missing.example.test/", dns_server=dns.address, hosts_file=no_hosts)
    assert_finding(report, Verdict.FAIL, "dns-nxdomain")
    assert "missing.example.test" in report.message


def test_a_resolver_that_never_answers_times_out(no_hosts: Path) -> None:
    with DnsServer(drop_all=True) as dns:
        report = probe("http://mirror.example.test/", dns_server=dns.address, hosts_file=no_hosts)
        asked = dns.queries
    assert_finding(report, Verdict.FAIL, "dns-timeout")
    assert ("mirror.example.test", "A") in asked


def test_a_failing_resolver_is_a_dns_error(no_hosts: Path) -> None:
    with DnsServer(servfail=["mirror.example.test"]) as dns:
        report = probe("http://mirror.example.test/", dns_server=dns.address, hosts_file=no_hosts)
    assert_finding(report, Verdict.FAIL, "dns-error")
    assert "SERVFAIL" in report.message


def test_a_resolved_name_reaches_the_server(upstream: FakeUpstream, no_hosts: Path) -> None:
    url = f"http://mirror.example.test:{upstream.port}{BODY_PATH}"
    with DnsServer({"mirror.example.test": ["127.0.0.1"]}) as dns:
        report = probe(url, dns_server=dns.address, hosts_file=no_hosts)
    assert_finding(report, Verdict.OK, "ok")
    assert report.phases.dns_ms is not None
    assert upstream.requests[0].headers["host"] == f"mirror.example.test:{upstream.port}"


def test_the_hosts_file_answers_before_the_resolver(upstream: FakeUpstream, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1  localhost\n127.0.0.1  mirror.example.test  # pinned\n")
    url = f"http://mirror.example.test:{upstream.port}{BODY_PATH}"
    with DnsServer(drop_all=True) as dns:
        report = probe(url, dns_server=dns.address, hosts_file=hosts)
        asked = dns.queries
    assert_finding(report, Verdict.OK, "ok")
    assert asked == []
    assert str(hosts) in dict(report.details)["dns"]


# -- many sources at once ------------------------------------------------------------


def test_sources_failing_at_every_layer_fail_together(authority: Authority, no_hosts: Path) -> None:
    with (
        probe_upstream(mode="no-accept", host="127.0.0.2") as dropping,
        probe_upstream(mode="blackhole") as silent,
        probe_upstream(fault=StallBody(after_bytes=-1, seconds=30.0)) as stalling,
        probe_upstream(mode="refuse") as closed,
        probe_upstream(fault=Status(502)) as failing,
        HttpProxy("silent", host="127.0.0.3") as mute_proxy,
        DnsServer(drop_all=True) as dns,
    ):
        expected = {
            dropping.url + "/": "tcp-timeout",
            https(silent, "/"): "tls-timeout",
            silent.url + "/": "http-timeout",
            "http://mirror.example.test/": "dns-timeout",
            stalling.url + BODY_PATH: "transfer-stall",
            # The only https URL not under NO_PROXY goes to the mute proxy.
            f"https://127.0.0.4:{closed.port}/": "proxy-timeout",
            closed.url + "/": "tcp-refused",
            failing.url + "/": "http-server-error",
        }
        options = ProbeOptions(
            timeout=1.0,
            dns_server=dns.address,
            hosts_file=no_hosts,
            environ={"HTTPS_PROXY": mute_proxy.url, "NO_PROXY": "127.0.0.1"},
        )
        started = time.monotonic()
        reports = asyncio.run(probe_sources([Source(url) for url in expected], options))
        took = time.monotonic() - started
    assert took < 10.0  # did not hang; the 1.5x bound itself is measured in bench/
    assert [r.url for r in reports] == list(expected)
    assert [r.cause for r in reports] == list(expected.values())
    assert {r.verdict for r in reports} == {Verdict.FAIL}


# -- several addresses ---------------------------------------------------------------


def test_every_address_is_tried_at_once_and_the_first_to_connect_wins(
    upstream: FakeUpstream, no_hosts: Path
) -> None:
    url = f"http://mirror.example.test:{upstream.port}{BODY_PATH}"
    records = {"mirror.example.test": ["127.0.0.6", "127.0.0.1"]}
    with (
        probe_upstream(mode="no-accept", host="127.0.0.6", port=upstream.port),
        DnsServer(records) as dns,
    ):
        report = probe(url, dns_server=dns.address, hosts_file=no_hosts)
    assert_finding(report, Verdict.OK, "ok")
    details = dict(report.details)
    assert details[f"tcp 127.0.0.1:{upstream.port}"].startswith("connected in")
    # Still waiting when the other connected: the attempts ran side by side.
    assert details[f"tcp 127.0.0.6:{upstream.port}"].startswith("abandoned")


def test_when_no_address_connects_each_failure_is_named(no_hosts: Path) -> None:
    with probe_upstream(mode="no-accept", host="127.0.0.6") as dropping:
        port = dropping.port
        records = {"mirror.example.test": ["127.0.0.6", "127.0.0.7"]}
        with DnsServer(records) as dns:
            report = probe(
                f"http://mirror.example.test:{port}/", dns_server=dns.address, hosts_file=no_hosts
            )
    # A refusal proves a host is there: it names the cause over the silent address.
    assert_finding(report, Verdict.FAIL, "tcp-refused")
    assert f"127.0.0.6:{port} timed out" in report.message
    assert f"127.0.0.7:{port} refused" in report.message
