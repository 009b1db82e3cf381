"""Probing sources: samples of one source, medians and spread, and many sources at once."""

from __future__ import annotations

import asyncio
import functools
import statistics
from collections.abc import Sequence
from dataclasses import replace

from unstall.doctor.causes import cause_for
from unstall.doctor.model import PHASE_KEYS, Phases, ProbeFailure, Source, SourceReport, Verdict
from unstall.doctor.probe.options import ProbeOptions
from unstall.doctor.probe.target import parse_target
from unstall.doctor.probe.walk import Sample, walk
from unstall.redact import redact


def _median_phases(samples: Sequence[Sample]) -> Phases:
    values: dict[str, float | None] = {}
    for key in PHASE_KEYS:
        measured = [v for s in samples if (v := getattr(s.phases, key)) is not None]
        values[key] = round(statistics.median(measured), 3) if measured else None
    return Phases(**values)


def _spread(samples: Sequence[Sample]) -> str:
    """min–max of every measured phase over the samples: "connect_ms 0.2–0.4, ..."."""
    parts = []
    for key in PHASE_KEYS:
        measured = [v for s in samples if (v := getattr(s.phases, key)) is not None]
        if measured:
            parts.append(f"{key} {min(measured):.1f}–{max(measured):.1f}")
    return ", ".join(parts)


def _total_ms(phases: Phases) -> float:
    return sum(v for k, v in phases.as_dict().items() if v is not None and k != "throughput_kbps")


def _report(source: Source, samples: Sequence[Sample], wanted: int) -> SourceReport:
    last = samples[-1]
    details = list(last.details)
    if last.verdict is not Verdict.OK:
        # A failing (or slow) sample ends sampling: it is the finding, not an average.
        if wanted > 1:
            details.append(("samples", f"stopped at sample {len(samples)} of {wanted}"))
        phases, message = last.phases, last.message
    else:
        phases = _median_phases(samples)
        message = f"{last.status} in {_total_ms(phases):.0f} ms"
        if len(samples) > 1:
            message += f" (median of {len(samples)} samples)"
            details += [("samples", str(len(samples))), ("spread", _spread(samples))]
    return SourceReport(
        url=redact(source.url),
        verdict=last.verdict,
        layer=last.layer,
        cause=last.cause,
        message=redact(message),
        fix=cause_for(last.cause).fix,
        phases=phases,
        kind=source.kind,
        details=tuple((label, redact(text)) for label, text in details),
    )


async def _sample(source: Source, options: ProbeOptions) -> Sample:
    try:
        return await walk(parse_target(source.url), source.kind, options)
    except ProbeFailure as failure:
        return Sample(Verdict.FAIL, failure.layer, failure.cause, failure.message, Phases(), ())
    except Exception as exc:  # one broken probe must not hide the others
        cause = cause_for("internal")
        return Sample(
            Verdict.FAIL, cause.layer, cause.id, f"{type(exc).__name__}: {exc}", Phases(), ()
        )


def _one_context(options: ProbeOptions) -> ProbeOptions:
    """Options whose ``ssl_context`` builds its context once and then shares it.

    Loading the system trust store takes ~20 ms of CPU on the event loop; built per
    handshake it would delay every other probe of the run by that much, each time.
    """
    return replace(options, ssl_context=functools.cache(options.ssl_context))


async def probe_source(source: Source, options: ProbeOptions) -> SourceReport:
    """Probe ``source`` ``options.samples`` times in a row and report the verdict.

    Every phase of every sample has its own deadline (``options.timeout``); the first
    sample that is not OK ends the sampling and is what the report shows.
    """
    return await _probe(source, _one_context(options))


async def _probe(source: Source, options: ProbeOptions) -> SourceReport:
    samples: list[Sample] = []
    for _ in range(options.samples):
        sample = await _sample(source, options)
        samples.append(sample)
        if sample.verdict is not Verdict.OK:
            break
    return _report(source, samples, options.samples)


async def probe_sources(sources: Sequence[Source], options: ProbeOptions) -> list[SourceReport]:
    """All sources concurrently; result order = input order."""
    shared = _one_context(options)
    return list(await asyncio.gather(*(_probe(source, shared) for source in sources)))


__all__ = ["probe_source", "probe_sources"]
