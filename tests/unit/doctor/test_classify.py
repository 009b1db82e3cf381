"""Classifying go's own error output onto the cause catalogue.

Every message below is in go's (or git's) real wording, with hosts under
example.test / fixture.test and addresses on 127.0.0.0/8.
"""

from __future__ import annotations

import pytest

from unstall.doctor.causes import CATALOGUE
from unstall.doctor.classify import Diagnosis, classify_go_output, classify_line

_GET = (
    'go: fixture.test/dep@v1.0.0: Get "https://proxy.example.test/fixture.test/dep/@v/v1.0.0.mod"'
)
_READ = "go: fixture.test/dep@v1.0.0: reading https://proxy.example.test/fixture.test/dep/@v/"
_SUMDB = (
    'go: fixture.test/dep@v1.0.0: verifying go.mod: fixture.test/dep@v1.0.0/go.mod: Get "'
    'https://sum.example.test/lookup/fixture.test/dep@v1.0.0"'
)
_GIT = "\tfatal: unable to access 'https://example.test/private/':"

# One realistic go message per pattern, and the cause it shows.
CASES: list[tuple[str, str]] = [
    (
        f"{_GET}: proxyconnect tcp: dial tcp 127.0.0.1:3128: connect: connection refused",
        "proxy-refused",
    ),
    (f"{_GET}: proxyconnect tcp: dial tcp 127.0.0.1:3128: i/o timeout", "proxy-timeout"),
    (
        f"{_GET}: proxyconnect tcp: tls: first record does not look like a TLS handshake",
        "proxy-protocol",
    ),
    (f"{_GET}: Proxy Authentication Required", "proxy-auth-required"),
    (
        f"{_GET}: proxyconnect tcp: dial tcp: lookup corp-proxy.example.test on "
        "127.0.0.53:53: no such host",
        "proxy-unreachable",
    ),
    (
        "go: fixture.test/dep@v1.0.0: verifying go.mod: invalid GOSUMDB: malformed verifier id",
        "gosumdb-invalid",
    ),
    ("verifying fixture.test/dep@v1.0.0: checksum mismatch", "checksum-mismatch"),
    ("SECURITY ERROR", "checksum-mismatch"),
    (
        "go: example.test/private@v1.0.0: verifying go.mod: example.test/private@v1.0.0/go.mod: "
        "reading https://sum.example.test/lookup/example.test/private@v1.0.0: 404 Not Found",
        "module-not-public",
    ),
    (
        "go: fixture.test/dep@v1.0.0: verifying go.mod: fixture.test/dep@v1.0.0/go.mod: reading "
        "http://127.0.0.1:46319/sumdb/sum.example.test/supported: 502 Bad Gateway",
        "sumdb-proxy-error",
    ),
    (f"{_SUMDB}: dial tcp 127.0.0.9:443: i/o timeout", "sumdb-unsupported"),
    (f"{_SUMDB}: dial tcp 127.0.0.9:443: connect: connection refused", "sumdb-unsupported"),
    ("go: fixture.test/dep@v1.0.0: module lookup disabled by GOPROXY=off", "goproxy-off"),
    (f"{_GET}: dial tcp: lookup proxy.example.test on 127.0.0.53:53: no such host", "dns-nxdomain"),
    (f"{_GIT} Could not resolve host: example.test", "dns-nxdomain"),
    (
        f"{_GET}: dial tcp: lookup proxy.example.test on 127.0.0.53:53: read udp "
        "127.0.0.1:40000->127.0.0.53:53: i/o timeout",
        "dns-timeout",
    ),
    (f"{_GET}: dial tcp: lookup proxy.example.test: i/o timeout", "dns-timeout"),
    (
        f"{_GET}: dial tcp: lookup proxy.example.test on 127.0.0.53:53: server misbehaving",
        "dns-error",
    ),
    (
        "\tfatal: could not read Username for 'https://example.test': terminal prompts disabled",
        "git-auth-required",
    ),
    (
        f"{_GIT} Failed to connect to example.test port 443 after 2 ms: Couldn't connect to server",
        "vcs-unreachable",
    ),
    (
        'go: example.test/private@v1.0.0: unrecognized import path "example.test/private": '
        "reading https://example.test/private?go-get=1: 404 Not Found",
        "vcs-unreachable",
    ),
    (
        "go: example.test/private@v1.0.0: invalid version: git ls-remote -q origin in "
        "/tmp/gopath/pkg/mod/cache/vcs/0a1b: exit status 128:",
        "vcs-unreachable",
    ),
    (f"{_GET}: dial tcp 127.0.0.2:443: connect: connection refused", "tcp-refused"),
    (f"{_GET}: dial tcp 127.0.0.2:443: i/o timeout", "tcp-timeout"),
    (f"{_GET}: dial tcp 127.0.0.2:443: connect: connection timed out", "tcp-timeout"),
    (f"{_GET}: dial tcp 127.0.0.2:443: connect: no route to host", "tcp-unreachable"),
    (f"{_GET}: dial tcp 127.0.0.2:443: connect: network is unreachable", "tcp-unreachable"),
    (
        f"{_GET}: read tcp 127.0.0.1:34784->127.0.0.2:443: read: connection reset by peer",
        "tcp-reset",
    ),
    (f"{_GET}: EOF", "tcp-reset"),
    (f"{_GET}: net/http: TLS handshake timeout", "tls-timeout"),
    (
        f"{_GET}: tls: failed to verify certificate: x509: certificate signed by unknown authority",
        "tls-untrusted",
    ),
    (f"{_GET}: x509: certificate has expired or is not yet valid", "tls-untrusted"),
    (f"{_GET}: http: server gave HTTP response to HTTPS client", "tls-plain-http"),
    (f"{_GET}: remote error: tls: handshake failure", "tls-error"),
    (f"{_GET}: net/http: timeout awaiting response headers", "http-timeout"),
    (
        'go: fixture.test/dep@v1.0.0: read "https://proxy.example.test/fixture.test/dep/@v/'
        'v1.0.0.zip": read tcp 127.0.0.1:40248->127.0.0.2:443: i/o timeout',
        "transfer-stall",
    ),
    (
        'go: fixture.test/dep@v1.0.0: read "https://proxy.example.test/fixture.test/dep/@v/'
        'v1.0.0.zip": unexpected EOF',
        "transfer-truncated",
    ),
    (
        'go: fixture.test/dep@v1.0.0: read "https://proxy.example.test/fixture.test/dep/@v/'
        'v1.0.0.zip": stream error: stream ID 7; INTERNAL_ERROR; received from peer',
        "transfer-truncated",
    ),
    ("go: flate: corrupt input before offset 75", "integrity-zip"),
    (
        "\tserver response: not found: fixture.test/dep@v1.9.9: invalid version: unknown "
        "revision v1.9.9",
        "version-missing",
    ),
    (f"{_READ}list: 404 Not Found", "version-missing"),
    (f"{_READ}v1.0.0.info: 410 Gone", "module-not-public"),
    (f"{_READ}v1.0.0.info: 418 I'm a Teapot", "mirror-deprecated"),
    (f"{_READ}v1.0.0.zip: 502 Bad Gateway", "http-server-error"),
    (f"{_READ}v1.0.0.zip: 429 Too Many Requests", "http-server-error"),
    (f"{_READ}v1.0.0.zip: 403 Forbidden", "http-client-error"),
    (
        "\tunstall: cause deadline-exceeded: Raise UNSTALL_TIMEOUTS__TOTAL, or add a faster "
        "mirror.",
        "deadline-exceeded",
    ),
]

# Lines go prints on the way, and failures that are not about fetching: no cause.
NEGATIVES = [
    "go: downloading fixture.test/dep v1.0.0",
    "go: finding module for package fixture.test/dep",
    "go: found fixture.test/dep in fixture.test/dep v1.0.0",
    "go: added fixture.test/dep v1.0.0",
    "main.go:3:8: no required module provides package fixture.test/missing; to add it:",
    "\tgo get fixture.test/missing",
    "./main.go:12:2: undefined: Println",
    "# example.test/main",
    "FAIL\texample.test/main [build failed]",
    "ok  \texample.test/main\t0.012s",
    "go: example.test/main@v0.0.0: go.mod has post-v0 module path",
    "\tdownloaded: h1:7pXWPZ+9EFxm/krtbbRA2XMNjL+YRBPqp6y9diJExqY=",
    "This download does NOT match an earlier download recorded in go.sum.",
    "For more information, see 'go help module-auth'.",
    "\tserver response:",
    "\tunstall: cause no-such-cause: whatever",
    "exit status 1",
    "",
]


@pytest.mark.parametrize(("line", "cause"), CASES)
def test_each_go_message_names_its_cause(line: str, cause: str) -> None:
    assert cause in CATALOGUE
    assert classify_line(line) == cause


@pytest.mark.parametrize("line", NEGATIVES)
def test_ordinary_lines_name_no_cause(line: str) -> None:
    assert classify_line(line) is None


def test_a_proxyconnect_refusal_is_the_proxy_not_the_target() -> None:
    line = f"{_GET}: proxyconnect tcp: dial tcp 127.0.0.1:3128: connect: connection refused"
    assert classify_line(line) == "proxy-refused"
    assert classify_line(line.replace("proxyconnect tcp: ", "")) == "tcp-refused"


def test_a_lookup_timeout_is_dns_not_tcp() -> None:
    assert classify_line(f"{_GET}: dial tcp: lookup proxy.example.test: i/o timeout") == (
        "dns-timeout"
    )
    assert classify_line(f"{_GET}: dial tcp 127.0.0.2:443: i/o timeout") == "tcp-timeout"


def test_a_proxys_own_fetch_failure_means_the_module_is_not_public() -> None:
    line = '\tnot found: module example.test/private: Get "https://example.test/private": ' + (
        "dial tcp: lookup example.test on 127.0.0.53:53: no such host"
    )
    assert classify_line(line) == "dns-nxdomain"
    assert classify_line(line, source="proxy") == "module-not-public"
    # unstall's own proxy relays its upstream's network failure: that is this machine's.
    assert classify_line(line, source="unstall") == "dns-nxdomain"
    prompt = (
        "\tfatal: could not read Username for 'https://example.test': terminal prompts disabled"
    )
    assert classify_line(prompt, source="unstall") == "module-not-public"


def _causes(text: str) -> list[str]:
    return [d.cause for d in classify_go_output(text)]


def test_private_module_behind_a_public_proxy() -> None:
    text = "\n".join(
        [
            f"{_READ}v1.0.0.info: 410 Gone".replace("fixture.test/dep", "example.test/private"),
            "\tserver response:",
            "\tnot found: example.test/private@v1.0.0: invalid version: git ls-remote -q "
            "origin in /tmp/vcs/0a1b: exit status 128:",
            "\t\tfatal: could not read Username for 'https://example.test': terminal prompts "
            "disabled",
        ]
    )
    [diagnosis] = classify_go_output(text)
    assert diagnosis.cause == "module-not-public"
    assert diagnosis.layer == "config"
    assert diagnosis.explanation == CATALOGUE["module-not-public"].explanation
    assert "go env -w GOPRIVATE=example.test/*" in diagnosis.fix
    assert "terminal prompts disabled" in diagnosis.line


def test_the_detail_under_a_bare_status_explains_it() -> None:
    text = (
        f"{_READ}v1.9.9.info: 410 Gone\n"
        "\tserver response: not found: fixture.test/dep@v1.9.9: invalid version: unknown "
        "revision v1.9.9"
    )
    [diagnosis] = classify_go_output(text)
    assert diagnosis.cause == "version-missing"
    assert "go list -m -versions fixture.test/dep" in diagnosis.fix


def test_unknown_host_at_a_public_proxy_is_a_private_module_not_local_dns() -> None:
    text = (
        f"{_READ}list: 404 Not Found\n"
        "\tserver response:\n"
        '\tnot found: module example.test/x: unrecognized import path "example.test/x": '
        'https fetch: Get "https://example.test/x?go-get=1": dial tcp: lookup example.test '
        "on 127.0.0.53:53: no such host"
    )
    assert _causes(text) == ["module-not-public"]


def test_unstalls_relayed_failure_is_read_as_this_machines_network() -> None:
    text = (
        "go: fixture.test/dep@v1.0.0: reading http://127.0.0.1:35151/fixture.test/dep/@v/"
        "v1.0.0.mod: 502 Bad Gateway\n"
        "\tserver response:\n"
        "\tfixture.test/dep@v1.0.0 .mod: http://127.0.0.7:37827: connection refused: All "
        "connection attempts failed\n"
        "\tunstall: cause tcp-refused: Check the port and that the mirror or proxy is running."
    )
    assert _causes(text) == ["tcp-refused"]


def test_unstalls_stated_cause_beats_a_bare_status() -> None:
    text = (
        "go: fixture.test/dep@v1.0.0: reading http://127.0.0.1:35151/fixture.test/dep/@v/"
        "v1.0.0.zip: 504 Gateway Timeout\n"
        "\tserver response:\n"
        "\tfixture.test/dep@v1.0.0 .zip: no answer within the total deadline\n"
        "\tunstall: cause deadline-exceeded: Raise UNSTALL_TIMEOUTS__TOTAL, or add a faster "
        "mirror."
    )
    assert _causes(text) == ["deadline-exceeded"]


def test_direct_git_credentials_name_the_host() -> None:
    text = (
        "go: example.test/private@v1.0.0: invalid version: git ls-remote -q origin in "
        "/tmp/vcs/0a1b: exit status 128:\n"
        "\tfatal: could not read Username for 'https://example.test': terminal prompts "
        "disabled\n"
        "Confirm the import path was entered correctly."
    )
    [diagnosis] = classify_go_output(text)
    assert diagnosis.cause == "git-auth-required"
    assert diagnosis.layer == "vcs"
    assert 'url."ssh://git@example.test/".insteadOf "https://example.test/"' in diagnosis.fix


def test_security_error_is_one_checksum_mismatch() -> None:
    text = "\n".join(
        [
            "verifying fixture.test/dep@v1.0.0: checksum mismatch",
            "\tdownloaded: h1:7pXWPZ+9EFxm/krtbbRA2XMNjL+YRBPqp6y9diJExqY=",
            "\tgo.sum:     h1:G3alLPvc1IfGeZALVLWy8Nv4Hi4bHnLnVAh2vHCkmTo=",
            "",
            "SECURITY ERROR",
            "This download does NOT match an earlier download recorded in go.sum.",
        ]
    )
    [diagnosis] = classify_go_output(text)
    assert diagnosis.cause == "checksum-mismatch"
    assert diagnosis.line == "verifying fixture.test/dep@v1.0.0: checksum mismatch"


def test_distinct_causes_in_order_of_first_appearance() -> None:
    text = "\n".join(
        [
            "go: downloading fixture.test/a v1.0.0",
            f"{_GET}: net/http: TLS handshake timeout",
            f"{_GET}: dial tcp 127.0.0.2:443: connect: connection refused",
            f"{_GET}: net/http: TLS handshake timeout",
            "go: fixture.test/b@v1.0.0: module lookup disabled by GOPROXY=off",
        ]
    )
    assert _causes(text) == ["tls-timeout", "tcp-refused", "goproxy-off"]


def test_the_matched_line_is_redacted() -> None:
    line = (
        'go: fixture.test/dep@v1.0.0: Get "https://alice:s3cret@proxy.example.test/'
        'fixture.test/dep/@v/v1.0.0.mod": dial tcp 127.0.0.2:443: i/o timeout'
    )
    [diagnosis] = classify_go_output(line)
    assert diagnosis == Diagnosis(
        cause="tcp-timeout",
        line=line.replace("alice:s3cret", "***"),
        explanation=CATALOGUE["tcp-timeout"].explanation,
        fix=CATALOGUE["tcp-timeout"].fix,
    )


def test_a_fix_keeps_its_placeholder_when_no_module_is_named() -> None:
    [diagnosis] = classify_go_output(
        "go: module example.test/x: reading https://proxy.example.test/example.test/x/@v/list: "
        "410 Gone"
    )
    assert "GOPRIVATE=<host>/*" in diagnosis.fix


def test_output_without_failures_has_no_diagnosis() -> None:
    assert classify_go_output("") == []
    assert classify_go_output("\n".join(NEGATIVES)) == []


def test_output_of_a_program_go_ran_is_not_gos_failure() -> None:
    text = "\n".join(
        [
            "2024/05/01 12:00:00 dial tcp 127.0.0.1:5432: connect: connection refused",
            'panic: Get "https://api.example.test/v1": net/http: TLS handshake timeout',
            "",
            "goroutine 1 [running]:",
            "exit status 2",
        ]
    )
    assert classify_go_output(text) == []
    # The same words in go's own record are go's failure.
    assert _causes(f"{_GET}: dial tcp 127.0.0.2:443: connect: connection refused") == [
        "tcp-refused"
    ]


def test_a_build_names_the_failing_import_first() -> None:
    text = (
        "main.go:4:2: fixture.test/dep@v1.0.0: reading http://127.0.0.1:45715/fixture.test/"
        "dep/@v/v1.0.0.zip: 418 I'm a Teapot"
    )
    assert _causes(text) == ["mirror-deprecated"]
