"""Running one command on many hosts: bounded concurrency, retries, max-fail-percent.

``forks`` workers take hosts in inventory order; each host runs its attempts (with
full-jitter backoff from :mod:`unstall.resilience.outcome_retry`) inside its own worker,
so the run lasts about as long as the slowest host's own budget, not the sum over hosts.
Every state change goes to the store first (a final state is committed before the worker
takes its next host) and then to the bus.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Final, Protocol

from unstall.errors import UsageError
from unstall.events import (
    EventBus,
    FleetHostChanged,
    FleetHostOutput,
    FleetRunFinished,
    FleetRunStarted,
    new_run_id,
)
from unstall.fleet.executor import (
    CAUSE_SSH_AUTH_FAILED,
    CAUSE_SSH_HOST_KEY_CHANGED,
    CAUSE_SSH_HOST_KEY_UNKNOWN,
    Target,
    run_once,
)
from unstall.fleet.inventory import Host
from unstall.fleet.report import exit_code
from unstall.fleet.states import HostState, Outcome
from unstall.fleet.store import FleetRun, FleetStore
from unstall.resilience.outcome_retry import OutcomeRetry, Random, Sleep

# How often a running host's last output line may be published.
OUTPUT_INTERVAL_S: Final = 0.25
# Retrying these cannot help and may lock an account or hide an attack.
NEVER_RETRIED: Final = frozenset(
    {
        CAUSE_SSH_HOST_KEY_CHANGED,
        CAUSE_SSH_HOST_KEY_UNKNOWN,
        CAUSE_SSH_AUTH_FAILED,
        "config-invalid",
    }
)


class Executor(Protocol):
    """One attempt on one host (``run_once`` in production, a fake in tests)."""

    def __call__(
        self,
        target: Target,
        command: str,
        *,
        connect_timeout: float,
        command_timeout: float,
        known_hosts: Path | None,
        accept_new: bool = ...,
        output_cap: int = ...,
        on_state: Callable[[HostState], None] | None = ...,
        on_output: Callable[[str], None] | None = ...,
    ) -> Awaitable[Outcome]: ...


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How a fleet run behaves; stored with the run so resume and retry reuse it.

    ``retries`` is the number of extra attempts for transient outcomes; ``max_fail_percent``
    None means never stop early.
    """

    forks: int = 50
    connect_timeout: float = 10.0
    command_timeout: float = 600.0
    retries: int = 2
    retry_failed: bool = False
    max_fail_percent: float | None = None
    known_hosts: Path | None = None
    accept_new: bool = False
    output_cap: int = 64 * 1024
    backoff_base: float = 1.0
    backoff_cap: float = 30.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (paths as text)."""
        data = asdict(self)
        data["known_hosts"] = str(self.known_hosts) if self.known_hosts else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunOptions:
        """The options stored by :meth:`to_json` (unknown keys ignored)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if values.get("known_hosts"):
            values["known_hosts"] = Path(values["known_hosts"])
        return cls(**values)


def retryable(outcome: Outcome, retry_failed: bool) -> bool:
    """Whether another attempt may help: transient outcomes, and failures if asked."""
    if outcome.state is HostState.OK or outcome.cause in NEVER_RETRIED:
        return False
    if outcome.state is HostState.FAILED:
        return retry_failed
    return True  # timeout, unreachable, connection lost


def _target(host: Host | Target) -> Target:
    if isinstance(host, Target):
        return host
    return Target(host.name, host.address, host.port, host.user, host.key_file)


async def run_fleet(
    hosts: Sequence[Host | Target],
    command: str,
    options: RunOptions,
    *,
    bus: EventBus,
    store: FleetStore,
    executor: Executor = run_once,
    sleep: Sleep = asyncio.sleep,
    rng: Random = random.random,
    run_id: str | None = None,
    parent_run: str | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> FleetRun:
    """Run ``command`` on ``hosts`` as a new stored run and return the stored result.

    ``clock`` paces the running hosts' output lines (tests pass their own)."""
    targets = list({t.name: t for t in map(_target, hosts)}.values())
    run_id = run_id or new_run_id()
    store.create_run(run_id, command, options.to_json(), targets, parent_run=parent_run)
    bus.publish(FleetRunStarted(run_id, command, len(targets)))
    return await _execute(
        run_id, targets, command, options, bus, store, executor, sleep, rng, clock
    )


def _stored_run(store: FleetStore, run_id: str) -> FleetRun:
    run = store.load_run(run_id)
    if run is None:
        raise UsageError(
            f"no fleet run {run_id!r} in the history",
            fix="List runs with `unstall fleet status` and pass one of their ids.",
        )
    return run


async def resume_fleet(
    run_id: str,
    *,
    bus: EventBus,
    store: FleetStore,
    executor: Executor = run_once,
    sleep: Sleep = asyncio.sleep,
    rng: Random = random.random,
) -> FleetRun:
    """Continue ``run_id``'s unfinished hosts under the same id; ok hosts never rerun."""
    run = _stored_run(store, run_id)
    targets = store.unfinished_hosts(run_id)
    options = RunOptions.from_json(dict(run.options))
    store.reopen_run(run_id)
    bus.publish(FleetRunStarted(run_id, run.command, len(targets), resumed=True))
    for target in targets:  # whatever it was doing when killed, it starts over
        store.record(run_id, target.name, HostState.PENDING, 0)
    store.flush()
    return await _execute(run_id, targets, run.command, options, bus, store, executor, sleep, rng)


async def retry_fleet(
    run_id: str,
    *,
    bus: EventBus,
    store: FleetStore,
    executor: Executor = run_once,
    sleep: Sleep = asyncio.sleep,
    rng: Random = random.random,
) -> FleetRun:
    """A new run (its ``parent_run`` is ``run_id``) of the hosts that did not succeed."""
    run = _stored_run(store, run_id)
    options = RunOptions.from_json(dict(run.options))
    return await run_fleet(
        store.unsuccessful_hosts(run_id),
        run.command,
        options,
        bus=bus,
        store=store,
        executor=executor,
        sleep=sleep,
        rng=rng,
        parent_run=run_id,
    )


class _Tally:
    """Failure share across the whole run, including hosts finished before a resume."""

    def __init__(self, run: FleetRun | None, limit: float | None) -> None:
        self.total = len(run.hosts) if run else 0
        self.failed = sum(
            1 for h in (run.hosts if run else ()) if h.state.final and h.state is not HostState.OK
        )
        self.limit = limit

    def exceeded(self) -> bool:
        if self.limit is None or self.total == 0:
            return False
        return self.failed * 100.0 / self.total > self.limit


async def _execute(
    run_id: str,
    targets: list[Target],
    command: str,
    options: RunOptions,
    bus: EventBus,
    store: FleetStore,
    executor: Executor,
    sleep: Sleep,
    rng: Random,
    clock: Callable[[], float] = time.monotonic,
) -> FleetRun:
    def change(target: Target, state: HostState, attempt: int, **extra: Any) -> None:
        bus.publish(FleetHostChanged(run_id, target.name, state.value, attempt, **extra))

    for target in targets:
        change(target, HostState.PENDING, 0)
    tally = _Tally(store.load_run(run_id), options.max_fail_percent)
    queue: asyncio.Queue[Target] = asyncio.Queue()
    for target in targets:
        queue.put_nowait(target)
    policy: OutcomeRetry[Outcome] = OutcomeRetry(
        attempts=1 + options.retries,
        base=options.backoff_base,
        cap=options.backoff_cap,
        sleep=sleep,
        rng=rng,
    )

    async def one_host(target: Target) -> None:
        def on_state(number: int) -> Callable[[HostState], None]:
            def notify(state: HostState) -> None:
                # Final states are published below, with the outcome's data.
                if not state.final:
                    store.record(run_id, target.name, state, number)
                    change(target, state, number)

            return notify

        def on_output(number: int) -> Callable[[str], None]:
            last = 0.0

            def notify(line: str) -> None:
                # A chatty command prints thousands of chunks: the table redraws 4 times a
                # second, so one line per host per quarter second is all it can show.
                nonlocal last
                now = clock()
                if line and now - last >= OUTPUT_INTERVAL_S:
                    last = now
                    bus.publish(FleetHostOutput(run_id, target.name, number, line))

            return notify

        async def attempt(number: int) -> Outcome:
            return await executor(
                target,
                command,
                connect_timeout=options.connect_timeout,
                command_timeout=options.command_timeout,
                known_hosts=options.known_hosts,
                accept_new=options.accept_new,
                output_cap=options.output_cap,
                on_state=on_state(number),
                on_output=on_output(number),
            )

        def on_retry(number: int, delay: float, outcome: Outcome) -> None:
            store.record(run_id, target.name, HostState.RETRYING, number, outcome)
            change(
                target,
                HostState.RETRYING,
                number,
                exit_code=outcome.exit_code,
                duration_s=outcome.duration_s,
                output_tail=outcome.output_tail,
                error=outcome.error,
                cause=outcome.cause,
                delay=delay,
            )

        outcome, attempts = await policy.call(
            attempt, retryable=lambda o: retryable(o, options.retry_failed), on_retry=on_retry
        )
        # On disk before this worker takes another host: a kill -9 never loses an ok.
        store.record(run_id, target.name, outcome.state, attempts, outcome)
        if outcome.state is not HostState.OK:
            tally.failed += 1
        change(
            target,
            outcome.state,
            attempts,
            exit_code=outcome.exit_code,
            duration_s=outcome.duration_s,
            output_tail=outcome.output_tail,
            error=outcome.error,
            cause=outcome.cause,
        )

    async def worker() -> None:
        while not queue.empty() and not tally.exceeded():
            await one_host(queue.get_nowait())

    await asyncio.gather(*(worker() for _ in range(max(1, min(options.forks, len(targets))))))
    store.flush()
    run = store.load_run(run_id)
    assert run is not None  # created or loaded above
    code = exit_code(run)
    store.finish_run(run_id, code)
    bus.publish(FleetRunFinished(run_id, code, skipped=queue.qsize()))
    final = store.load_run(run_id)
    assert final is not None
    return final


__all__ = [
    "NEVER_RETRIED",
    "OUTPUT_INTERVAL_S",
    "Executor",
    "RunOptions",
    "resume_fleet",
    "retry_fleet",
    "retryable",
    "run_fleet",
]
