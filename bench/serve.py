"""Benchmark: `unstall serve` against goproxy/goproxy, warm cache and cold cache under faults.

Everything runs on loopback. Warm cache: one healthy fake upstream serves a module with
a 1 MiB zip; `unstall serve` and goproxy's own command (installed with `go install` into a
temporary directory) each fetch its `.info`, `.mod` and `.zip` once, then wrk loads each
URL with 64 connections. Cold cache: a fresh `unstall serve` with an empty store fetches
every artifact of a module graph through (a) one healthy upstream, (b) one healthy upstream
with 100 ms latency, (c) the fault mix of bench/go_download.py (A blackhole, B resets and
503s, C healthy with 100 ms latency). Run from the repository root::

    .venv/bin/python bench/serve.py --quick
    .venv/bin/python bench/serve.py --write-docs
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # `python bench/serve.py` puts bench/ on the path, not the repository root.
    sys.path.insert(0, str(ROOT))

from tests.support.faults import Fault, ResetBody, Status  # noqa: E402
from tests.support.modfactory import FixtureModule, ModuleSet, make_graph, make_module  # noqa: E402
from tests.support.upstream import FakeUpstream  # noqa: E402

from bench.docs import DOCS, write_section  # noqa: E402
from bench.go_download import snapshot_source, vm_hwm_mib  # noqa: E402
from bench.go_download_report import source_state  # noqa: E402
from bench.serve_report import (  # noqa: E402
    C_LATENCY_MS,
    COLD_PAYLOADS,
    FAULT_FREE,
    FAULTS,
    KINDS,
    LATENCY_ONLY,
    PEER,
    SECTION_TITLE,
    UNSTALL,
    ColdRun,
    ColdSummary,
    Facts,
    LoadRun,
    cold_ratio_table,
    cold_table,
    parse_wrk,
    percentile,
    ratio_table,
    render_section,
    summarize_load,
    warm_table,
)
from unstall.goproxy.paths import escape  # noqa: E402

BIG_MODULE: Final = ("fixture.test/big", "v1.0.0")
BIG_PAYLOAD: Final = 1 << 20
PEER_MODULE: Final = "github.com/goproxy/goproxy"
PEER_COMMAND: Final = f"{PEER_MODULE}/cmd/goproxy"
# Used only when `@latest` cannot be resolved (a registry that refuses version lists):
# the newest release tag when this benchmark was written.
PEER_PINNED: Final = "v0.26.1"
ATHENS_COMMAND: Final = "github.com/gomods/athens/cmd/proxy@latest"
# The same random faults as bench/go_download.py's upstream B, with its default seed.
B_FAULTS: Final[tuple[tuple[float, Fault], ...]] = ((0.2, ResetBody(-1)), (0.1, Status(503)))
B_SEED: Final = 1
START_TIMEOUT: Final = 60.0
STOP_TIMEOUT: Final = 40.0
INSTALL_TIMEOUT: Final = 600.0
LISTENING: Final = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")
# Variables that would send a server's upstream traffic anywhere but loopback.
PROXY_VARIABLES: Final = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


# -- processes -------------------------------------------------------------------------


@dataclass
class Server:
    """A server process under test and the base URL it answers on."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    stderr: Path

    def pids(self) -> list[int]:
        """The process and its children (unstall serve --workers forks its workers)."""
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        return [pid, *(int(c) for c in children)]

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the process and its children (all threads), /proc."""
        total = 0.0
        for pid in self.pids():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                if pid == self.process.pid:
                    return None
                continue
            # Fields after the command name, which may hold spaces, start after the last ')'.
            fields = stat.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM (both servers shut down gracefully on it), SIGKILL if it takes too long."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def clean_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without proxy and UNSTALL_* settings, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in PROXY_VARIABLES and not k.startswith("UNSTALL_")
    }
    env.update(extra)
    return env


def wait_listening(process: subprocess.Popen[bytes], stderr: Path) -> str:
    """The URL `unstall serve` announces on stderr once it accepts connections."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        found = LISTENING.search(stderr.read_text(errors="replace"))
        if found:
            return found.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"unstall serve did not start:\n{stderr.read_text(errors='replace')}")


def start_unstall(
    unstall: str, workdir: Path, upstreams: Sequence[str], pythonpath: Path, workers: int
) -> Server:
    """`unstall serve` on an ephemeral loopback port with an empty store and home.

    The access log goes to a file, as a deployment would have it, so its cost is measured.
    The working directory and XDG_CONFIG_HOME are empty: no unstall.toml or user config
    changes the defaults.
    """
    workdir.mkdir(parents=True)
    env = clean_environment(
        {
            "UNSTALL_HOME": str(workdir / "home"),
            "XDG_CONFIG_HOME": str(workdir / "config"),
            "PYTHONPATH": str(pythonpath),
        }
    )
    command = [unstall, "serve", "--port", "0", "--cache", str(workdir / "cache")]
    for upstream in upstreams:
        command += ["--upstream", upstream]
    command += ["--access-log", str(workdir / "access.log"), "--workers", str(workers)]
    stderr = workdir / "stderr.txt"
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    try:
        url = wait_listening(process, stderr)
    except BaseException:
        Server(UNSTALL, process, "", stderr).stop()
        raise
    return Server(UNSTALL, process, url, stderr)


def tree_hwm_mib(server: Server) -> float | None:
    """Peak resident memory of the server and its workers, added up."""
    peaks = [p for p in (vm_hwm_mib(pid) for pid in server.pids()) if p is not None]
    return sum(peaks) if peaks else None


def free_port() -> int:
    """A loopback port nobody listens on now (goproxy does not print the one it gets)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_accepting(process: subprocess.Popen[bytes], port: int, stderr: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"goproxy did not start:\n{stderr.read_text(errors='replace')}")


def start_goproxy(binary: Path, workdir: Path, upstream: str) -> Server:
    """goproxy's server with its dir cacher, fetching only from ``upstream``.

    goproxy's fetcher takes GOPROXY and GOSUMDB from its environment; GOSUMDB=off
    matches unstall serve, which checks no checksum database either.
    """
    workdir.mkdir(parents=True)
    (workdir / "tmp").mkdir()
    port = free_port()
    env = clean_environment(
        {
            "GOPROXY": upstream,
            "GOSUMDB": "off",
            "GONOSUMDB": "",
            "GOPRIVATE": "",
            "GONOPROXY": "",
            "GOFLAGS": "",
            "GOTOOLCHAIN": "local",
            "GOMODCACHE": str(workdir / "modcache"),
        }
    )
    command = [
        str(binary),
        "server",
        "--address",
        f"127.0.0.1:{port}",
        "--cacher-dir",
        str(workdir / "cache"),
        "--temp-dir",
        str(workdir / "tmp"),
    ]
    stderr = workdir / "stderr.txt"
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            start_new_session=True,
        )
    server = Server(PEER, process, f"http://127.0.0.1:{port}", stderr)
    try:
        wait_accepting(process, port, stderr)
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        server.stop()


# -- installing the peers -------------------------------------------------------------


def registry_hosts() -> list[str]:
    """Hosts of go's configured proxies and checksum database, to keep out of the output.

    Read from `go env` and held in memory only: nothing here prints or records them.
    """
    done = subprocess.run(
        ["go", "env", "GOPROXY", "GOSUMDB"], capture_output=True, text=True, check=False
    )
    hosts = []
    for value in re.split(r"[\s,|]+", done.stdout):
        host = urlsplit(value if "://" in value else f"https://{value}").hostname
        if host and "." in host:
            hosts.append(host)
    return hosts


def redact(text: str, hosts: Sequence[str]) -> str:
    """``text`` with every URL and every registry host replaced by a placeholder."""
    text = re.sub(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+", "<registry URL>", text)
    for host in hosts:
        text = text.replace(host, "<registry>")
    return text


def first_error_line(stderr: str) -> str:
    """The first line of go's error, skipping its progress lines."""
    for line in stderr.splitlines():
        if line.strip() and not line.startswith(("go: downloading", "go: added", "go: finding")):
            return line.strip()
    return "no error output"


def go_install(args: Sequence[str], gobin: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`go install ARGS` into ``gobin`` with go's own configured proxy and checksum database."""
    env = {**os.environ, "GOBIN": str(gobin), "GOTOOLCHAIN": "local"}
    return subprocess.run(
        ["go", "install", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=INSTALL_TIMEOUT,
    )


@dataclass(frozen=True)
class PeerInstall:
    """The installed goproxy binary (None when it could not be installed) and how."""

    binary: Path | None
    version: str
    how: str


def install_goproxy(tmp: Path, hosts: Sequence[str]) -> PeerInstall:
    """`go install ...@latest`; failing that, the pinned release inside a throw-away module.

    `go install pkg@version` also asks for the module's version list (for deprecation
    notices), which a registry refusing version lists answers 403; inside a module that
    requires the version, plain `go install pkg` does not ask.
    """
    gobin = tmp / "bin"
    done = go_install([f"{PEER_COMMAND}@latest"], gobin, tmp)
    how = f"`go install {PEER_COMMAND}@latest`"
    if done.returncode != 0:
        latest_error = redact(first_error_line(done.stderr), hosts)
        module = tmp / "peer-module"
        module.mkdir()
        steps = [
            ["go", "mod", "init", "bench.test/peer"],
            ["go", "get", f"{PEER_MODULE}@{PEER_PINNED}"],
        ]
        for step in steps:
            got = subprocess.run(
                step, cwd=module, capture_output=True, text=True, check=False, timeout=600
            )
            if got.returncode != 0:
                error = redact(first_error_line(got.stderr), hosts)
                return PeerInstall(None, "not installed", f"{latest_error}; then {error}")
        done = go_install(["-mod=mod", PEER_COMMAND], gobin, module)
        how = (
            f"`@latest` failed ({latest_error}), so {PEER_PINNED} (the newest release tag) "
            f"was installed with `go install -mod=mod {PEER_COMMAND}` inside a temporary "
            f"module requiring `{PEER_MODULE} {PEER_PINNED}`"
        )
    binary = gobin / "goproxy"
    if done.returncode != 0 or not binary.is_file():
        return PeerInstall(None, "not installed", redact(first_error_line(done.stderr), hosts))
    version = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, check=False, timeout=60
    ).stdout.strip()
    return PeerInstall(binary, version, how)


def try_athens(tmp: Path, hosts: Sequence[str]) -> str:
    """One `go install` of Athens; what happened, for the report."""
    done = go_install([ATHENS_COMMAND], tmp / "athens-bin", tmp)
    if done.returncode != 0:
        return f"go install failed: {redact(first_error_line(done.stderr), hosts)}"
    return "installed, but this benchmark does not drive it yet"


def ensure_wrk() -> str:
    """The wrk binary, installed from the distribution's packages when missing."""
    found = shutil.which("wrk")
    if found is None:
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, timeout=600)
        found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed and apt-get could not install it")
    return found


# -- warm cache ------------------------------------------------------------------------


def artifact_path(module: FixtureModule, kind: str) -> str:
    return f"/{escape(module.path)}/@v/{escape(module.version)}.{kind}"


def expected_body(module: FixtureModule, kind: str) -> bytes:
    return {"info": module.info, "mod": module.gomod, "zip": module.zip_bytes}[kind]


def body_ok(module: FixtureModule, kind: str, body: bytes) -> bool:
    """The served bytes are the module's; a `.info` may be re-encoded (goproxy does)."""
    if kind != "info":
        return body == expected_body(module, kind)
    try:
        return bool(json.loads(body).get("Version") == module.version)
    except (ValueError, AttributeError):
        return False


def warm_up(server: Server, module: FixtureModule) -> None:
    """Fetch each artifact once, through the server, into its cache; check what came back."""
    with httpx.Client(trust_env=False, timeout=120) as client:
        for kind in KINDS:
            answer = client.get(server.url + artifact_path(module, kind))
            if answer.status_code != 200 or not body_ok(module, kind, answer.content):
                raise RuntimeError(
                    f"{server.name}: {kind} answered {answer.status_code}, "
                    f"{len(answer.content)} bytes"
                )


def run_wrk(wrk: str, url: str, seconds: int, args: argparse.Namespace) -> str:
    command = [
        wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--latency",
        url,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 120
    )
    return done.stdout


def measure(
    wrk: str, server: Server, module: FixtureModule, kind: str, rep: int, args: argparse.Namespace
) -> LoadRun:
    """A short untimed wrk run (connections opened, code paths warm), then the measured one."""
    url = server.url + artifact_path(module, kind)
    if args.warmup > 0:
        run_wrk(wrk, url, args.warmup, args)
    before = server.cpu_seconds()
    output = run_wrk(wrk, url, args.duration, args)
    after = server.cpu_seconds()
    if not server.alive():
        raise RuntimeError(f"{server.name} exited during the load on {kind}")
    cpu = None if before is None or after is None else after - before
    # wrk's own duration (not the wall time around the subprocess) is what CPU is spread over.
    return LoadRun(server.name, kind, rep, args.duration, parse_wrk(output), cpu)


def warm_benchmark(
    wrk: str,
    unstall: str,
    peer: Path,
    pythonpath: Path,
    tmp: Path,
    args: argparse.Namespace,
) -> tuple[list[LoadRun], dict[str, float | None]]:
    """Both servers up side by side on one upstream, loaded one URL and one server at a time.

    The servers alternate who goes first from one repetition to the next, so drift on the
    machine does not favour one of them. Returns the runs and each server's peak RSS.
    """
    module = make_module(*BIG_MODULE, payload_size=BIG_PAYLOAD)
    runs: list[LoadRun] = []
    with FakeUpstream(ModuleSet([module])) as upstream:
        ours = start_unstall(
            unstall, tmp / "warm-unstall", [upstream.url], pythonpath, args.workers
        )
        with running(ours), running(start_goproxy(peer, tmp / "warm-goproxy", upstream.url)) as g:
            servers = [ours, g]
            for server in servers:
                warm_up(server, module)
            for rep in range(1, args.reps + 1):
                order = servers if rep % 2 else servers[::-1]
                for kind in KINDS:
                    for server in order:
                        run = measure(wrk, server, module, kind, rep, args)
                        runs.append(run)
                        print(
                            f"[{rep}/{args.reps}] {server.name} .{kind}: "
                            f"{run.stats.requests_per_s:,.0f} req/s",
                            file=sys.stderr,
                            flush=True,
                        )
            peaks = {s.name: tree_hwm_mib(s) for s in servers}
    return runs, peaks


# -- cold cache ------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """One set of upstreams for the cold passes, named by letter in `--upstream` order."""

    name: str
    letters: str


SETUPS: Final = (
    Setup(FAULT_FREE, "D"),
    Setup(LATENCY_ONLY, "C"),
    Setup(FAULTS, "A B C"),
)


async def fetch_one(
    client: httpx.AsyncClient,
    base: str,
    module: FixtureModule,
    kind: str,
    gate: asyncio.Semaphore,
    run: ColdRun,
) -> None:
    async with gate:
        start = time.perf_counter()
        try:
            answer = await client.get(base + artifact_path(module, kind))
        except httpx.HTTPError as exc:
            run.failures.append(f"{module.path}@{module.version} .{kind}: {exc!r}")
            return
        elapsed = (time.perf_counter() - start) * 1000
    if answer.status_code == 200 and body_ok(module, kind, answer.content):
        run.latencies_ms.setdefault(kind, []).append(elapsed)
    else:
        run.failures.append(
            f"{module.path}@{module.version} .{kind}: {answer.status_code}, "
            f"{len(answer.content)} bytes"
        )


async def fetch_everything(
    base: str, modules: Sequence[FixtureModule], run: ColdRun, concurrency: int, cap: float
) -> None:
    """Every artifact of ``modules``, ``concurrency`` at a time, module by module."""
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with (
        httpx.AsyncClient(trust_env=False, timeout=cap, limits=limits) as client,
        asyncio.timeout(cap),
    ):
        await asyncio.gather(
            *(fetch_one(client, base, m, kind, gate, run) for m in modules for kind in KINDS)
        )


def cold_pass(
    setup: Setup,
    rep: int,
    urls: Mapping[str, str],
    modules: Sequence[FixtureModule],
    unstall: str,
    pythonpath: Path,
    tmp: Path,
    args: argparse.Namespace,
) -> ColdRun:
    """A fresh unstall serve (empty store, no upstream history) fetching every artifact."""
    upstreams = [urls[letter] for letter in setup.letters.split()]
    workdir = tmp / f"cold-{setup.name.replace(' ', '-')}-{rep}"
    run = ColdRun(setup.name, rep, 0.0)
    with running(start_unstall(unstall, workdir, upstreams, pythonpath, args.workers)) as server:
        start = time.monotonic()
        asyncio.run(fetch_everything(server.url, modules, run, args.cold_concurrency, args.cap))
        run.wall_s = time.monotonic() - start
        run.peak_rss_mib = tree_hwm_mib(server)
    shutil.rmtree(workdir, ignore_errors=True)
    return run


def cold_benchmark(
    unstall: str, pythonpath: Path, tmp: Path, args: argparse.Namespace
) -> tuple[list[ColdSummary], int, int]:
    """Every setup, ``args.cold_reps`` passes each; also returns the artifact count and bytes."""
    modules, _ = make_graph(args.modules, payload_sizes=list(COLD_PAYLOADS))
    every = modules.modules()
    upstreams = {
        "A": FakeUpstream(modules, mode="blackhole"),
        "B": FakeUpstream(modules, random_faults=B_FAULTS, random_match="*", seed=B_SEED),
        "C": FakeUpstream(modules, latency=C_LATENCY_MS / 1000),
        "D": FakeUpstream(modules),
    }
    runs: dict[str, list[ColdRun]] = {s.name: [] for s in SETUPS}
    try:
        for upstream in upstreams.values():
            upstream.start()
        urls = {letter: u.url for letter, u in upstreams.items()}
        # The first pass after the warm-cache phase ran slower than later ones whatever its
        # setup; one uncounted pass keeps that start-up effect out of every setup's numbers.
        warm = cold_pass(SETUPS[0], 0, urls, every, unstall, pythonpath, tmp, args)
        print(f"cold, uncounted first pass: {warm.wall_s:.2f} s", file=sys.stderr)
        for rep in range(1, args.cold_reps + 1):
            # Rotating the order puts each setup first, middle and last once in three reps.
            shift = (rep - 1) % len(SETUPS)
            for setup in SETUPS[shift:] + SETUPS[:shift]:
                run = cold_pass(setup, rep, urls, every, unstall, pythonpath, tmp, args)
                runs[setup.name].append(run)
                print(
                    f"[{rep}/{args.cold_reps}] cold, {setup.name}: {len(run.all_ms)} ok, "
                    f"{len(run.failures)} failed in {run.wall_s:.2f} s, "
                    f"p99 {percentile(run.all_ms, 99):.0f} ms",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        for upstream in upstreams.values():
            upstream.stop()
    summaries = [ColdSummary(s.name, s.letters, runs[s.name]) for s in SETUPS]
    size = sum(len(m.info) + len(m.gomod) + len(m.zip_bytes) for m in every)
    return summaries, len(every) * len(KINDS), size


# -- the run ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    # wrk takes whole seconds only.
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=1, help="untimed wrk seconds first")
    parser.add_argument("--reps", type=int, default=3, help="wrk runs per server and URL")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--modules", type=int, default=30, help="modules in the cold graph")
    parser.add_argument("--cold-reps", type=int, default=5, help="cold passes per setup")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="unstall serve --workers (default: the cores, as goproxy uses them all)",
    )
    parser.add_argument("--cold-concurrency", type=int, default=16, help="requests at once")
    parser.add_argument("--cap", type=float, default=300.0, help="limit of one cold pass, s")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 s, one repetition")
    parser.add_argument("--json", type=Path, help="write the raw numbers to this file")
    parser.add_argument("--write-docs", action="store_true", help=f"update {DOCS.name}")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.reps, args.cold_reps = 2, 1, 1, 1
    return args


def unstall_command() -> str:
    found = Path(sys.executable).with_name("unstall")
    return str(found) if found.is_file() else shutil.which("unstall") or str(found)


def versions(wrk: str) -> dict[str, str]:
    """Versions of the tools involved, for the machine facts."""

    def first_line(command: Sequence[str]) -> str:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
        return (done.stdout or done.stderr).strip().splitlines()[0]

    return {"wrk": first_line([wrk, "--version"]), "go": first_line(["go", "version"])}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = ensure_wrk()
    unstall = unstall_command()
    source = source_state()
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    try:
        hosts = registry_hosts()
        (tmp / "peer").mkdir()
        peer = install_goproxy(tmp / "peer", hosts)
        athens = try_athens(tmp / "peer", hosts)
        print(f"goproxy: {peer.version}, {peer.how}\nAthens: {athens}", file=sys.stderr)
        if peer.binary is None:
            print(f"goproxy could not be installed: {peer.how}", file=sys.stderr)
            return 1
        pythonpath = snapshot_source(tmp / "src", sys.executable)
        print(f"benchmarking unstall at {source}", file=sys.stderr)
        runs, peaks = warm_benchmark(wrk, unstall, peer.binary, pythonpath, tmp, args)
        cold, artifacts, cold_bytes = cold_benchmark(unstall, pythonpath, tmp, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    module = make_module(*BIG_MODULE, payload_size=BIG_PAYLOAD)
    urls = {kind: artifact_path(module, kind) for kind in KINDS}
    summaries = summarize_load(runs)
    facts = Facts(
        args=vars(args) | {"json": str(args.json) if args.json else None},
        source=source,
        tools=versions(wrk) | {"goproxy": peer.version},
        peer_install=peer.how,
        athens=athens,
        zip_bytes=len(module.zip_bytes),
        peaks=peaks,
        cold_artifacts=artifacts,
        cold_bytes=cold_bytes,
    )
    print(warm_table(summaries, urls), ratio_table(summaries), sep="\n\n")
    print("", cold_table(cold), cold_ratio_table(cold), sep="\n\n")
    if args.json:
        document = {
            "facts": asdict(facts),
            "warm": [asdict(r) for r in runs],
            "cold": [asdict(r) for s in cold for r in s.runs],
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    if args.write_docs:
        section = render_section(facts, summaries, urls, cold)
        write_section(SECTION_TITLE, section)
        print(f"\nupdated the {UNSTALL!r} section of {DOCS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
