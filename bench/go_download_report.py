"""Result types of the go_download benchmark and their rendering as Markdown.

The tables printed at the end of a run and the whole of docs/benchmarks.md come from here;
bench/go_download.py runs the scenario and hands its results over.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

ROOT: Final = Path(__file__).resolve().parent.parent
KIB: Final = 1024
MIB: Final = 1024 * KIB
PAYLOAD_SIZES: Final = (64 * KIB, 256 * KIB, 1 * MIB, 3 * MIB)
POLL_SECONDS: Final = 0.1
TARGET_RATIO: Final = 2.0
TARGET_RSS_MIB: Final = 150.0
SCENARIO: Final = """\
- A: accepts connections and never answers (blackhole).
- B: resets 20% of response bodies half-way and answers 503 to another 10% \
(seeded random faults on every path).
- C: healthy, 100 ms added before every answer.
- D: healthy, no added latency (the fault-free reference).
"""
UNSTALL: Final = "unstall"
UNSTALL_FAULT_FREE: Final = "unstall-fault-free"
REFERENCE: Final = "go-fault-free"
LATENCY_REFERENCE: Final = "go-latency"


@dataclass(frozen=True)
class Config:
    """One way of running `go mod download`: the tool and the GOPROXY, upstreams by letter."""

    key: str
    label: str
    proxy: str
    tool: Literal["go", "unstall"]


@dataclass
class RunResult:
    """What one repetition of one configuration did."""

    config: Config
    rep: int
    seconds: float
    timed_out: bool
    exit_code: int | None
    zips_missing: int
    verified: bool | None
    stderr_tail: str
    peak_rss_mib: float | None = None
    retries: int | None = None
    hedges: int | None = None
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        """Exit 0, every zip in the module cache and `go mod verify` passed."""
        return self.exit_code == 0 and self.zips_missing == 0 and self.verified is True

    @property
    def wall(self) -> float:
        """Wall time, infinite when the run hit the cap."""
        return math.inf if self.timed_out else self.seconds


@dataclass(frozen=True)
class Summary:
    """The numbers of one configuration over its repetitions."""

    config: Config
    runs: list[RunResult]

    @property
    def successes(self) -> int:
        return sum(r.ok for r in self.runs)

    @property
    def median(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def peak_rss(self) -> float | None:
        peaks = [r.peak_rss_mib for r in self.runs if r.peak_rss_mib is not None]
        return max(peaks) if peaks else None


def md_code(text: str) -> str:
    """``text`` as inline code inside a Markdown table cell (pipes escaped)."""
    return "`" + text.replace("|", "\\|") + "`"


def fmt_seconds(value: float, cap: float) -> str:
    """A wall time, or ``>cap`` for a run that hit the cap."""
    if math.isinf(value):
        return f">{cap:g} s"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def fmt_size(size: int) -> str:
    """``65536`` as ``64 KiB``, ``1048576`` as ``1 MiB``."""
    return f"{size // MIB} MiB" if size % MIB == 0 else f"{size // KIB} KiB"


def fmt_ratio(value: float, reference: float | None, cap: float) -> str:
    """``value / reference`` as ``1.3x``; a lower bound when value hit the cap."""
    if reference is None or reference <= 0:
        return "n/a"
    if math.isinf(value):
        return f">{cap / reference:.0f}x"
    return f"{value / reference:.2f}x"


def _finite_median(summaries: Sequence[Summary], key: str) -> float | None:
    found = next((s.median for s in summaries if s.config.key == key), None)
    return None if found is None or math.isinf(found) else found


def summary_table(summaries: Sequence[Summary], cap: float) -> str:
    """The Markdown table of every configuration."""
    reference = _finite_median(summaries, REFERENCE)
    latency = _finite_median(summaries, LATENCY_REFERENCE)
    rows = [
        "| configuration | GOPROXY | success | median wall time | ratio to fault-free plain go "
        "| ratio to plain go on C alone | peak RSS (unstall process) | retries per run "
        "| hedges per run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        unstall = s.config.tool == "unstall"
        rss = s.peak_rss
        rows.append(
            f"| {s.config.label} | {md_code(s.config.proxy)} | {s.successes}/{len(s.runs)} "
            f"| {fmt_seconds(s.median, cap)} | {fmt_ratio(s.median, reference, cap)} "
            f"| {fmt_ratio(s.median, latency, cap)} "
            f"| {f'{rss:.0f} MiB' if rss is not None else ('n/a' if unstall else '-')} "
            f"| {_per_run(s, 'retries') if unstall else '-'} "
            f"| {_per_run(s, 'hedges') if unstall else '-'} |"
        )
    return "\n".join(rows)


def _per_run(summary: Summary, name: Literal["retries", "hedges"]) -> str:
    values = [getattr(r, name) for r in summary.runs]
    return ", ".join("?" if v is None else str(v) for v in values)


def runs_table(summaries: Sequence[Summary], cap: float) -> str:
    """Every repetition: time, exit code, missing zips, verify, unstall's artifact outcomes."""
    rows = [
        "| configuration | GOPROXY | rep | wall time | exit | zips missing | go mod verify "
        "| unstall artifact outcomes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        for r in s.runs:
            exit_text = "killed at cap" if r.timed_out else str(r.exit_code)
            verify = {True: "ok", False: "FAILED", None: "-"}[r.verified]
            outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(r.outcomes.items())) or "-"
            rows.append(
                f"| {s.config.label} | {md_code(s.config.proxy)} | {r.rep} "
                f"| {fmt_seconds(r.wall, cap)} | {exit_text} | {r.zips_missing} | {verify} "
                f"| {outcomes} |"
            )
    return "\n".join(rows)


def targets(summaries: Sequence[Summary], cap: float) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for the issue's targets; met is None when not measured."""
    by_key = {s.config.key: s for s in summaries}
    found = by_key.get(UNSTALL)
    reference = by_key.get(REFERENCE)
    if found is None:
        return []
    reps = len(found.runs)
    rows: list[tuple[str, str, bool | None]] = [
        (
            "unstall go succeeds in every repetition",
            f"{found.successes}/{reps}",
            found.successes == reps,
        )
    ]
    if reference is not None and not math.isinf(reference.median):
        ratio = found.median / reference.median
        worst = max(r.wall for r in found.runs) / reference.median
        rows.append(
            (
                f"unstall go median within {TARGET_RATIO:g}x of fault-free plain go",
                f"{fmt_ratio(found.median, reference.median, cap)} (worst run "
                f"{fmt_ratio(worst * reference.median, reference.median, cap)})",
                ratio <= TARGET_RATIO,
            )
        )
    else:
        rows.append(
            (f"unstall go within {TARGET_RATIO:g}x of fault-free plain go", "not measured", None)
        )
    rss = found.peak_rss
    rows.append(
        (
            f"peak memory of unstall under {TARGET_RSS_MIB:g} MiB",
            "not measured" if rss is None else f"{rss:.0f} MiB",
            None if rss is None else rss < TARGET_RSS_MIB,
        )
    )
    return rows


def targets_table(rows: Sequence[tuple[str, str, bool | None]]) -> str:
    """The targets as a Markdown table."""
    lines = ["| target | measured | met |", "|---|---|---|"]
    verdict = {True: "met", False: "**not met**", None: "not measured"}
    lines.extend(f"| {t} | {m} | {verdict[ok]} |" for t, m, ok in rows)
    return "\n".join(lines)


def reading_target(summaries: Sequence[Summary], cap: float) -> str:
    """The paragraph after the targets table: the two references, quoted from the table.

    One sentence a line; empty unless unstall go and the fault-free reference were measured.
    """
    by_key = {s.config.key: s for s in summaries}
    found, own = by_key.get(UNSTALL), by_key.get(UNSTALL_FAULT_FREE)
    reference = _finite_median(summaries, REFERENCE)
    latency = _finite_median(summaries, LATENCY_REFERENCE)
    if found is None or reference is None:
        return ""
    speed = ", well under a second" if reference < 0.5 else ", under a second"
    lines = [
        f"**Reading the {TARGET_RATIO:g}x target.**",
        "The fault-free reference, plain go against D alone (no added latency), has a median of "
        f"{fmt_seconds(reference, cap)}{speed if reference < 1 else ''}.",
    ]
    if own is not None:
        lines.append(
            "unstall's fixed cost (Python start-up, `go env`, its local server) is measured by the "
            '"unstall go, fault-free" row, which runs against the same D and also includes the '
            f"downloads themselves: {fmt_seconds(own.median, cap)}, "
            f"{fmt_ratio(own.median, reference, cap)} the reference."
        )
    if latency is not None:
        lines.append(
            "The second comparison is plain go against C alone, the only healthy mirror of "
            f"`{found.config.proxy}`, with the same added latency: unstall go takes "
            f"{fmt_seconds(found.median, cap)} against {fmt_seconds(latency, cap)}, "
            f"{fmt_ratio(found.median, latency, cap)}."
        )
    return "\n".join(lines) + "\n\n"


def machine() -> str:
    """Cores, CPU model, kernel, go and Python versions of this machine."""
    model = "unknown CPU"
    with_cpuinfo = Path("/proc/cpuinfo")
    if with_cpuinfo.is_file():
        found = re.search(r"^model name\s*:\s*(.+)$", with_cpuinfo.read_text(), re.MULTILINE)
        model = found.group(1).strip() if found else model
    go = shutil.which("go") or "go"
    go_version = subprocess.run(
        [go, "version"], capture_output=True, text=True, check=False, timeout=60
    ).stdout.strip()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"- nproc: {cores} ({model}), Linux {platform.release()}\n"
        f"- {go_version}\n"
        f"- Python {platform.python_version()}\n"
    )


def source_state() -> str:
    """The commit of the benchmarked source, and whether src/ had uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "src")
    return f"commit {commit}" + (" plus uncommitted changes in src/" if dirty else "")


def provenance(when: str | None = None) -> str:
    """The lines every benchmark section starts with: the command that produced it, the
    day, the machine, and the state of the source that was measured."""
    day = when or time.strftime("%Y-%m-%d")
    return (
        f"Command (from the repository root), run on {day}:\n\n```\n{command_line()}\n```\n\n"
        f"Machine:\n\n{machine()}- unstall: {source_state()}\n"
    )


def command_line() -> str:
    """The command that produced these numbers, relative to the repository root."""
    python = Path(sys.executable)
    shown = str(python.relative_to(ROOT)) if python.is_relative_to(ROOT) else "python"
    script = Path(sys.argv[0]).resolve()
    script_shown = str(script.relative_to(ROOT)) if script.is_relative_to(ROOT) else sys.argv[0]
    return shlex.join([shown, script_shown, *sys.argv[1:]])


SECTION_TITLE: Final = "## go_download: unstall go vs plain go on a faulty network"


def render_docs(
    summaries: Sequence[Summary],
    args: argparse.Namespace,
    module_count: int,
    total_bytes: int,
    source: str,
) -> str:
    """The go_download section of docs/benchmarks.md (starting with SECTION_TITLE)."""
    target_rows = targets(summaries, args.timeout)
    return f"""{SECTION_TITLE}

Command (from the repository root):

```
{command_line()}
```

Machine:

{machine()}- unstall: {source} (a copy of src/unstall taken when the run started)

Scenario: a main module requiring {module_count} fixture modules (payload zips cycling
{", ".join(fmt_size(s) for s in PAYLOAD_SIZES)}; {total_bytes / MIB:.1f} MiB of zips in all),
served by four upstreams on loopback:

{SCENARIO}
Configurations, run one after the other within each repetition: plain go with
`GOPROXY=A,B,C,direct` and with `A|B|C`; `unstall go` with `GOPROXY=A|B|C` (unstall reads
GOPROXY from go's environment); and as references plain go against D alone (fault-free) and
against C alone (latency only), plus `unstall go` against D alone to show unstall's own cost
when nothing fails. Every run sets `GOSUMDB=off`, `GONOSUMDB=fixture.test` and an empty
`GOPRIVATE`; go.sum lists every module, so go checks every download against it.

Every run starts from an empty module cache (and, for unstall, an empty unstall cache and
history), runs `go mod download` and is killed after {args.timeout:g} s (the cap). A run
succeeds when it exits 0, every zip is in `$GOMODCACHE/cache/download` and `go mod verify`
(offline) passes. {args.reps} repetition(s) per configuration; the median counts a killed run
as longer than the cap. Peak RSS is the unstall (Python) process's own high-water mark
(`VmHWM`, polled every {POLL_SECONDS:g} s); the go child it runs is not included. Retries and
hedges come from `unstall go --report-json`.

{summary_table(summaries, args.timeout)}

Targets from the issue (unstall go with `GOPROXY=A|B|C` succeeds in every repetition, its
time stays within {TARGET_RATIO:g}x of plain go on the fault-free network, and its peak memory
stays under {TARGET_RSS_MIB:g} MiB), computed from the numbers above:

{targets_table(target_rows)}

{reading_target(summaries, args.timeout)}Every repetition:

{runs_table(summaries, args.timeout)}
"""
