"""Benchmark: ``unstall go mod download`` against plain ``go mod download`` on a faulty network.

Everything runs on loopback. A graph of fixture modules is served by four fake
upstreams: A accepts connections and never answers, B resets 20% of bodies
half-way and answers 503 to another 10%, C is healthy but adds 100 ms to every
answer, D is healthy and fast (the fault-free reference). Each configuration
runs from an empty module cache (and, for unstall, an empty unstall home) under
a wall-clock cap. Run from the repository root::

    .venv/bin/python bench/go_download.py --reps 1 --timeout 60
    .venv/bin/python bench/go_download.py --timeout 120 --write-docs
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # `python bench/go_download.py` puts bench/ on the path, not the repository root.
    sys.path.insert(0, str(ROOT))

from tests.support.faults import Fault, ResetBody, Status  # noqa: E402
from tests.support.gocmd import (  # noqa: E402
    GoTimedOut,
    cache_download_dir,
    go_environment,
    remove_modcache,
    run_go,
)
from tests.support.modfactory import FixtureModule, make_graph, write_main_module  # noqa: E402
from tests.support.upstream import FakeUpstream  # noqa: E402

from unstall.goproxy.paths import escape  # noqa: E402

KIB: Final = 1024
MIB: Final = 1024 * KIB
PAYLOAD_SIZES: Final = (64 * KIB, 256 * KIB, 1 * MIB, 3 * MIB)
MAIN_MODULE: Final = "bench.test/main"
POLL_SECONDS: Final = 0.1
VERIFY_TIMEOUT: Final = 120.0
TARGET_RATIO: Final = 2.0
TARGET_RSS_MIB: Final = 150.0
DOCS: Final = ROOT / "docs" / "benchmarks.md"
SCENARIO: Final = """\
- A: accepts connections and never answers (blackhole).
- B: resets 20% of response bodies half-way and answers 503 to another 10% \
(seeded random faults on every path).
- C: healthy, 100 ms added before every answer.
- D: healthy, no added latency (the fault-free reference).
"""


@dataclass(frozen=True)
class Config:
    """One way of running `go mod download`: the tool and the GOPROXY, upstreams by letter."""

    key: str
    label: str
    proxy: str
    tool: Literal["go", "unstall"]


CONFIGS: Final = (
    Config("go-comma", "plain go", "A,B,C,direct", "go"),
    Config("go-pipe", "plain go", "A|B|C", "go"),
    Config("unstall", "unstall go", "A|B|C", "unstall"),
    Config("go-fault-free", "plain go, fault-free", "D", "go"),
    Config("go-latency", "plain go, latency only", "C", "go"),
    # Not a target: what unstall itself costs when nothing goes wrong.
    Config("unstall-fault-free", "unstall go, fault-free", "D", "unstall"),
)
REFERENCE: Final = "go-fault-free"
LATENCY_REFERENCE: Final = "go-latency"


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


def md_code(text: str) -> str:
    """``text`` as inline code inside a Markdown table cell (pipes escaped)."""
    return "`" + text.replace("|", "\\|") + "`"


def goproxy_value(spec: str, urls: Mapping[str, str]) -> str:
    """``A|B|C`` with each upstream letter replaced by that upstream's URL."""
    return "".join(urls.get(part, part) for part in re.split(r"([,|])", spec))


def missing_zips(env: Mapping[str, str], modules: Sequence[FixtureModule]) -> int:
    """How many of ``modules`` have no zip in the module cache's download directory."""
    root = cache_download_dir(env)
    return sum(
        1
        for m in modules
        if not (root / escape(m.path) / "@v" / f"{escape(m.version)}.zip").is_file()
    )


def go_verify(workdir: Path, env: Mapping[str, str]) -> bool:
    """`go mod verify` with no network: every cached module matches go.sum."""
    try:
        done = run_go(
            ["mod", "verify"], cwd=workdir, env={**env, "GOPROXY": "off"}, timeout=VERIFY_TIMEOUT
        )
    except GoTimedOut:
        return False
    return done.returncode == 0


def vm_hwm_mib(pid: int) -> float | None:
    """The process's own resident high-water mark (VmHWM), or None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+)\s+kB", status, re.MULTILINE)
    return int(match.group(1)) / KIB if match else None


def run_unstall(
    unstall: str, workdir: Path, env: Mapping[str, str], report: Path, timeout: float
) -> tuple[float, bool, int | None, str, float | None]:
    """Run `unstall go mod download`, polling the unstall process's own peak RSS.

    Returns (seconds, timed out, exit code, stderr, peak RSS MiB). The go child is a
    separate process; only unstall's (Python) memory is measured.
    """
    command = [unstall, "go", "--quiet", "--report-json", str(report), "mod", "download"]
    stderr_path = workdir.parent / "unstall-stderr.txt"
    peak: float | None = None
    timed_out = False
    with stderr_path.open("w+b") as stderr_file:
        start = time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=stderr_file,
            stderr=stderr_file,
            start_new_session=True,
        )
        try:
            while process.poll() is None:
                sample = vm_hwm_mib(process.pid)
                if sample is not None:
                    peak = sample if peak is None else max(peak, sample)
                if time.monotonic() - start > timeout:
                    timed_out = True
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                    break
                time.sleep(POLL_SECONDS)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        seconds = time.monotonic() - start
        stderr_file.seek(0)
        output = stderr_file.read().decode(errors="replace")
    code = None if timed_out else process.returncode
    return seconds, timed_out, code, output, peak


def run_once(
    config: Config,
    rep: int,
    *,
    urls: Mapping[str, str],
    closure: Sequence[FixtureModule],
    direct: Sequence[FixtureModule],
    unstall: str,
    pythonpath: Path,
    timeout: float,
) -> RunResult:
    """One repetition of ``config`` in a fresh temporary directory (caches included)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{config.key}-"))
    try:
        workdir = tmp / "main"
        write_main_module(workdir, MAIN_MODULE, direct, all_modules=closure)
        extra = {"GOSUMDB": "off", "GOPRIVATE": "", "UNSTALL_HOME": str(tmp / "unstall-home")}
        env = go_environment(tmp, goproxy=goproxy_value(config.proxy, urls), extra=extra)
        # Only UNSTALL_HOME: no setting from the machine's environment reaches unstall.
        env = {k: v for k, v in env.items() if not k.startswith("UNSTALL_") or k in extra}
        if config.tool == "unstall":
            env["PYTHONPATH"] = str(pythonpath)
        peak: float | None = None
        if config.tool == "unstall":
            report = tmp / "report.json"
            seconds, timed_out, code, stderr, peak = run_unstall(
                unstall, workdir, env, report, timeout
            )
        else:
            report = None
            start = time.monotonic()
            try:
                done = run_go(["mod", "download"], cwd=workdir, env=env, timeout=timeout)
                timed_out, code, stderr = False, done.returncode, done.stderr
            except GoTimedOut as exc:
                timed_out, code, stderr = True, None, exc.stderr
            seconds = time.monotonic() - start
        missing = missing_zips(env, closure)
        verified = go_verify(workdir, env) if code == 0 and missing == 0 else None
        result = RunResult(
            config, rep, seconds, timed_out, code, missing, verified, stderr[-3000:], peak
        )
        if report is not None and report.is_file():
            document = json.loads(report.read_text())
            result.retries = int(document.get("retries", 0))
            result.hedges = int(document.get("hedges", 0))
            result.outcomes = Counter(str(a.get("outcome")) for a in document.get("artifacts", []))
        return result
    finally:
        remove_modcache(tmp)


def snapshot_source(into: Path, python: str) -> Path:
    """Copy ``src/unstall`` as it is now and check that PYTHONPATH=``into`` imports the copy.

    A run takes many minutes; the copy keeps edits made to src/ meanwhile out of it.
    """
    shutil.copytree(
        ROOT / "src" / "unstall", into / "unstall", ignore=shutil.ignore_patterns("__pycache__")
    )
    probe = subprocess.run(
        [python, "-c", "import unstall; print(unstall.__file__)"],
        env={**os.environ, "PYTHONPATH": str(into)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if not Path(probe.stdout.strip()).is_relative_to(into):
        raise RuntimeError(f"PYTHONPATH does not select the source copy: {probe.stdout!r}")
    return into


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
    found = by_key.get("unstall")
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


def command_line() -> str:
    """The command that produced these numbers, relative to the repository root."""
    python = Path(sys.executable)
    shown = str(python.relative_to(ROOT)) if python.is_relative_to(ROOT) else "python"
    script = Path(sys.argv[0]).resolve()
    script_shown = str(script.relative_to(ROOT)) if script.is_relative_to(ROOT) else sys.argv[0]
    return shlex.join([shown, script_shown, *sys.argv[1:]])


def render_docs(
    summaries: Sequence[Summary],
    args: argparse.Namespace,
    module_count: int,
    total_bytes: int,
    source: str,
) -> str:
    """The whole of docs/benchmarks.md."""
    target_rows = targets(summaries, args.timeout)
    return f"""# Benchmarks

Numbers below are produced by the scripts in `bench/`; rerun the command shown to refresh them.

## go_download: unstall go vs plain go on a faulty network

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

Every repetition:

{runs_table(summaries, args.timeout)}
"""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=3, help="repetitions per configuration")
    parser.add_argument("--timeout", type=float, default=300.0, help="cap per run, seconds")
    parser.add_argument("--modules", type=int, default=40, help="fixture modules in the graph")
    parser.add_argument("--seed", type=int, default=1, help="seed of B's random faults")
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated configurations to run (default all: "
        f"{', '.join(c.key for c in CONFIGS)})",
    )
    parser.add_argument("--write-docs", action="store_true", help=f"rewrite {DOCS}")
    args = parser.parse_args(argv)
    if args.modules < 40 and args.write_docs:
        parser.error("the documented scenario needs at least 40 modules")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    wanted = {k for k in args.only.split(",") if k}
    unknown = wanted - {c.key for c in CONFIGS}
    if unknown:
        print(f"unknown configuration(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    configs = [c for c in CONFIGS if not wanted or c.key in wanted]
    unstall = str(Path(sys.executable).with_name("unstall"))
    if not Path(unstall).is_file():
        unstall = shutil.which("unstall") or unstall

    modules, direct = make_graph(args.modules, payload_sizes=list(PAYLOAD_SIZES))
    closure = modules.closure(direct)
    total_bytes = sum(len(m.zip_bytes) for m in closure)
    faults: list[tuple[float, Fault]] = [(0.2, ResetBody(-1)), (0.1, Status(503))]
    upstreams = {
        "A": FakeUpstream(modules, mode="blackhole"),
        "B": FakeUpstream(modules, random_faults=faults, random_match="*", seed=args.seed),
        "C": FakeUpstream(modules, latency=0.1),
        "D": FakeUpstream(modules),
    }
    results: dict[str, list[RunResult]] = {c.key: [] for c in configs}
    source = source_state()
    snapshot = Path(tempfile.mkdtemp(prefix="bench-unstall-src-"))
    try:
        snapshot_source(snapshot, sys.executable)
        print(f"benchmarking unstall at {source}", file=sys.stderr)
        for upstream in upstreams.values():
            upstream.start()
        urls = {name: u.url for name, u in upstreams.items()}
        for rep in range(1, args.reps + 1):
            for config in configs:
                result = run_once(
                    config,
                    rep,
                    urls=urls,
                    closure=closure,
                    direct=direct,
                    unstall=unstall,
                    pythonpath=snapshot,
                    timeout=args.timeout,
                )
                results[config.key].append(result)
                state = "ok" if result.ok else "FAILED"
                print(
                    f"[{rep}/{args.reps}] {config.label} ({config.proxy}): {state} in "
                    f"{fmt_seconds(result.wall, args.timeout)}",
                    file=sys.stderr,
                    flush=True,
                )
                if config.tool == "unstall" and not result.ok:
                    print(f"unstall stderr tail:\n{result.stderr_tail}", file=sys.stderr)
    finally:
        for upstream in upstreams.values():
            upstream.stop()
        shutil.rmtree(snapshot, ignore_errors=True)

    summaries = [Summary(c, results[c.key]) for c in configs]
    print(summary_table(summaries, args.timeout))
    print()
    print(targets_table(targets(summaries, args.timeout)))
    if args.write_docs:
        DOCS.parent.mkdir(parents=True, exist_ok=True)
        DOCS.write_text(render_docs(summaries, args, len(closure), total_bytes, source))
        print(f"\nwrote {DOCS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
