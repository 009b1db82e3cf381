"""Result types of the serve benchmark, wrk output parsing, and the Markdown it writes.

bench/serve.py runs the servers and the load; everything it prints or writes into
docs/benchmarks.md (the "## unstall serve" section only) is built here.
"""

from __future__ import annotations

import datetime
import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from bench.go_download_report import MIB, command_line, fmt_size, machine, md_code

KINDS: Final = ("info", "mod", "zip")
UNSTALL: Final = "unstall serve"
PEER: Final = "goproxy"
SERVERS: Final = (UNSTALL, PEER)
# The issue's targets: throughput relative to the peer, and the cold p99 under faults.
TARGET_THROUGHPUT: Final = {"info": 0.8, "mod": 0.8, "zip": 1.0}
TARGET_COLD_P99: Final = 1.5
SECTION_TITLE: Final = "## unstall serve"
COLD_PAYLOADS: Final = (16 * 1024, 64 * 1024, 256 * 1024)
SLOW_MS: Final = 1000.0  # a request slower than this is counted in the reading
C_LATENCY_MS: Final = 100.0
FAULT_FREE: Final = "fault-free"
LATENCY_ONLY: Final = "latency only"
FAULTS: Final = "faults"
# wrk prints latencies with these units.
_UNIT_MS: Final = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class WrkStats:
    """What one wrk run printed."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    socket_errors: int
    non_2xx: int


def _latency_ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"not a wrk latency: {text!r}")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def parse_wrk(output: str) -> WrkStats:
    """Requests/sec, the 50% and 99% latencies and the error counts of ``wrk --latency``."""

    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise ValueError(f"wrk output without {pattern!r}:\n{output}")
        return match

    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkStats(
        requests_per_s=float(find(r"^Requests/sec:\s+([0-9.]+)").group(1)),
        p50_ms=_latency_ms(find(r"^\s+50%\s+(\S+)").group(1)),
        p99_ms=_latency_ms(find(r"^\s+99%\s+(\S+)").group(1)),
        requests=int(find(r"^\s+(\d+) requests in").group(1)),
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )


@dataclass(frozen=True)
class LoadRun:
    """One measured wrk run against one server and one URL, with the server's CPU time."""

    server: str
    kind: str
    rep: int
    seconds: float
    stats: WrkStats
    cpu_seconds: float | None

    @property
    def cores(self) -> float | None:
        """The server's CPU time over the run's length: how many cores it kept busy."""
        return None if self.cpu_seconds is None else self.cpu_seconds / self.seconds

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.cpu_seconds is None or self.stats.requests == 0:
            return None
        return self.cpu_seconds / self.stats.requests * 1e6

    @property
    def clean(self) -> bool:
        """Every answer was a 2xx and no socket error or timeout happened."""
        return self.stats.socket_errors == 0 and self.stats.non_2xx == 0


@dataclass(frozen=True)
class LoadSummary:
    """The medians over the repetitions of one server and one URL."""

    server: str
    kind: str
    runs: list[LoadRun]

    def _median(self, values: Sequence[float | None]) -> float | None:
        found = [v for v in values if v is not None]
        return statistics.median(found) if found else None

    @property
    def rps(self) -> float:
        return statistics.median(r.stats.requests_per_s for r in self.runs)

    @property
    def p50(self) -> float:
        return statistics.median(r.stats.p50_ms for r in self.runs)

    @property
    def p99(self) -> float:
        return statistics.median(r.stats.p99_ms for r in self.runs)

    @property
    def cores(self) -> float | None:
        return self._median([r.cores for r in self.runs])

    @property
    def cpu_us_per_request(self) -> float | None:
        return self._median([r.cpu_us_per_request for r in self.runs])

    @property
    def problems(self) -> int:
        return sum(r.stats.socket_errors + r.stats.non_2xx for r in self.runs)


def summarize_load(runs: Sequence[LoadRun]) -> dict[tuple[str, str], LoadSummary]:
    """The runs grouped by (server, kind)."""
    grouped: dict[tuple[str, str], list[LoadRun]] = {}
    for run in runs:
        grouped.setdefault((run.server, run.kind), []).append(run)
    return {key: LoadSummary(key[0], key[1], found) for key, found in grouped.items()}


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear between the two nearest samples."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class ColdRun:
    """One cold-cache pass over every artifact with a fresh unstall serve and empty store."""

    setup: str
    rep: int
    wall_s: float
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    peak_rss_mib: float | None = None

    @property
    def all_ms(self) -> list[float]:
        return [v for kind in KINDS for v in self.latencies_ms.get(kind, [])]


@dataclass(frozen=True)
class ColdSummary:
    """Every cold pass of one upstream setup, samples pooled over the repetitions."""

    setup: str
    upstreams: str
    runs: list[ColdRun]

    def samples(self, kind: str | None = None) -> list[float]:
        if kind is None:
            return [v for r in self.runs for v in r.all_ms]
        return [v for r in self.runs for v in r.latencies_ms.get(kind, [])]

    def p(self, q: float, kind: str | None = None) -> float:
        return percentile(self.samples(kind), q)

    @property
    def failures(self) -> int:
        return sum(len(r.failures) for r in self.runs)

    @property
    def pass_p99(self) -> float:
        """The median over passes of each pass's p99: one pass disturbed by the machine
        (a slow fsync, another process) does not decide the verdict."""
        return statistics.median(percentile(r.all_ms, 99) for r in self.runs if r.all_ms)


def fmt_ms(value: float | None) -> str:
    """Milliseconds with a precision that suits their size."""
    if value is None or math.isnan(value):
        return "n/a"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def fmt_ratio(value: float | None, reference: float | None) -> str:
    if value is None or reference is None or reference <= 0 or math.isnan(value):
        return "n/a"
    return f"{value / reference:.2f}x"


def _opt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def warm_table(summaries: Mapping[tuple[str, str], LoadSummary], urls: Mapping[str, str]) -> str:
    """Throughput, latency and CPU of each server for each URL (medians of the reps)."""
    rows = [
        "| URL | server | requests/s | requests/s, each rep | p50 | p99 | server CPU (cores) "
        "| server CPU per request | errors + non-2xx |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for kind in KINDS:
        for server in SERVERS:
            found = summaries.get((server, kind))
            if found is None:
                continue
            rows.append(
                f"| {md_code(urls[kind])} | {server} | {found.rps:,.0f} "
                f"| {' / '.join(f'{r.stats.requests_per_s:,.0f}' for r in found.runs)} "
                f"| {fmt_ms(found.p50)} "
                f"| {fmt_ms(found.p99)} | {_opt(found.cores, '.2f')} "
                f"| {_opt(found.cpu_us_per_request, '.0f')} µs | {found.problems} |"
            )
    return "\n".join(rows)


def ratio_rows(
    summaries: Mapping[tuple[str, str], LoadSummary],
) -> list[tuple[str, float | None, float | None, float | None]]:
    """(kind, throughput ratio, p50 ratio, p99 ratio), unstall over the peer."""
    rows: list[tuple[str, float | None, float | None, float | None]] = []
    for kind in KINDS:
        ours, theirs = summaries.get((UNSTALL, kind)), summaries.get((PEER, kind))
        if ours is None or theirs is None:
            rows.append((kind, None, None, None))
            continue
        rows.append((kind, ours.rps / theirs.rps, ours.p50 / theirs.p50, ours.p99 / theirs.p99))
    return rows


def ratio_table(summaries: Mapping[tuple[str, str], LoadSummary]) -> str:
    """unstall serve relative to the peer: above 1 is better for throughput, worse for latency."""
    rows = [
        "| URL | throughput ratio (target) | met | p50 ratio | p99 ratio |",
        "|---|---|---|---|---|",
    ]
    for kind, rps, p50, p99 in ratio_rows(summaries):
        target = TARGET_THROUGHPUT[kind]
        met = "not measured" if rps is None else ("met" if rps >= target else "**not met**")
        rows.append(
            f"| `.{kind}` | {_opt(rps, '.2f')}x (≥ {target:.1f}x) | {met} "
            f"| {_opt(p50, '.2f')}x | {_opt(p99, '.2f')}x |"
        )
    return "\n".join(rows)


def cold_table(summaries: Sequence[ColdSummary]) -> str:
    """Per setup: artifacts served, p50 and p99 over all of them and p99 per kind."""
    rows = [
        "| upstreams | `--upstream` order | artifacts ok | p50 | p99 | p99 `.info` | p99 `.mod` "
        "| p99 `.zip` | slowest | p99 per pass | wall time per pass | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        total = len(s.samples()) + s.failures
        walls = ", ".join(f"{r.wall_s:.2f} s" for r in s.runs)
        peaks = [r.peak_rss_mib for r in s.runs if r.peak_rss_mib is not None]
        rows.append(
            f"| {s.setup} | {s.upstreams} | {len(s.samples())}/{total} | {fmt_ms(s.p(50))} "
            f"| {fmt_ms(s.p(99))} | {fmt_ms(s.p(99, 'info'))} | {fmt_ms(s.p(99, 'mod'))} "
            f"| {fmt_ms(s.p(99, 'zip'))} | {fmt_ms(s.p(100))} "
            f"| {', '.join(fmt_ms(percentile(r.all_ms, 99)) for r in s.runs)} | {walls} "
            f"| {f'{max(peaks):.0f} MiB' if peaks else 'n/a'} |"
        )
    return "\n".join(rows)


def cold_ratio(summaries: Sequence[ColdSummary], setup: str) -> float | None:
    """Median per-pass p99 under faults over that of ``setup``; None if not measured."""
    by_setup = {s.setup: s for s in summaries}
    faults, reference = by_setup.get(FAULTS), by_setup.get(setup)
    if faults is None or reference is None or not faults.samples() or not reference.samples():
        return None
    return faults.pass_p99 / reference.pass_p99


def cold_ratio_table(summaries: Sequence[ColdSummary]) -> str:
    """The cold target, against the fault-free setup; the latency-only one for context."""
    rows = [
        "| comparison | p99 ratio (median of per-pass p99) | pooled p99 ratio | target | met |",
        "|---|---|---|---|---|",
    ]
    by_setup = {s.setup: s for s in summaries}
    for setup, judged in ((FAULT_FREE, True), (LATENCY_ONLY, False)):
        ratio = cold_ratio(summaries, setup)
        if ratio is None:
            continue
        pooled = by_setup[FAULTS].p(99) / by_setup[setup].p(99)
        met = ("met" if ratio <= TARGET_COLD_P99 else "**not met**") if judged else "-"
        target = f"≤ {TARGET_COLD_P99:g}x" if judged else "(context only)"
        rows.append(
            f"| p99(faults) / p99({setup}) | {ratio:.2f}x | {pooled:.2f}x | {target} | {met} |"
        )
    return "\n".join(rows)


@dataclass(frozen=True)
class Facts:
    """Everything about a run that is not a measurement: settings, versions, fixtures."""

    args: dict[str, Any]
    source: str
    tools: dict[str, str]
    peer_install: str
    athens: str
    zip_bytes: int
    peaks: dict[str, float | None]
    cold_artifacts: int
    cold_bytes: int
    date: str = field(default_factory=lambda: datetime.date.today().isoformat())


def _throughput_sentences(summaries: Mapping[tuple[str, str], LoadSummary]) -> list[str]:
    lines = []
    for kind, rps, _p50, p99 in ratio_rows(summaries):
        ours, theirs = summaries.get((UNSTALL, kind)), summaries.get((PEER, kind))
        if ours is None or theirs is None or rps is None or p99 is None:
            continue
        verdict = "met" if rps >= TARGET_THROUGHPUT[kind] else "not met"
        lines.append(
            f"On `.{kind}` unstall serve answered {ours.rps:,.0f} requests/s against "
            f"goproxy's {theirs.rps:,.0f} ({rps:.2f}x; target {TARGET_THROUGHPUT[kind]:.1f}x, "
            f"{verdict}), with a p99 {p99:.2f}x goproxy's."
        )
    return lines


def _cpu_sentences(summaries: Mapping[tuple[str, str], LoadSummary]) -> list[str]:
    lines = []
    for kind in KINDS:
        ours, theirs = summaries.get((UNSTALL, kind)), summaries.get((PEER, kind))
        if ours is None or theirs is None:
            continue
        mine, peer = ours.cpu_us_per_request, theirs.cpu_us_per_request
        if ours.cores is None or theirs.cores is None or mine is None or peer is None:
            continue
        lines.append(
            f"`.{kind}`: unstall serve kept {ours.cores:.2f} cores busy and spent "
            f"{mine:.0f} µs of CPU per request; goproxy {theirs.cores:.2f} cores and "
            f"{peer:.0f} µs per request: {mine / peer:.1f}x goproxy's CPU per request."
        )
    return lines


def _cold_sentences(summaries: Sequence[ColdSummary], concurrency: int) -> list[str]:
    by_setup = {s.setup: s for s in summaries}
    faults, free = by_setup.get(FAULTS), by_setup.get(FAULT_FREE)
    if faults is None or free is None or not faults.samples() or not free.samples():
        return []
    slow = [sum(1 for v in r.all_ms if v > SLOW_MS) for r in faults.runs]
    ratio = faults.pass_p99 / free.pass_p99
    lines = [
        f"Cold, through one healthy upstream, the p99 of an artifact was "
        f"{fmt_ms(free.pass_p99)} (median of the passes' p99); through A, B, C it was "
        f"{fmt_ms(faults.pass_p99)}, {ratio:.2f}x "
        f"(target {TARGET_COLD_P99:g}x, {'met' if ratio <= TARGET_COLD_P99 else 'not met'}). "
        f"Pooled over all passes: {fmt_ms(free.p(99))} and {fmt_ms(faults.p(99))}; the "
        "fault-free passes are the noisier ones (fsync on this disk).",
        f"Under faults, {' / '.join(str(n) for n in slow)} artifact request(s) per pass took "
        f"longer than {SLOW_MS / 1000:g} s ({concurrency} requests in flight at "
        "once). Before it listens, unstall serve probes every upstream, so blackholed A's "
        "breaker is open before the first request: requests start at B and fail over to C "
        "at once when B resets a body or answers 503 (docs/architecture.md).",
    ]
    latency = by_setup.get(LATENCY_ONLY)
    if latency is not None and latency.samples():
        lines.append(
            f"C alone (the only healthy upstream of the mix, with its {C_LATENCY_MS:g} ms "
            f"latency) gave a p99 of {fmt_ms(latency.p(99))}; the fault mix is "
            f"{faults.p(99) / latency.p(99):.2f}x that."
        )
    failed = faults.failures + free.failures + (latency.failures if latency else 0)
    lines.append(
        "Every artifact was served with the right bytes in every pass."
        if failed == 0
        else f"{failed} artifact request(s) failed or returned wrong bytes (see the JSON)."
    )
    return lines


def reading(
    summaries: Mapping[tuple[str, str], LoadSummary],
    cold: Sequence[ColdSummary],
    concurrency: int,
) -> str:
    """The paragraph under the tables, every number quoted from them."""
    lines = ["**Reading.**", *_throughput_sentences(summaries)]
    cpu = _cpu_sentences(summaries)
    if cpu:
        lines.append(
            "wrk runs on the same 2 cores as the server it loads. Server CPU during the "
            "measured runs (from /proc, all threads):"
        )
        lines.extend(f"- {line}" for line in cpu)
        lines.append("")
    lines.extend(_cold_sentences(cold, concurrency))
    return "\n".join(lines) + "\n"


def _peaks(facts: Facts) -> str:
    return ", ".join(
        f"{name} {'n/a' if peak is None else f'{peak:.0f} MiB'}"
        for name, peak in facts.peaks.items()
    )


def render_section(
    facts: Facts,
    summaries: Mapping[tuple[str, str], LoadSummary],
    urls: Mapping[str, str],
    cold: Sequence[ColdSummary],
) -> str:
    """The "## unstall serve" section of docs/benchmarks.md, ending with a newline."""
    a = facts.args
    return f"""{SECTION_TITLE}

Command (from the repository root), run on {facts.date}:

```
{command_line()}
```

Machine and versions:

{machine()}- unstall: {facts.source} (a copy of src/unstall taken when the run started)
- {facts.tools.get("wrk", "wrk")}
- peer: {facts.tools.get("goproxy", "goproxy")}, installed at run time into a temporary
directory: {facts.peer_install}
- Athens: {facts.athens}

### Warm cache: throughput and latency

One fake upstream on loopback serves `fixture.test/big@v1.0.0`, whose zip is
{facts.zip_bytes:,} bytes (a 1 MiB incompressible payload). `unstall serve` (default
settings, `--port 0`, a fresh `--cache`, `--workers {a.get("workers", 1)}` serving
processes, JSON access log written to a file with `--access-log FILE`, so its cost is
included; CPU and memory are summed over the workers) and goproxy's command (`goproxy server` with
its dir cacher, `GOPROXY=<the fake upstream>`, `GOSUMDB=off`; goproxy logs only errors) run
side by side. Each fetches the three URLs once to fill its cache, then
`wrk -t{a["threads"]} -c{a["connections"]} -d{a["duration"]:g}s --latency` loads one URL
on one server at a time, after an untimed {a["warmup"]:g} s wrk run on the same URL.
{a["reps"]} repetition(s), the servers swapping who goes first each time; the table shows
medians. Peak RSS after the load: {_peaks(facts)}.

{warm_table(summaries, urls)}

unstall serve relative to goproxy (throughput: higher is better; latency: lower is better):

{ratio_table(summaries)}

### Cold cache under faults

A graph of {a["modules"]} fixture modules (plus the older versions `make_graph` adds),
{facts.cold_artifacts} artifacts (`.info`, `.mod`, `.zip`; zips with payloads cycling
{", ".join(fmt_size(size) for size in COLD_PAYLOADS)}; {facts.cold_bytes / MIB:.1f} MiB in all).
Each pass starts a fresh `unstall serve` with an empty store and default settings
(hedging and timeouts untuned) and fetches every artifact through it,
{a["cold_concurrency"]} requests at a time (httpx), timing each request from send to last
byte. Upstreams, as in go_download above:

- A: accepts connections and never answers (blackhole).
- B: resets 20% of response bodies half-way and answers 503 to another 10% (seeded).
- C: healthy, {C_LATENCY_MS:g} ms added before every answer.
- D: healthy, no added latency.

One uncounted pass against D runs first; then {a["cold_reps"]} pass(es) per setup, the
order of the setups rotating from one repetition to the next; samples pooled:

{cold_table(cold)}

{cold_ratio_table(cold)}

{reading(summaries, cold, a["cold_concurrency"])}"""


__all__ = [
    "COLD_PAYLOADS",
    "C_LATENCY_MS",
    "FAULTS",
    "FAULT_FREE",
    "KINDS",
    "LATENCY_ONLY",
    "PEER",
    "SECTION_TITLE",
    "SERVERS",
    "TARGET_COLD_P99",
    "TARGET_THROUGHPUT",
    "UNSTALL",
    "ColdRun",
    "ColdSummary",
    "Facts",
    "LoadRun",
    "LoadSummary",
    "WrkStats",
    "cold_ratio",
    "cold_ratio_table",
    "cold_table",
    "fmt_ms",
    "fmt_ratio",
    "parse_wrk",
    "percentile",
    "ratio_rows",
    "ratio_table",
    "reading",
    "render_section",
    "summarize_load",
    "warm_table",
]
