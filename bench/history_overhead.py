"""Benchmark: what recording the history costs `unstall go mod download`.

The go_download scenario (bench/go_download.py: the same 40-module graph, the same
loopback upstreams) run with history on and with ``UNSTALL_HISTORY__ENABLED=false``,
alternating which goes first in each repetition. Every run gets a fresh module cache and
a fresh unstall artifact cache (``UNSTALL_CACHE_DIR``) but keeps one ``UNSTALL_HOME``, so
the enabled runs write into a history that already exists, as they do on a real machine.
Besides the wall-time ratio (noisy on a shared machine), the History sink's own cost per
event is measured in-process, which bounds the overhead without the noise. Run from the
repository root::

    .venv/bin/python bench/history_overhead.py --reps 3

bench/report.py runs it too and writes its table into the report section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.faults import Fault, ResetBody, Status  # noqa: E402
from tests.support.gocmd import go_environment, remove_modcache  # noqa: E402
from tests.support.modfactory import FixtureModule, make_graph, write_main_module  # noqa: E402
from tests.support.upstream import FakeUpstream  # noqa: E402

from bench.go_download import MAIN_MODULE, goproxy_value, missing_zips  # noqa: E402
from bench.go_download_report import PAYLOAD_SIZES  # noqa: E402
from unstall.events import ArtifactFinished, AttemptFinished, PhaseTimings  # noqa: E402
from unstall.observe.history import History  # noqa: E402

TARGET: Final = 1.05
# (key, label, GOPROXY by upstream letter), as in bench/go_download.py.
SCENARIOS: Final = (
    ("fault-free", "fault-free (`D`)", "D"),
    ("faulty", "faulty (`A\\|B\\|C`)", "A|B|C"),
)


@dataclass
class Scenario:
    """Wall times of one scenario with history on and off, in the order they ran."""

    key: str
    label: str
    proxy: str
    on: list[float] = field(default_factory=list)
    off: list[float] = field(default_factory=list)
    on_cpu: list[float] = field(default_factory=list)
    off_cpu: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Median with history over median without."""
        return statistics.median(self.on) / statistics.median(self.off)

    @property
    def cpu_ratio(self) -> float:
        """Median CPU time (unstall and its go child) with history over without."""
        return statistics.median(self.on_cpu) / statistics.median(self.off_cpu)

    @property
    def paired(self) -> float:
        """Median of the per-repetition ratios (the two runs of a repetition are adjacent)."""
        return statistics.median(a / b for a, b in zip(self.on, self.off, strict=True))


@dataclass
class Overhead:
    """Everything the history-overhead table shows."""

    scenarios: list[Scenario]
    modules: int
    reps: int
    event_us: float
    events_per_run: float


def _one_run(
    unstall: str,
    *,
    enabled: bool,
    goproxy: str,
    home: Path,
    closure: Sequence[FixtureModule],
    direct: Sequence[FixtureModule],
    timeout: float,
) -> tuple[float, float]:
    """One `unstall go mod download`: wall seconds, and CPU seconds of unstall and go."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-history-"))
    try:
        workdir = tmp / "main"
        write_main_module(workdir, MAIN_MODULE, direct, all_modules=closure)
        extra = {
            "GOSUMDB": "off",
            "GOPRIVATE": "",
            "UNSTALL_HOME": str(home),
            "UNSTALL_CACHE_DIR": str(tmp / "unstall-cache"),
            "UNSTALL_HISTORY__ENABLED": "true" if enabled else "false",
        }
        env = go_environment(tmp, goproxy=goproxy, extra=extra)
        env = {k: v for k, v in env.items() if not k.startswith("UNSTALL_") or k in extra}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [unstall, "go", "--quiet", "mod", "download"],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0 or missing_zips(env, closure):
            raise RuntimeError(f"unstall go failed ({done.returncode}): {done.stderr[-2000:]}")
        # Waited-for descendants only: unstall, and the go it waited for.
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return seconds, cpu
    finally:
        remove_modcache(tmp)


def event_cost_us(events: int = 20_000) -> float:
    """Microseconds the History sink spends per event (attempt and artifact, alternating),
    batch writes and the final flush included."""
    with tempfile.TemporaryDirectory(prefix="bench-history-sink-") as tmp:
        history = History(Path(tmp) / "history.sqlite3", "bench", command="go")
        attempt = AttemptFinished(
            "example.test/m/@v/v1.0.0.zip", "example.test/m", "v1.0.0", "zip",
            "http://127.0.0.1:1", 1, "ok", "ok",
            PhaseTimings(0.001, None, 0.01, 0.05, 0.061), 4096,
        )  # fmt: skip
        artifact = ArtifactFinished(
            "example.test/m/@v/v1.0.0.zip", "example.test/m", "v1.0.0", "zip", "ok",
            "http://127.0.0.1:1", 1, 0, 4096, 0.061, "ok", won_by="first",
        )  # fmt: skip
        started = time.perf_counter()
        for _ in range(events // 2):
            history(attempt)
            history(artifact)
        history.close()
        return (time.perf_counter() - started) / events * 1e6


def _events_per_run(home: Path) -> float:
    with closing(sqlite3.connect(home / "history.sqlite3")) as db:
        runs, rows = db.execute(
            "SELECT (SELECT count(*) FROM runs),"
            " (SELECT count(*) FROM attempts) + (SELECT count(*) FROM artifacts)"
        ).fetchone()
    return float(rows) / max(int(runs), 1)


def measure(reps: int, *, modules: int = 40, timeout: float = 120.0, seed: int = 1) -> Overhead:
    """Run both scenarios ``reps`` times with history on and off, alternating."""
    unstall = str(Path(sys.executable).with_name("unstall"))
    if not Path(unstall).is_file():
        unstall = shutil.which("unstall") or unstall
    graph, direct = make_graph(modules, payload_sizes=list(PAYLOAD_SIZES))
    closure = graph.closure(direct)
    faults: list[tuple[float, Fault]] = [(0.2, ResetBody(-1)), (0.1, Status(503))]
    upstreams = {
        "A": FakeUpstream(graph, mode="blackhole"),
        "B": FakeUpstream(graph, random_faults=faults, random_match="*", seed=seed),
        "C": FakeUpstream(graph, latency=0.1),
        "D": FakeUpstream(graph),
    }
    scenarios = [Scenario(key, label, proxy) for key, label, proxy in SCENARIOS]
    home = Path(tempfile.mkdtemp(prefix="bench-history-home-"))
    try:
        for upstream in upstreams.values():
            upstream.start()
        urls: Mapping[str, str] = {name: u.url for name, u in upstreams.items()}
        for rep in range(reps):
            for scenario in scenarios:
                goproxy = goproxy_value(scenario.proxy, urls)
                for enabled in (True, False) if rep % 2 == 0 else (False, True):
                    seconds, cpu = _one_run(
                        unstall, enabled=enabled, goproxy=goproxy, home=home,
                        closure=closure, direct=direct, timeout=timeout,
                    )  # fmt: skip
                    (scenario.on if enabled else scenario.off).append(seconds)
                    (scenario.on_cpu if enabled else scenario.off_cpu).append(cpu)
                print(
                    f"[{rep + 1}/{reps}] {scenario.key}: history on {scenario.on[-1]:.2f} s, "
                    f"off {scenario.off[-1]:.2f} s",
                    file=sys.stderr,
                    flush=True,
                )
        per_run = _events_per_run(home)
    finally:
        for upstream in upstreams.values():
            upstream.stop()
        shutil.rmtree(home, ignore_errors=True)
    return Overhead(scenarios, len(closure), reps, event_cost_us(), per_run)


def render(overhead: Overhead) -> str:
    """The history-overhead table and its explanation (Markdown)."""
    rows = []
    for s in overhead.scenarios:
        met = "met" if s.paired < TARGET else "**not met**"
        rows.append(
            f"| {s.label} | {statistics.median(s.on):.2f} s | {statistics.median(s.off):.2f} s "
            f"| {s.ratio:.3f}x | {s.paired:.3f}x | {statistics.median(s.on_cpu):.2f} s "
            f"| {statistics.median(s.off_cpu):.2f} s | {s.cpu_ratio:.3f}x | {met} |"
        )
    fastest = min(statistics.median(s.off) for s in overhead.scenarios)
    bound = overhead.events_per_run * overhead.event_us / 1e6
    table = "\n".join(rows)
    return f"""History overhead on `unstall go mod download` ({overhead.modules} modules, the
go_download scenario's upstreams), history on vs `UNSTALL_HISTORY__ENABLED=false`,
{overhead.reps} repetition(s) alternating which runs first; fresh module and artifact caches
every run, one `UNSTALL_HOME` whose history grows across the runs. CPU is the user plus
system time of unstall and the go it runs (less sensitive than wall time to other work on
the machine). The target, under {TARGET:.2f}x, is judged on the median of the paired
ratios: the two runs of a pair ran back to back, so slow drifts of the shared machine
cancel out of it, and not out of the ratio of medians.

| scenario | wall, history on (median) | wall, off | ratio of medians | median paired ratio \
| CPU, on | CPU, off | CPU ratio | target (paired ratio) |
|---|---|---|---|---|---|---|---|---|
{table}

The History sink itself costs {overhead.event_us:.1f} µs per event (attempts and artifacts,
batched writes included, measured in-process); a run here records
{overhead.events_per_run:.0f} of them, {bound * 1000:.1f} ms in all, which is
{bound / fastest * 100:.2f}% of the fastest median run: the wall-time ratios above are
run-to-run noise more than recording.
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=5, help="repetitions per scenario")
    parser.add_argument("--timeout", type=float, default=120.0, help="cap per run, seconds")
    args = parser.parse_args(argv)
    print(render(measure(args.reps, timeout=args.timeout)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
