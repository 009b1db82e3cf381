"""Benchmark: `unstall mirrors rank` over 8 Go mirrors, half of them blackholed.

Eight loopback Go module proxies serving the same 1 MiB-zip module (four healthy with
0–150 ms of latency, four that accept connections and never answer), and a loopback
checksum database. In one run: `unstall mirrors rank` measuring all eight at once (3
samples each, the default), against the same eight measured one after another, one
`unstall mirrors rank --candidate URL` each, the way sequential tools (chsrc, nrm) test
mirrors. Target: the whole rank within 15 s. Run from the repository root::

    .venv/bin/python bench/mirrors.py --reps 1
    .venv/bin/python bench/mirrors.py --write-docs
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # `python bench/mirrors.py` puts bench/ on the path, not the repository root.
    sys.path.insert(0, str(ROOT))

from tests.support.cli import run_unstall  # noqa: E402
from tests.support.gocmd import go_environment  # noqa: E402
from tests.support.mirrors import GO_SAMPLE_MODULE, SUMDB_NAME, GoMirrors, make_go_sample  # noqa: E402
from tests.support.upstream import UpstreamPool  # noqa: E402

from bench.docs import DOCS, write_section  # noqa: E402
from bench.go_download_report import provenance  # noqa: E402

SECTION_TITLE: Final = "## mirrors: ranking 8 Go mirrors, half blackholed"
TARGET_S: Final = 15.0
LATENCIES: Final = (0.0, 0.05, 0.1, 0.15)


@dataclass
class Rep:
    together: float
    one_by_one: list[float]


def rank_run(
    urls: Sequence[str], env: dict[str, str], cwd: Path
) -> tuple[float, list[dict[str, object]]]:
    args = ["mirrors", "rank", "--ecosystem", "go", "--no-catalogue", "--json"]
    for url in urls:
        args += ["--candidate", url]
    started = time.perf_counter()
    done = run_unstall(args, cwd=cwd, env=env, timeout=600)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"rank exited {done.returncode}: {done.stderr[-2000:]}")
    rows: list[dict[str, object]] = json.loads(done.stdout)["candidates"]
    return seconds, rows


def run(args: argparse.Namespace) -> tuple[list[Rep], list[dict[str, object]]]:
    pool = UpstreamPool()
    reps: list[Rep] = []
    try:
        mirrors = GoMirrors(pool, make_go_sample())
        healthy = [mirrors.slow(latency) for latency in LATENCIES]
        dead = [mirrors.blackholed() for _ in range(4)]
        database, _ = mirrors.checksum_db()
        urls = [s.url for pair in zip(healthy, dead, strict=True) for s in pair]
        with tempfile.TemporaryDirectory(prefix="bench-mirrors-") as tmp:
            home = Path(tmp)
            # GOPROXY=off: no current source; only the eight candidates are measured.
            env = go_environment(
                home,
                goproxy="off",
                extra={
                    "GOSUMDB": f"{SUMDB_NAME} {database.url}/sumdb/{SUMDB_NAME}",
                    "UNSTALL_RANK__SAMPLE_GO": GO_SAMPLE_MODULE,
                    "UNSTALL_HOME": str(home / "unstall"),
                },
            )
            rows: list[dict[str, object]] = []
            for rep in range(1, args.reps + 1):
                together, rows = rank_run(urls, env, home)
                check(rows, {s.url for s in healthy}, {s.url for s in dead})
                one_by_one = [rank_run([url], env, home)[0] for url in urls]
                reps.append(Rep(together, one_by_one))
                print(
                    f"[{rep}/{args.reps}] at once {together:.2f} s, one after another "
                    f"{sum(one_by_one):.2f} s",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        pool.stop_all()
    return reps, rows


def check(rows: Sequence[dict[str, object]], healthy: set[str], dead: set[str]) -> None:
    """Every healthy mirror ranked, every blackholed one excluded."""
    status = {str(r["url"]): r["status"] for r in rows}
    wrong = [u for u in healthy if status.get(u) != "ranked"]
    wrong += [u for u in dead if status.get(u) != "excluded"]
    if wrong:
        raise RuntimeError(f"unexpected verdicts for {wrong}: {rows}")


def _row(row: dict[str, object]) -> str:
    ttfb, speed = row["ttfb_ms"], row["throughput_kbps"]
    first_byte = "-" if ttfb is None else f"{float(str(ttfb)):.0f} ms"
    throughput = "-" if speed is None else f"{float(str(speed)):,.0f} kB/s"
    cells = [str(row["rank"] or "-"), str(row["status"]), str(row["cause"] or "-")]
    return "| " + " | ".join([*cells, first_byte, throughput]) + " |"


def render(reps: Sequence[Rep], rows: Sequence[dict[str, object]], args: argparse.Namespace) -> str:
    together = statistics.median(r.together for r in reps)
    worst = max(r.together for r in reps)
    sequential = statistics.median(sum(r.one_by_one) for r in reps)
    met = "met" if worst <= TARGET_S else "**not met**"
    table = "\n".join(_row(r) for r in rows)
    return f"""{SECTION_TITLE}

{provenance()}
Eight loopback Go module proxies serving `{GO_SAMPLE_MODULE}` (three versions, 1 MiB
zips): four healthy with {", ".join(f"{int(x * 1000)} ms" for x in LATENCIES)} before
each answer, four blackholed (accept, never answer); a loopback checksum database.
`unstall mirrors rank --ecosystem go --no-catalogue --json` with the eight as
`--candidate`, default settings (3 samples, 4 s per phase): doctor's probe three times,
then the newest zip through each mirror, its h1 checked against the database. "One after
another" runs the same command once per mirror and adds the times up. Wall time of the
whole command, Python start-up included; {args.reps} repetition(s), each checked to rank
the four healthy mirrors and exclude the four blackholed ones.

| | median wall time | worst | target |
|---|---|---|---|
| all eight at once | {together:.2f} s | {worst:.2f} s | ≤ {TARGET_S:g} s: {met} |
| one after another | {sequential:.2f} s | {max(sum(r.one_by_one) for r in reps):.2f} s | |

The last run's ranking (rank, status, cause, median first byte, throughput of the zip):

| rank | status | cause | first byte | throughput |
|---|---|---|---|---|
{table}

At once took {together / sequential:.2f}x the time of one after another: the blackholed
mirrors each cost one phase deadline, all at the same time, while the healthy ones are
measured.
"""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=3, help="repetitions")
    parser.add_argument("--write-docs", action="store_true", help=f"update {DOCS.name}")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    reps, rows = run(args)
    section = render(reps, rows, args)
    print(section)
    if args.write_docs:
        write_section(SECTION_TITLE, section)
        print(f"updated the mirrors section of {DOCS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
