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
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

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

from bench.docs import DOCS, write_section  # noqa: E402
from bench.go_download_report import (  # noqa: E402
    KIB,
    LATENCY_REFERENCE,
    PAYLOAD_SIZES,
    POLL_SECONDS,
    REFERENCE,
    SECTION_TITLE,
    UNSTALL,
    UNSTALL_FAULT_FREE,
    Config,
    RunResult,
    Summary,
    fmt_seconds,
    render_docs,
    source_state,
    summary_table,
    targets,
    targets_table,
)
from unstall.goproxy.paths import escape  # noqa: E402

MAIN_MODULE: Final = "bench.test/main"
VERIFY_TIMEOUT: Final = 120.0

CONFIGS: Final = (
    Config("go-comma", "plain go", "A,B,C,direct", "go"),
    Config("go-pipe", "plain go", "A|B|C", "go"),
    Config(UNSTALL, "unstall go", "A|B|C", "unstall"),
    Config(REFERENCE, "plain go, fault-free", "D", "go"),
    Config(LATENCY_REFERENCE, "plain go, latency only", "C", "go"),
    # Not a target: what unstall itself costs when nothing goes wrong.
    Config(UNSTALL_FAULT_FREE, "unstall go, fault-free", "D", "unstall"),
)


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
        section = render_docs(summaries, args, len(closure), total_bytes, source)
        write_section(SECTION_TITLE, section)
        print(f"\nwrote {DOCS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
