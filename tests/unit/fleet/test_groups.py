"""Error fingerprints group hosts that failed the same way."""

from __future__ import annotations

from unstall.fleet.executor import Target
from unstall.fleet.groups import group_hosts
from unstall.fleet.states import HostState
from unstall.fleet.store import HostRecord
from unstall.observe.fingerprint import error_line, normalize


def record(
    name: str, state: HostState, tail: str = "", error: str | None = None, octet: int = 5
) -> HostRecord:
    target = Target(name, f"127.0.0.{octet}")
    code = 100 if state is HostState.FAILED else None
    return HostRecord(target, state, 1, code, 1.0, tail, error, None)


APT = (
    "Reading package lists...\n"
    "Building dependency tree...\n"
    "E: Unable to locate package foo\n"
    "E: Could not open lock file /var/lib/dpkg/lock-frontend\n"
)


def test_error_line_prefers_the_first_apt_error() -> None:
    assert error_line(APT) == "E: Unable to locate package foo"


def test_error_line_falls_back_to_error_words_then_the_last_line() -> None:
    assert error_line("step 1\nbuild failed at stage 2\ncleanup\n") == "build failed at stage 2"
    assert error_line("one\ntwo\n") == "two"
    assert error_line("", "connection refused") == "connection refused"


def test_normalize_replaces_what_varies_between_hosts() -> None:
    line = (
        "2026-11-28T12:00:01Z web17 (127.0.0.9:2222) pid 4711 commit 3fa9c0d1e2 "
        "cannot open /var/lib/dpkg/lock"
    )
    assert normalize(line, ["web17"]) == (
        "<time> <host> (<ip>) pid <n> commit <hex> cannot open <path>"
    )


def test_host_names_are_replaced_longest_first() -> None:
    assert normalize("web10 and web1 failed", ["web1", "web10"]) == "<host> and <host> failed"


def test_groups_are_largest_first_with_an_example() -> None:
    records = [
        record("web1", HostState.FAILED, APT),
        record("web2", HostState.FAILED, APT.replace("foo", "bar")),
        record("web3", HostState.FAILED, APT),
        record("web4", HostState.OK, "fine"),
        record("web5", HostState.UNREACHABLE, error="connection to web5 (127.0.0.5:22) refused"),
        record("web6", HostState.UNREACHABLE, error="connection to web6 (127.0.0.6:22) refused"),
        record("web7", HostState.FAILED, APT),
        record("web8", HostState.PENDING),
    ]
    groups = group_hosts(records)
    assert [(g.count, g.hosts) for g in groups] == [
        (3, ("web1", "web3", "web7")),
        (2, ("web5", "web6")),
        (1, ("web2",)),
    ]
    assert groups[0].fingerprint == "E: Unable to locate package foo"
    assert groups[0].example == "E: Unable to locate package foo"
    assert groups[1].fingerprint == "connection to <host> (<ip>) refused"
    assert groups[1].example == "connection to web5 (127.0.0.5:22) refused"


def test_all_ok_means_no_groups() -> None:
    assert group_hosts([record("a", HostState.OK, "E: not an error here")]) == []
