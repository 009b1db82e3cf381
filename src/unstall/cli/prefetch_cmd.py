"""`unstall prefetch`: download everything go.sum lists, verified, into the cache or a bundle."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from unstall.cli.common import (
    RunRecorder,
    VersionOption,
    err_console,
    handle_errors,
    run_async,
    settings_from,
)
from unstall.cli.observers import (
    MetricsTextfileOption,
    OtlpEndpointOption,
    PushgatewayOption,
    start_observers,
)
from unstall.cli.progress import live_progress
from unstall.config import Settings
from unstall.errors import GoSumError, ToolchainError, UnstallError, UsageError
from unstall.events import EventBus
from unstall.goproxy.engine import ProxyEngine
from unstall.goproxy.hashes import GoSum, iter_gosum
from unstall.goproxy.paths import Artifact, Kind
from unstall.goproxy.stash import Stash
from unstall.goproxy.upstream import UpstreamSpec
from unstall.gotool.env import (
    go_env_or_environ,
    match_prefix_patterns,
    parse_goproxy,
    private_patterns,
)
from unstall.observe.summary import RunSummary
from unstall.redact import redact


def _read_gosum(path: Path) -> tuple[GoSum, list[GoSumError]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(
            f"{path}: no such go.sum", fix="Pass --go-sum PATH or run `go mod tidy` to create it."
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from exc
    gosum, problems = GoSum(), []
    for item in iter_gosum(text, str(path)):
        if isinstance(item, GoSumError):
            problems.append(item)
        else:
            gosum.add(item)
    return gosum, problems


def _gomodcache(go_env: dict[str, str]) -> str:
    value = go_env.get("GOMODCACHE")
    if not value:
        raise ToolchainError(
            "cannot tell where the module cache is: go was not found", cause="go-missing"
        )
    return value


def _targets(gosum: GoSum, private: str) -> tuple[list[Artifact], list[str]]:
    targets, skipped = [], []
    for module, version, has_zip in gosum.versions():
        if match_prefix_patterns(private, module):
            skipped.append(f"{module}@{version}")
            continue
        targets.append(Artifact(module, Kind.INFO, version))
        targets.append(Artifact(module, Kind.MOD, version))
        if has_zip:
            targets.append(Artifact(module, Kind.ZIP, version))
    return targets, skipped


async def _prefetch(
    stash: Stash, targets: list[Artifact], jobs: int, *, keep: bool
) -> list[UnstallError]:
    limit = asyncio.Semaphore(jobs)
    errors: list[UnstallError] = []

    async def one(artifact: Artifact) -> None:
        async with limit:
            try:
                served = await stash.get(artifact)
            except UnstallError as error:
                errors.append(error)
                return
            if not keep and served.path is not None:
                # Warming a server: the bytes were fetched and verified; the copy here
                # has served its purpose.
                served.path.unlink(missing_ok=True)

    await asyncio.gather(*(one(a) for a in targets))
    if keep:
        for module in sorted({a.module for a in targets}):
            stash.store.write_list(module)
    return errors


async def _run(
    settings: Settings,
    gosum: GoSum,
    targets: list[Artifact],
    jobs: int,
    specs: Sequence[UpstreamSpec],
    private: str,
    bus: EventBus,
    *,
    keep: bool,
) -> list[UnstallError]:
    engine = ProxyEngine(settings, specs, bus=bus, gosum=gosum, private=private)
    async with engine:
        assert engine.stash is not None
        return await _prefetch(engine.stash, targets, jobs, keep=keep)


def _server_url(into: str) -> str | None:
    """``into`` as a server base URL, or None when it names a directory."""
    if into.startswith(("http://", "https://")):
        return into.rstrip("/")
    if "://" in into:
        raise UsageError(
            f"--into {into!r}: only http(s) URLs and directories are supported",
            fix="Pass a server URL such as http://HOST:3000 or a directory path.",
        )
    return None


@handle_errors
def prefetch_command(
    go_sum: Annotated[
        Path, typer.Option("--go-sum", help="The go.sum whose module versions to fetch.")
    ] = Path("go.sum"),
    into: Annotated[
        str | None,
        typer.Option(
            "--into",
            "--bundle",
            metavar="URL_OR_DIR",
            help="A DIR to fill in the cache/download layout (usable as GOPROXY=file://DIR), "
            "or the URL of an `unstall serve` (or any GOPROXY) to warm its cache. "
            "Default: the module cache.",
        ),
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=1, max=256, help="Downloads in parallel.")
    ] = 16,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    report_json: Annotated[
        Path | None,
        typer.Option("--report-json", help="Write a per-artifact JSON summary to this file."),
    ] = None,
    metrics_textfile: MetricsTextfileOption = None,
    pushgateway: PushgatewayOption = None,
    otlp_endpoint: OtlpEndpointOption = None,
    version: Annotated[bool, VersionOption] = False,
) -> None:
    """Fetch every module version go.sum lists, verified, in parallel.

    Example: unstall prefetch --go-sum go.sum --into ./bundle
    """
    server = _server_url(into) if into is not None else None
    go_env = go_env_or_environ()
    scratch = None
    if server is not None:
        # Everything goes through the server (which fetches and caches it); the local
        # copies are only there to verify what it served, and are deleted as we go.
        scratch = tempfile.TemporaryDirectory(prefix="unstall-prefetch-")
        target_dir = Path(scratch.name)
    elif into is not None:
        target_dir = Path(into)
    else:
        target_dir = Path(_gomodcache(go_env)) / "cache" / "download"
    settings = settings_from({"cache_dir": target_dir})
    if server is not None:
        proxies = parse_goproxy(server)
    else:
        proxies = parse_goproxy(go_env.get("GOPROXY", ""), mirrors=settings.mirrors)
    if not proxies.proxies:
        raise UsageError(
            f"GOPROXY={go_env.get('GOPROXY', '')!r} names no module proxy to fetch from",
            cause="upstream-none",
        )
    gosum, problems = _read_gosum(go_sum)
    private = private_patterns(go_env)
    targets, skipped = _targets(gosum, private)
    for problem in problems:
        err_console.print(f"unstall: {problem.message}", markup=False)
    for name in skipped:
        err_console.print(
            f"unstall: skipped private module {name} (go fetches it directly)", markup=False
        )

    bus = EventBus()
    summary = RunSummary()
    bus.subscribe(summary)
    recorder = RunRecorder(settings, bus, "prefetch", [str(go_sum)])
    observers = start_observers(
        bus,
        settings,
        recorder,
        command="prefetch",
        metrics_textfile=metrics_textfile,
        pushgateway=pushgateway,
        otlp_endpoint=otlp_endpoint,
    )
    progress = live_progress(summary, bus, quiet=quiet)
    exit_code = 1
    try:
        with progress or contextlib.nullcontext():
            errors = run_async(
                _run(
                    settings,
                    gosum,
                    targets,
                    jobs,
                    proxies.proxies,
                    private,
                    bus,
                    keep=server is None,
                )
            )
        exit_code = 1 if errors or problems else 0
    finally:
        recorder.finish(exit_code)
        observers.finish(exit_code, run_id=recorder.run_id)
        if scratch is not None:
            scratch.cleanup()
        if report_json is not None:
            summary.write_json(report_json, run_id=recorder.run_id, exit_code=exit_code)
    fetched = sum(1 for a in summary.artifacts if a.outcome != "failed")
    where = redact(server) if server is not None else str(target_dir)
    err_console.print(
        f"unstall: {fetched} of {len(targets)} artifacts in {where}"
        + (f"; {len(problems)} malformed go.sum line(s)" if problems else ""),
        markup=False,
    )
    for line in summary.failure_lines():
        err_console.print(f"  {line}", markup=False)
    raise typer.Exit(exit_code)


__all__ = ["prefetch_command"]
