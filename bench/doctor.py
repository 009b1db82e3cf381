"""Benchmark: how long `unstall doctor` takes when every source fails.

Eight loopback sources each fail in a different way, most of them by running into a
phase deadline (TCP connect, TLS handshake, first byte, a stalled body, a DNS server that
never answers, a proxy that never answers CONNECT), two at once (refused, 503). In one
run: `unstall doctor` probing all eight at once, against the same eight probed one after
another (one `unstall doctor --source` each). The target: the whole run within 1.5x the
per-phase `--timeout`. Run from the repository root::

    .venv/bin/python bench/doctor.py --reps 1
    .venv/bin/python bench/doctor.py --write-docs
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # `python bench/doctor.py` puts bench/ on the path, not the repository root.
    sys.path.insert(0, str(ROOT))

from tests.support.cli import run_unstall  # noqa: E402
from tests.support.dnsserver import DnsServer  # noqa: E402
from tests.support.faults import StallBody, Status  # noqa: E402
from tests.support.gocmd import go_environment  # noqa: E402
from tests.support.netfaults import BODY_PATH, HttpProxy, probe_upstream  # noqa: E402

from bench.docs import DOCS, write_section  # noqa: E402
from bench.go_download_report import provenance  # noqa: E402

SECTION_TITLE: Final = "## doctor: every source failing, at once and one after another"
TARGET: Final = 1.5
SILENT_NAME: Final = "stalled.example.test"


@dataclass(frozen=True)
class Scenario:
    """One failing source: its URL and the cause doctor must find."""

    url: str
    cause: str
    how: str


@dataclass
class Scenarios:
    """The eight sources and what the doctor command needs to reach them."""

    items: list[Scenario]
    dns_server: str
    environment: dict[str, str]


@contextlib.contextmanager
def failing_sources(home: Path) -> Iterator[Scenarios]:
    """Start the servers; yield the scenarios and the doctor environment that routes the
    one proxied source through the silent proxy and every other one directly."""
    with contextlib.ExitStack() as stack:
        no_accept = stack.enter_context(probe_upstream(mode="no-accept", host="127.0.0.2"))
        silent_tls = stack.enter_context(probe_upstream(mode="blackhole", host="127.0.0.3"))
        silent_http = stack.enter_context(probe_upstream(mode="blackhole"))
        stalling = stack.enter_context(
            probe_upstream(StallBody(after_bytes=16 * 1024, seconds=3600))
        )
        refused = stack.enter_context(probe_upstream(mode="refuse"))
        failing = stack.enter_context(probe_upstream(Status(503)))
        resolver = stack.enter_context(DnsServer(silent=[SILENT_NAME]))
        proxy = stack.enter_context(HttpProxy("silent"))
        items = [
            Scenario(no_accept.url + "/", "tcp-timeout", "a full accept queue (SYNs dropped)"),
            Scenario(
                silent_tls.url.replace("http://", "https://") + "/",
                "tls-timeout",
                "accepts, never speaks (https)",
            ),
            Scenario(silent_http.url + "/", "http-timeout", "accepts, never answers (http)"),
            Scenario(stalling.url + BODY_PATH, "transfer-stall", "half the body, then silence"),
            Scenario(f"http://{SILENT_NAME}:9/", "dns-timeout", "a DNS server that never answers"),
            Scenario("https://127.0.0.4:9/", "proxy-timeout", "a proxy that never answers CONNECT"),
            Scenario(refused.url + "/", "tcp-refused", "a closed port"),
            Scenario(failing.url + "/", "http-server-error", "503"),
        ]
        environment = go_environment(
            home,
            goproxy="off",
            extra={"HTTPS_PROXY": proxy.url, "NO_PROXY": "127.0.0.3"},
        )
        yield Scenarios(items, f"127.0.0.1:{resolver.port}", environment)


def doctor_run(scenarios: Scenarios, urls: Sequence[str], timeout: float, cwd: Path) -> float:
    """One `unstall doctor --json` over ``urls``; its wall time. Checks every verdict."""
    args = ["doctor", "--json", "--timeout", f"{timeout:g}", "--dns-server", scenarios.dns_server]
    for url in urls:
        args += ["--source", url]
    started = time.perf_counter()
    done = run_unstall(args, cwd=cwd, env=scenarios.environment, timeout=timeout * 20 + 60)
    seconds = time.perf_counter() - started
    if done.returncode != 1:
        raise RuntimeError(f"doctor exited {done.returncode}: {done.stderr[-2000:]}")
    expected = {s.url: s.cause for s in scenarios.items if s.url in urls}
    found = {s["url"]: s["cause"] for s in json.loads(done.stdout)["sources"]}
    if found != expected:
        raise RuntimeError(f"wrong verdicts: expected {expected}, got {found}")
    return seconds


@dataclass
class Rep:
    together: float
    one_by_one: list[float]

    @property
    def sequential(self) -> float:
        return sum(self.one_by_one)


def run(args: argparse.Namespace) -> tuple[list[Rep], list[Scenario]]:
    reps = []
    with tempfile.TemporaryDirectory(prefix="bench-doctor-") as tmp:
        home = Path(tmp)
        with failing_sources(home) as scenarios:
            urls = [s.url for s in scenarios.items]
            for rep in range(1, args.reps + 1):
                together = doctor_run(scenarios, urls, args.timeout, home)
                one_by_one = [doctor_run(scenarios, [u], args.timeout, home) for u in urls]
                reps.append(Rep(together, one_by_one))
                print(
                    f"[{rep}/{args.reps}] at once {together:.2f} s, one after another "
                    f"{sum(one_by_one):.2f} s",
                    file=sys.stderr,
                    flush=True,
                )
            items = scenarios.items
    return reps, items


def render(reps: Sequence[Rep], items: Sequence[Scenario], args: argparse.Namespace) -> str:
    together = statistics.median(r.together for r in reps)
    sequential = statistics.median(r.sequential for r in reps)
    worst = max(r.together for r in reps)
    ratio = together / args.timeout
    worst_sequential = max(r.sequential for r in reps)
    met = "met" if worst / args.timeout <= TARGET else "**not met**"
    per_source = [statistics.median(r.one_by_one[i] for r in reps) for i in range(len(items))]
    rows = "\n".join(
        f"| {s.how} | `{s.cause}` | {t:.2f} s |" for s, t in zip(items, per_source, strict=True)
    )
    return f"""{SECTION_TITLE}

{provenance()}
Eight loopback sources, each failing differently (servers from `tests/support/netfaults.py`
and `tests/support/dnsserver.py`), `--timeout {args.timeout:g}` (the deadline of each
phase), {args.reps} repetition(s). "At once" is one `unstall doctor --json` naming all
eight with `--source`; "one after another" is eight runs of `unstall doctor --source URL`,
added up. Wall time of the whole command, Python start-up and the environment checks
included; every run is checked to name the expected cause for every source.

| source | cause found | one after another, median |
|---|---|---|
{rows}

| | median wall time | worst | ratio to `--timeout` |
|---|---|---|---|
| at once | {together:.2f} s | {worst:.2f} s | {ratio:.2f}x (target ≤ {TARGET}x: {met}) |
| one after another | {sequential:.2f} s | {worst_sequential:.2f} s | \
{sequential / args.timeout:.2f}x |

At once took {together / sequential:.2f}x the time of one after another: the sources
are probed concurrently and a failing phase ends its source, so a run where everything
fails costs about one phase deadline plus start-up, however many sources there are.
"""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=3, help="repetitions")
    parser.add_argument("--timeout", type=float, default=5.0, help="doctor --timeout, seconds")
    parser.add_argument("--write-docs", action="store_true", help=f"update {DOCS.name}")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    reps, items = run(args)
    section = render(reps, items, args)
    print(section)
    if args.write_docs:
        write_section(SECTION_TITLE, section)
        print(f"updated the doctor section of {DOCS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
