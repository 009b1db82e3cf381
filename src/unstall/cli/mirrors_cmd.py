"""`unstall mirrors`: rank Go, pip and npm sources; apply the best; undo exactly."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console

from unstall.cli.common import VersionOption, handle_errors, run_async, settings_from
from unstall.config import Settings
from unstall.doctor.checks import SubprocessRunner
from unstall.doctor.model import Source, SourceReport
from unstall.doctor.probe import ProbeOptions, probe_source
from unstall.errors import ToolchainError
from unstall.gotool.env import read_go_env
from unstall.http.client import make_client
from unstall.mirrors.apply import apply, history, plan, undo
from unstall.mirrors.catalogue import current_sources, load_catalogue, merge, parse_candidate
from unstall.mirrors.journal import Journal
from unstall.mirrors.journal import Status as JournalStatus
from unstall.mirrors.measure_go import GoMeasurer
from unstall.mirrors.measure_npm import NpmMeasurer
from unstall.mirrors.measure_pip import PipMeasurer
from unstall.mirrors.model import Candidate, Ecosystem, GoChecksumDb, MeasurerTable, Sample
from unstall.mirrors.rank import Ranking, Status, rank
from unstall.mirrors.render import print_rankings
from unstall.mirrors.tools import Tools
from unstall.resilience.timeouts import Timeouts

mirrors_app = typer.Typer(
    name="mirrors",
    help="Rank Go, pip and npm sources by what they deliver; apply the best; undo exactly.",
    no_args_is_help=True,
)

_COMMAND_TIMEOUT = 20.0


class EcosystemChoice(StrEnum):
    GO = "go"
    PIP = "pip"
    NPM = "npm"
    ALL = "all"


def ecosystems_of(choice: EcosystemChoice) -> list[Ecosystem]:
    return list(Ecosystem) if choice is EcosystemChoice.ALL else [Ecosystem(choice.value)]


def _go_env(environ: dict[str, str]) -> dict[str, str] | None:
    try:
        return read_go_env("go", env=environ)
    except (ToolchainError, OSError):
        return None


def _checksum_db(go_env: dict[str, str] | None) -> GoChecksumDb | None:
    """GOSUMDB as ``name[+key] [url]``; None when it is off or go is missing."""
    value = (go_env or {}).get("GOSUMDB", "").strip()
    if not value or value == "off":
        return None
    fields = value.split()
    name = fields[0].split("+", 1)[0]
    return GoChecksumDb(name, fields[1] if len(fields) > 1 else None)


def gather_candidates(
    settings: Settings,
    ecosystems: Sequence[Ecosystem],
    given: Sequence[str],
    *,
    use_catalogue: bool = True,
) -> tuple[list[Candidate], dict[str, str] | None]:
    """Current sources first, then configured mirrors, --candidate, the catalogue."""
    environ = dict(os.environ)
    runner = SubprocessRunner(environ)

    def read(argv: Sequence[str]) -> str | None:
        result = runner(argv, timeout=_COMMAND_TIMEOUT)
        return result.stdout if result is not None and result.returncode == 0 else None

    go_env = _go_env(environ) if Ecosystem.GO in ecosystems else None
    catalogue = load_catalogue()[0] if settings.rank.catalogue and use_catalogue else []
    configured = [Candidate(url.rstrip("/"), Ecosystem.GO, "config") for url in settings.mirrors]
    extra = [parse_candidate(text, ecosystems) for text in given]
    current = current_sources(go_env, environ, read, ecosystems)
    return merge([current, configured, extra, catalogue], ecosystems), go_env


async def rank_candidates(
    settings: Settings,
    candidates: Sequence[Candidate],
    go_env: dict[str, str] | None,
    *,
    samples: int,
    phase_timeout: float,
) -> list[Ranking]:
    sample_table = dict(load_catalogue()[1])
    chosen = {
        Ecosystem.GO: settings.rank.sample_go,
        Ecosystem.PIP: settings.rank.sample_pip,
        Ecosystem.NPM: settings.rank.sample_npm,
    }
    for ecosystem, project in chosen.items():
        if project:
            sample_table[ecosystem] = Sample(ecosystem, project)
    measurers: MeasurerTable = {
        Ecosystem.GO: GoMeasurer(_checksum_db(go_env), timeout=phase_timeout),
        Ecosystem.PIP: PipMeasurer(timeout=phase_timeout),
        Ecosystem.NPM: NpmMeasurer(timeout=phase_timeout),
    }
    options = ProbeOptions(timeout=phase_timeout, samples=samples, environ=dict(os.environ))

    async def probe(source: Source) -> SourceReport:
        return await probe_source(source, options)

    async with make_client(Timeouts.from_settings(settings.timeouts)) as client:
        return await rank(
            candidates,
            sample_table,
            measurers,
            probe=probe,
            client=client,
            artifact_deadline=phase_timeout * 3,
        )


@mirrors_app.callback()
def mirrors_group(version: Annotated[bool, VersionOption] = False) -> None:
    """Rank Go, pip and npm sources by what they deliver; apply the best; undo exactly."""


NoCatalogueOption = Annotated[
    bool,
    typer.Option(
        "--no-catalogue",
        help="Leave out the shipped public mirrors: rank the current sources, configured "
        "mirrors and --candidate only.",
    ),
]
EcosystemOption = Annotated[
    EcosystemChoice, typer.Option("--ecosystem", help="Which sources: go, pip, npm or all.")
]


@mirrors_app.command("rank")
@handle_errors
def rank_command(
    ecosystem: EcosystemOption = EcosystemChoice.ALL,
    candidate: Annotated[
        list[str] | None,
        typer.Option(
            "--candidate",
            metavar="[ECOSYSTEM=]URL",
            help="One more source to rank (go=, pip= or npm= unless one --ecosystem).",
        ),
    ] = None,
    samples: Annotated[
        int, typer.Option("--samples", min=1, max=20, help="Probes per candidate (medians).")
    ] = 3,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, max=120, help="Deadline of each phase, s.")
    ] = 4.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    no_catalogue: NoCatalogueOption = False,
    version: Annotated[bool, VersionOption] = False,
) -> None:
    """Measure every candidate (phases, a real artifact, its content) and rank them.

    Example: unstall mirrors rank --ecosystem go --candidate https://mirror.example.test
    """
    settings = settings_from({})
    wanted = ecosystems_of(ecosystem)
    candidates, go_env = gather_candidates(
        settings, wanted, candidate or [], use_catalogue=not no_catalogue
    )
    rankings = run_async(
        rank_candidates(settings, candidates, go_env, samples=samples, phase_timeout=timeout)
    )
    if as_json:
        typer.echo(json.dumps({"candidates": [r.as_dict() for r in rankings]}, indent=2))
    else:
        print_rankings(Console(highlight=False, soft_wrap=True), rankings)


def _chosen(rankings: Sequence[Ranking]) -> dict[Ecosystem, list[str]]:
    """Ranked URLs per ecosystem, best first."""
    chosen: dict[Ecosystem, list[str]] = {}
    for row in rankings:
        if row.status is Status.RANKED:
            chosen.setdefault(row.candidate.ecosystem, []).append(row.candidate.url)
    return chosen


@mirrors_app.command("apply")
@handle_errors
def apply_command(
    ecosystem: EcosystemOption = EcosystemChoice.ALL,
    top: Annotated[
        int,
        typer.Option("--top", min=1, max=10, help="Go: how many mirrors, joined with '|'."),
    ] = 1,
    samples: Annotated[int, typer.Option("--samples", min=1, max=20)] = 3,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, max=120)] = 4.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the exact commands; change nothing.")
    ] = False,
    no_catalogue: NoCatalogueOption = False,
    version: Annotated[bool, VersionOption] = False,
) -> None:
    """Rank, then write the best sources through go env -w, pip config and npm config.

    The previous values and config files are journaled first: `unstall mirrors undo`
    puts them back exactly. Example: unstall mirrors apply --ecosystem go --top 2 --dry-run
    """
    settings = settings_from({})
    wanted = ecosystems_of(ecosystem)
    candidates, go_env = gather_candidates(settings, wanted, [], use_catalogue=not no_catalogue)
    rankings = run_async(
        rank_candidates(settings, candidates, go_env, samples=samples, phase_timeout=timeout)
    )
    console = Console(highlight=False, soft_wrap=True)
    print_rankings(console, rankings)
    tools = Tools()
    chosen = _chosen(rankings)
    for missing in sorted(set(wanted) - set(chosen)):
        console.print(f"{missing.value}: no candidate ranked; left as it is", markup=False)
    planned = plan(chosen, top=top, tools=tools)
    for skipped in planned.skipped:
        console.print(f"{skipped.ecosystem.value}: skipped: {skipped.reason}", markup=False)
    for note in planned.notes:
        console.print(f"note: {note}", markup=False)
    for command in planned.commands():
        console.print(f"{'would run' if dry_run else 'running'}: {command}", markup=False)
    if dry_run or not planned.changes:
        return
    entry = apply(planned.changes, journal=Journal.in_home(settings.home), tools=tools)
    for line in entry.describe():
        console.print(line, markup=False)
    if any(change.status is JournalStatus.FAILED for change in entry.changes):
        raise typer.Exit(1)
    console.print("undo with: unstall mirrors undo", markup=False)


@mirrors_app.command("undo")
@handle_errors
def undo_command(version: Annotated[bool, VersionOption] = False) -> None:
    """Restore exactly what the last `unstall mirrors apply` changed (a stack)."""
    settings = settings_from({})
    report = undo(journal=Journal.in_home(settings.home), tools=Tools())
    for line in report.lines():
        typer.echo(line)


@mirrors_app.command("history")
@handle_errors
def history_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    version: Annotated[bool, VersionOption] = False,
) -> None:
    """What `unstall mirrors apply` changed, newest first, and what was undone."""
    entries = history(Journal.in_home(settings_from({}).home))
    if as_json:
        typer.echo(json.dumps({"entries": [e.summary() for e in entries]}, indent=2))
        return
    if not entries:
        typer.echo("no mirrors applied yet")
    for entry in entries:
        for line in entry.describe():
            typer.echo(line)


__all__ = ["ecosystems_of", "gather_candidates", "mirrors_app", "rank_candidates"]
