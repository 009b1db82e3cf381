"""Fingerprints: the same failure gets the same group whatever varies between occurrences."""

from __future__ import annotations

import pytest

from unstall.observe.fingerprint import fingerprint, group_id, normalize


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # Two mirrors, two ports: one failure.
        (
            "GET https://127.0.0.5:8443/example.test/a/@v/list: connection refused",
            "GET http://mirror.example.test:3000/example.test/a/@v/list: connection refused",
        ),
        # Temp paths and pids.
        (
            "open /tmp/unstall-abc123/zip.partial: no space left on device (pid 4411)",
            "open /tmp/unstall-x9y8/zip.partial: no space left on device (pid 17)",
        ),
        # Versions, including pseudo-versions and +incompatible.
        (
            "example.test/a@v1.2.3: verifying module: checksum mismatch",
            "example.test/a@v0.0.0-20240101120000-abcdef123456: verifying module: "
            "checksum mismatch",
        ),
        (
            "example.test/a@v2.0.0+incompatible: 410 Gone",
            "example.test/a@v2.1.7: 410 Gone",
        ),
        # go.sum hashes, durations, addresses with ports.
        (
            f"downloaded: h1:{'A' * 43}= go.sum: h1:{'B' * 43}=",
            f"downloaded: h1:{'C' * 43}= go.sum: h1:{'D' * 43}=",
        ),
        (
            "dial tcp 10.0.0.1:443: i/o timeout after 5.0s",
            "dial tcp 192.168.7.9:8080: i/o timeout after 30s",
        ),
        (
            "dial tcp [2001:db8::1]:443: connect: network is unreachable",
            "dial tcp [fd00::7]:22: connect: network is unreachable",
        ),
        (
            "2026-11-28T13:24:40Z worker 7 stalled",
            "2025-01-02 03:04:05 worker 12 stalled",
        ),
    ],
)
def test_what_varies_between_occurrences_does_not_split_a_group(first: str, second: str) -> None:
    assert fingerprint(first) == fingerprint(second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("connection refused", "connection reset by peer"),
        ("example.test/a@v1.0.0: 404 Not Found", "example.test/b@v1.0.0: 404 Not Found"),
        ("E: Unable to locate package foo", "E: Unable to locate package bar"),
    ],
)
def test_different_failures_are_different_groups(first: str, second: str) -> None:
    assert fingerprint(first)[0] != fingerprint(second)[0]


def test_normalised_text_reads_as_a_pattern() -> None:
    message = "GET https://127.0.0.1:9/x/@v/v1.2.3.zip: stalled 5.0s after 1048576 bytes"
    assert normalize(message) == "GET <url><path>: stalled <n>s after <n> bytes"


def test_known_host_names_are_replaced_longest_first() -> None:
    assert normalize("web10 and web1 failed", ["web1", "web10"]) == "<host> and <host> failed"


def test_group_id_is_a_short_stable_digest() -> None:
    assert group_id("connection refused") == group_id("connection refused")
    assert len(group_id("x")) == 12
    assert fingerprint("connection refused") == (
        group_id("connection refused"),
        "connection refused",
    )
