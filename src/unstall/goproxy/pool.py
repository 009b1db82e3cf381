"""The pool of upstreams: one attempt, the retry lane per upstream, the hedged race."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

from unstall.config import Settings
from unstall.errors import (
    ArtifactFailed,
    ConnectionFailed,
    FetchError,
    IntegrityError,
    NotFound,
    TransientError,
    UpstreamRejected,
)
from unstall.events import (
    AttemptFinished,
    AttemptStarted,
    EventBus,
    HedgeStarted,
    IntegrityViolation,
    RetryScheduled,
)
from unstall.goproxy.upstream import OFFLINE_CAUSES, Fetched, Resource, Upstream, UpstreamSpec
from unstall.http.fetch import AttemptReport, fetch_once
from unstall.http.sinks import BodySink
from unstall.resilience.backoff import RetryPolicy, Sleep
from unstall.resilience.health import BreakerState
from unstall.resilience.hedge import HedgePolicy, LanesFailed, LaneSignals, hedged_race
from unstall.resilience.timeouts import Timeouts

T = TypeVar("T")
S = TypeVar("S", bound=BodySink)


@dataclass(slots=True)
class _Tally:
    attempts: int = 0
    hedges: int = 0
    received: int = 0
    started_by: dict[int, str] = field(default_factory=dict)


Verifier = Callable[[S, str], Awaitable[T]]


class UpstreamPool:
    """Fetches a resource from ordered upstreams with retries, hedging and failover."""

    def __init__(
        self,
        specs: Sequence[UpstreamSpec],
        *,
        client: httpx.AsyncClient,
        settings: Settings,
        bus: EventBus,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.upstreams = [Upstream(s, client=client, settings=settings, bus=bus) for s in specs]
        self._settings = settings
        self._timeouts = Timeouts.from_settings(settings.timeouts)
        self._retry = RetryPolicy(settings.retry, sleep=sleep)
        self._hedge = HedgePolicy(settings.hedge)
        self._bus = bus

    def ordered(self, among: Sequence[Upstream] | None = None) -> list[Upstream]:
        """Upstreams to try, in configured order, skipping those assumed offline.

        A flaky upstream that answers keeps its place: an answered failure fails over
        at once, so trying it first costs one round trip, while demoting it would
        leave it no traffic to prove it recovered. Slowness is the hedger's job.
        If every upstream is assumed offline, all are tried: failing fast with no
        attempt at all would turn a short outage into a certain failure.
        """
        pool = list(among if among is not None else self.upstreams)
        return [u for u in pool if u.health.allow()] or pool

    async def fetch(
        self,
        resource: Resource,
        new_sink: Callable[[str], S],
        verify: Verifier[S, T],
        *,
        among: Sequence[Upstream] | None = None,
    ) -> Fetched[T]:
        """Fetch and verify ``resource``; raise :class:`ArtifactFailed` with every reason."""
        upstreams = self.ordered(among)
        tally = _Tally()
        if not upstreams:
            raise ArtifactFailed(resource.key, [])
        lanes = [
            self._lane(u, resource, new_sink, verify, tally, hedge=i > 0)
            for i, u in enumerate(upstreams)
        ]
        delays = [self._hedge_delay(u) for u in upstreams]

        def may_continue(index: int, error: BaseException) -> bool:
            # Under ',' a definitive refusal ends the list, as it does for go itself.
            definitive = isinstance(error, UpstreamRejected)
            return not definitive or upstreams[index].spec.fallthrough_on_error

        def on_hedge(index: int, after: float, reason: str) -> None:
            tally.hedges += 1
            tally.started_by[index] = reason
            self._bus.publish(HedgeStarted(resource.key, upstreams[index].name, after, reason))

        try:
            (value, name), winner = await hedged_race(
                lanes,
                delays,
                hedging=self._settings.hedge.enabled,
                may_continue=may_continue,
                on_hedge=on_hedge,
            )
        except LanesFailed as failed:
            reasons = [
                e if isinstance(e, FetchError) else FetchError(f"{type(e).__name__}: {e}")
                for e in failed.errors
                if e is not None
            ]
            raise ArtifactFailed(resource.key, reasons) from None
        reason = tally.started_by.get(winner, "first")
        won_by = "hedge" if reason == "slow" else reason
        return Fetched(value, name, tally.attempts, tally.hedges, tally.received, won_by)

    def _lane(
        self,
        upstream: Upstream,
        resource: Resource,
        new_sink: Callable[[str], S],
        verify: Verifier[S, T],
        tally: _Tally,
        *,
        hedge: bool,
    ) -> Callable[[LaneSignals], Awaitable[tuple[T, str]]]:
        async def lane(signals: LaneSignals) -> tuple[T, str]:
            sink = new_sink(upstream.name)
            last: list[FetchError] = []

            async def attempt(number: int) -> tuple[T, str]:
                if number > 1 and last and self._given_up(upstream):
                    # The breaker opened while we backed off and others can serve:
                    # stop hammering this one.
                    raise FetchError(
                        f"assumed offline; last error: {last[-1].message}",
                        cause=last[-1].cause,
                        upstream=upstream.name,
                    )
                try:
                    return await self._attempt(
                        upstream, resource, sink, verify, number, signals, tally, hedge=hedge
                    )
                except FetchError as error:
                    last.append(error)
                    raise

            def on_retry(number: int, delay: float, error: TransientError) -> None:
                self._bus.publish(
                    RetryScheduled(resource.key, upstream.name, number + 1, delay, error.cause)
                )

            keep = False
            try:
                result = await self._retry.call(attempt, budget=upstream.budget, on_retry=on_retry)
            except FetchError as error:
                # A transient failure may be resumed by a later run; bad bytes may not.
                keep = not isinstance(error, IntegrityError)
                raise
            except asyncio.CancelledError:
                keep = True  # a lost hedge or an interrupted run: resumable later
                raise
            finally:
                sink.close(keep=keep)
            return result

        return lane

    async def _attempt(
        self,
        upstream: Upstream,
        resource: Resource,
        sink: S,
        verify: Verifier[S, T],
        number: int,
        signals: LaneSignals,
        tally: _Tally,
        *,
        hedge: bool,
    ) -> tuple[T, str]:
        async with upstream.semaphore:
            tally.attempts += 1
            self._bus.publish(AttemptStarted(resource.key, upstream.name, number, hedge))
            report = AttemptReport()
            outcome, cause, detail = "error", "internal", ""
            try:
                await fetch_once(
                    upstream.client,
                    f"{upstream.base}/{resource.path}",
                    sink,
                    timeouts=self._timeouts,
                    upstream=upstream.name,
                    report=report,
                    on_first_byte=signals.first_byte,
                )
                tally.received += report.received
                value = await verify(sink, upstream.name)
            except NotFound as error:
                upstream.health.record_success(report.timings.first_byte)
                outcome, cause, detail = "not-found", error.cause, error.message
                raise
            except TransientError as error:
                upstream.health.record_failure(offline=error.cause in OFFLINE_CAUSES)
                signals.attempt_failed()
                outcome, cause, detail = "error", error.cause, error.message
                raise
            except IntegrityError as error:
                sink.reset()
                signals.attempt_failed()
                outcome, cause, detail = "error", error.cause, error.message
                if report.resumed_from:
                    # Bytes from an earlier response plus this one did not verify: start
                    # over once rather than blame the upstream.
                    raise ConnectionFailed(
                        f"resumed download failed verification ({error.message}); starting over",
                        cause="transfer-truncated",
                        upstream=upstream.name,
                    ) from error
                upstream.health.record_failure(offline=False)
                self._bus.publish(
                    IntegrityViolation(resource.key, upstream.name, error.cause, error.message)
                )
                raise
            except FetchError as error:
                signals.attempt_failed()
                outcome, cause, detail = "error", error.cause, error.message
                raise
            except asyncio.CancelledError:
                outcome, cause = "cancelled", "ok"
                self._note_cancelled(upstream, report, overtaken=signals.overtaken)
                raise
            else:
                upstream.health.record_success(report.timings.first_byte)
                outcome, cause = "ok", "ok"
                return value, upstream.name
            finally:
                self._bus.publish(
                    AttemptFinished(
                        artifact=resource.key,
                        module=resource.module,
                        version=resource.version,
                        kind=resource.kind,
                        upstream=upstream.name,
                        attempt=number,
                        outcome=outcome,
                        cause=cause,
                        timings=report.timings,
                        bytes=report.received,
                        resumed_from=report.resumed_from,
                        error=detail,
                    )
                )

    def _hedge_delay(self, upstream: Upstream) -> float:
        return self._hedge.delay(upstream.health, peers=[u.health for u in self.upstreams])

    def _given_up(self, upstream: Upstream) -> bool:
        """Assumed offline while another upstream is not: retrying here only adds load."""
        if upstream.health.state is not BreakerState.OPEN:
            return False
        return any(u is not upstream and u.health.available for u in self.upstreams)

    def _note_cancelled(
        self, upstream: Upstream, report: AttemptReport, *, overtaken: bool
    ) -> None:
        """A hedge won. If this attempt was overtaken for want of a first byte and never
        got one, it counts as silence, so a blackholed upstream's breaker opens even
        though none of its attempts ever runs into its own timeout."""
        if overtaken and report.timings.first_byte is None:
            upstream.health.record_failure(offline=True)
        else:
            upstream.health.release_trial()


__all__ = ["UpstreamPool", "Verifier"]
