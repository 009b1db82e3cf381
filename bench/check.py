"""Benchmark: `unstall check` against golangci-lint (noctx + gosec G112/G114) and gosec.

A large real Go code base is fetched as a Go module into a temporary GOMODCACHE, with its
dependency graph (the two peers type-check, so they need it); the peers are installed
with `go install` at pinned versions into a temporary GOBIN. All three check the same
non-test .go files (vendor/ and testdata/ left out); each run's wall time and peak RSS
are measured, and lines per second computed over the files' lines. Run from the
repository root::

    .venv/bin/python bench/check.py --reps 1
    .venv/bin/python bench/check.py --write-docs
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # `python bench/check.py` puts bench/ on the path, not the repository root.
    sys.path.insert(0, str(ROOT))

from bench.docs import DOCS, write_section  # noqa: E402
from bench.go_download_report import provenance  # noqa: E402

SECTION_TITLE: Final = "## check: unstall check vs golangci-lint and gosec"
CODE_BASE: Final = "github.com/prometheus/prometheus@v0.316.0"
# Pinned: `@latest` is not always served by the registry here, and a benchmark should
# say exactly what it compared against.
GOLANGCI: Final = "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0"
GOSEC: Final = "github.com/securego/gosec/v2/cmd/gosec@v2.30.0"
GOLANGCI_CONFIG: Final = """\
version: "2"
run:
  tests: false
linters:
  default: none
  enable: [noctx, gosec]
  settings:
    gosec:
      includes: [G112, G114]
issues:
  max-issues-per-linter: 0
  max-same-issues: 0
"""
TARGET_SPEEDUP: Final = 5.0
TARGET_LINES_PER_S: Final = 100_000
TARGET_RSS_MIB: Final = 500


@dataclass
class Run:
    tool: str
    seconds: float
    peak_mib: float
    exit_code: int


def go_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("GOFLAGS", "GOENV"):
        env.pop(name, None)
    env.update(
        {
            "GOMODCACHE": str(tmp / "gomodcache"),
            "GOPATH": str(tmp / "gopath"),
            "GOBIN": str(tmp / "bin"),
            "GOTOOLCHAIN": "local",
            "GOENV": "off",
            # the module's zip carries the repository's go.work, whose other modules it lacks
            "GOWORK": "off",
            "GOLANGCI_LINT_CACHE": str(tmp / "lint-cache"),
        }
    )
    return env


def run_quiet(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float) -> str:
    done = subprocess.run(
        list(argv), cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def fetch_code_base(tmp: Path, env: Mapping[str, str]) -> Path:
    """The module's source, copied out of the read-only module cache, its deps downloaded."""
    source = tmp / "src"
    if (source / "go.mod").is_file():  # --work: fetched by an earlier run
        return source
    (tmp / "fetch").mkdir(exist_ok=True)
    if not (tmp / "fetch" / "go.mod").is_file():
        run_quiet(["go", "mod", "init", "bench.test/fetch"], cwd=tmp / "fetch", env=env, timeout=60)
    out = run_quiet(
        ["go", "mod", "download", "-json", CODE_BASE], cwd=tmp / "fetch", env=env, timeout=1800
    )
    directory = Path(next(line.split('"')[3] for line in out.splitlines() if '"Dir"' in line))
    shutil.copytree(directory, source)
    for path in [source, *source.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    run_quiet(["go", "mod", "download"], cwd=source, env=env, timeout=3600)
    return source


def checked_files(source: Path) -> list[Path]:
    """The non-test .go files outside vendor/ and testdata/ (what all three look at)."""
    return [
        p
        for p in source.rglob("*.go")
        if not p.name.endswith("_test.go")
        and not {"vendor", "testdata"} & set(p.relative_to(source).parts)
    ]


def timed(tool: str, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> Run:
    """Wall time and peak RSS (of the process itself, from wait4) of one run."""
    started = time.perf_counter()
    process = subprocess.Popen(
        list(argv), cwd=cwd, env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
        raise RuntimeError(f"{tool} exited {code}: {stderr[-3000:]}")
    return Run(tool, seconds, usage.ru_maxrss / 1024, code)


def run(args: argparse.Namespace) -> tuple[list[Run], int, int, dict[str, str]]:
    unstall = str(Path(sys.executable).with_name("unstall"))
    with contextlib.ExitStack() as stack:
        if args.work is not None:
            tmp = args.work.resolve()
            tmp.mkdir(parents=True, exist_ok=True)
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-check-")))
        env = go_env(tmp)
        versions: dict[str, str] = {}
        for package in (GOLANGCI, GOSEC):
            binary = tmp / "bin" / package.split("/cmd/")[1].split("@")[0]
            if not binary.is_file():
                print(f"installing {package}", file=sys.stderr, flush=True)
                run_quiet(["go", "install", package], cwd=tmp, env=env, timeout=3600)
            versions[package.split("/cmd/")[1].split("@")[0]] = package.split("@")[1]
        print(f"fetching {CODE_BASE} and its dependencies", file=sys.stderr, flush=True)
        source = fetch_code_base(tmp, env)
        files = checked_files(source)
        lines = sum(p.read_bytes().count(b"\n") for p in files)
        (source / ".golangci.yml").write_text(GOLANGCI_CONFIG)
        # golangci-lint type-checks with go's build cache: warm it once, uncounted, so
        # every measured run of every tool starts from the same state.
        run_quiet(["go", "build", "./..."], cwd=source, env=env, timeout=3600)
        commands = {
            "unstall check": [unstall, "check", ".", "--format", "json"],
            "golangci-lint (noctx, gosec G112/G114)": [
                str(tmp / "bin" / "golangci-lint"),
                "run",
                "--config",
                ".golangci.yml",
                "./...",
            ],
            "gosec (G112, G114)": [
                str(tmp / "bin" / "gosec"),
                "-include=G112,G114",
                "-quiet",
                "-fmt=json",
                "./...",
            ],
        }
        runs = []
        for rep in range(1, args.reps + 1):
            for tool, argv in commands.items():
                shutil.rmtree(tmp / "lint-cache", ignore_errors=True)
                result = timed(tool, argv, cwd=source, env=env)
                runs.append(result)
                print(
                    f"[{rep}/{args.reps}] {tool}: {result.seconds:.2f} s, "
                    f"{result.peak_mib:.0f} MiB, exit {result.exit_code}",
                    file=sys.stderr,
                    flush=True,
                )
        return runs, len(files), lines, versions


def render(
    runs: Sequence[Run], files: int, lines: int, versions: Mapping[str, str], reps: int
) -> str:
    tools = list(dict.fromkeys(r.tool for r in runs))
    median = {t: statistics.median(r.seconds for r in runs if r.tool == t) for t in tools}
    peak = {t: max(r.peak_mib for r in runs if r.tool == t) for t in tools}
    rows = "\n".join(
        f"| {t} | {median[t]:.2f} s | {lines / median[t]:,.0f} | {peak[t]:.0f} MiB |" for t in tools
    )
    ours, lint = tools[0], tools[1]
    speedup = median[lint] / median[ours]
    rate = lines / median[ours]
    met = {
        "speed": "met" if speedup >= TARGET_SPEEDUP else "**not met**",
        "rate": "met" if rate >= TARGET_LINES_PER_S else "**not met**",
        "rss": "met" if peak[ours] < TARGET_RSS_MIB else "**not met**",
    }
    peers = ", ".join(f"{name} {version}" for name, version in versions.items())
    installed = "installed with `go install` at pinned versions into a temporary GOBIN"
    return f"""{SECTION_TITLE}

{provenance()}- peers, {installed}: {peers}

Code base: `{CODE_BASE}` fetched with `go mod download` into a temporary GOMODCACHE,
with its dependencies (the peers type-check). Checked by all three: {files:,} non-test
`.go` files outside vendor/ and testdata/, {lines:,} lines. golangci-lint runs with only
`noctx` and `gosec` (G112, G114) enabled and tests off, its cache emptied before every
run; go's build cache is warmed once before the runs. Peak RSS comes from `wait4`: the
largest single process of the run (golangci-lint and gosec are one process each; unstall
check forks one worker per core, so its total is at most three times its figure here).
{reps} repetition(s); medians.

| tool | wall time | lines/s | peak RSS |
|---|---|---|---|
{rows}

| target | measured | met |
|---|---|---|
| ≥ {TARGET_SPEEDUP:g}x faster than golangci-lint | {speedup:.1f}x | {met["speed"]} |
| ≥ {TARGET_LINES_PER_S:,} lines/s | {rate:,.0f} | {met["rate"]} |
| < {TARGET_RSS_MIB} MiB | {peak[ours]:.0f} MiB | {met["rss"]} |
"""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=3, help="repetitions")
    parser.add_argument("--write-docs", action="store_true", help=f"update {DOCS.name}")
    parser.add_argument(
        "--work", type=Path, help="keep tools and the code base in this directory (reused)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    runs, files, lines, versions = run(args)
    section = render(runs, files, lines, versions, args.reps)
    print(section)
    if args.write_docs:
        write_section(SECTION_TITLE, section)
        print(f"updated the check section of {DOCS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
