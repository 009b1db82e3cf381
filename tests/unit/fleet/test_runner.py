"""The fleet runner with a scripted fake executor: retries, concurrency, max-fail-percent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from unstall.errors import UsageError
from unstall.events import (
    Event,
    EventBus,
    FleetHostChanged,
    FleetHostOutput,
    FleetRunFinished,
    FleetRunStarted,
)
from unstall.fleet.executor import CAUSE_SSH_AUTH_FAILED, CAUSE_SSH_HOST_KEY_CHANGED, Target
from unstall.fleet.runner import RunOptions, resume_fleet, retry_fleet, run_fleet
from unstall.fleet.states import HostState, Outcome
from unstall.fleet.store import FleetRun, FleetStore

OK = Outcome(HostState.OK, 0, "done\n", 0.1, None, None)
DOWN = Outcome(HostState.UNREACHABLE, None, "", 0.1, "connection refused", "tcp-refused")
SLOW = Outcome(HostState.TIMEOUT, None, "", 0.1, "did not finish", "deadline-exceeded")
EXIT_3 = Outcome(HostState.FAILED, 3, "E: broken\n", 0.1, "exited with status 3", None)


class FakeExecutor:
    """Plays a script of outcomes per host; records calls and the peak concurrency."""

    def __init__(self, script: dict[str, list[Outcome]], *, hold: float = 0.0) -> None:
        self.script = {name: list(outcomes) for name, outcomes in script.items()}
        self.calls: list[str] = []
        self.running = 0
        self.peak = 0
        self.hold = hold

    async def __call__(
        self,
        target: Target,
        command: str,
        *,
        on_state: Callable[[HostState], None] | None = None,
        **_options: Any,
    ) -> Outcome:
        self.calls.append(target.name)
        notify = on_state or (lambda _s: None)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            notify(HostState.CONNECTING)
            await asyncio.sleep(self.hold)  # lets other workers start: concurrency shows
            notify(HostState.RUNNING)
            outcomes = self.script[target.name]
            outcome = outcomes.pop(0) if len(outcomes) > 1 else outcomes[0]
            notify(outcome.state)
            return outcome
        finally:
            self.running -= 1


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.sleeps: list[float] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)

    def states(self, host: str) -> list[str]:
        return [e.state for e in self.events if isinstance(e, FleetHostChanged) and e.host == host]


def targets(*names: str) -> list[Target]:
    return [Target(name, f"127.0.0.{i + 2}", 2200 + i) for i, name in enumerate(names)]


def run(
    tmp_path: Path,
    executor: FakeExecutor,
    hosts: list[Target],
    recorder: Recorder | None = None,
    **options: Any,
) -> FleetRun:
    recorder = recorder or Recorder()
    bus = EventBus()
    bus.subscribe(recorder)
    store = FleetStore(tmp_path / "history.sqlite3")
    try:
        return asyncio.run(
            run_fleet(
                hosts,
                "apt-get install -y foo",
                RunOptions(**options),
                bus=bus,
                store=store,
                executor=executor,
                sleep=recorder.sleep,
                rng=lambda: 0.5,
            )
        )
    finally:
        store.close()


def by_name(run: FleetRun) -> dict[str, tuple[HostState, int]]:
    return {h.name: (h.state, h.attempts) for h in run.hosts}


def test_transient_outcomes_are_retried_until_they_succeed(tmp_path: Path) -> None:
    executor = FakeExecutor({"a": [DOWN, SLOW, OK], "b": [OK]})
    recorder = Recorder()
    result = run(tmp_path, executor, targets("a", "b"), recorder, retries=2, backoff_base=1.0)
    assert by_name(result) == {"a": (HostState.OK, 3), "b": (HostState.OK, 1)}
    assert result.exit_code == 0
    # Full jitter with rng=0.5: half of 1 s, then half of 2 s.
    assert recorder.sleeps == [0.5, 1.0]
    assert recorder.states("a") == [
        "pending",
        "connecting",
        "running",
        "retrying",
        "connecting",
        "running",
        "retrying",
        "connecting",
        "running",
        "ok",
    ]


def test_retries_run_out(tmp_path: Path) -> None:
    executor = FakeExecutor({"a": [DOWN]})
    result = run(tmp_path, executor, targets("a"), retries=1)
    assert by_name(result) == {"a": (HostState.UNREACHABLE, 2)}
    assert result.hosts[0].error == "connection refused"
    assert result.exit_code == 4


def test_non_zero_exit_is_retried_only_with_retry_failed(tmp_path: Path) -> None:
    plain = FakeExecutor({"a": [EXIT_3, OK]})
    assert by_name(run(tmp_path / "1", plain, targets("a"), retries=3)) == {
        "a": (HostState.FAILED, 1)
    }
    again = FakeExecutor({"a": [EXIT_3, OK]})
    result = run(tmp_path / "2", again, targets("a"), retries=3, retry_failed=True)
    assert by_name(result) == {"a": (HostState.OK, 2)}


@pytest.mark.parametrize("cause", [CAUSE_SSH_HOST_KEY_CHANGED, CAUSE_SSH_AUTH_FAILED])
def test_host_key_and_auth_failures_are_never_retried(tmp_path: Path, cause: str) -> None:
    refused = Outcome(HostState.UNREACHABLE, None, "", 0.1, "refused", cause)
    executor = FakeExecutor({"a": [refused, OK]})
    result = run(tmp_path, executor, targets("a"), retries=3, retry_failed=True)
    assert by_name(result) == {"a": (HostState.UNREACHABLE, 1)}
    assert executor.calls == ["a"]


def test_config_invalid_is_never_retried(tmp_path: Path) -> None:
    bad = Outcome(HostState.FAILED, None, "", 0.0, "no such key file", "config-invalid")
    executor = FakeExecutor({"a": [bad, OK]})
    result = run(tmp_path, executor, targets("a"), retries=3, retry_failed=True)
    assert by_name(result) == {"a": (HostState.FAILED, 1)}


def test_concurrency_is_bounded_by_forks(tmp_path: Path) -> None:
    names = [f"h{i}" for i in range(12)]
    executor = FakeExecutor({n: [OK] for n in names}, hold=0.01)
    result = run(tmp_path, executor, targets(*names), forks=3)
    assert executor.peak == 3
    assert all(h.state is HostState.OK for h in result.hosts)
    assert [h.name for h in result.hosts] == names  # inventory order is kept


def test_max_fail_percent_stops_starting_hosts(tmp_path: Path) -> None:
    names = [f"h{i}" for i in range(10)]
    script = {n: [EXIT_3] for n in names[:3]} | {n: [OK] for n in names[3:]}
    executor = FakeExecutor(script)
    recorder = Recorder()
    result = run(tmp_path, executor, targets(*names), recorder, forks=1, max_fail_percent=20)
    # Three failures of ten is 30 % > 20 %: nothing after h2 starts, and the run ends cleanly.
    assert executor.calls == ["h0", "h1", "h2"]
    states = by_name(result)
    assert [states[n][0] for n in names[3:]] == [HostState.PENDING] * 7
    finished = [e for e in recorder.events if isinstance(e, FleetRunFinished)]
    assert finished[0].skipped == 7
    assert finished[0].exit_code == 1
    assert result.finished is not None


def test_run_events_bracket_host_events(tmp_path: Path) -> None:
    recorder = Recorder()
    run(tmp_path, FakeExecutor({"a": [OK]}), targets("a"), recorder)
    assert isinstance(recorder.events[0], FleetRunStarted)
    assert recorder.events[0].hosts == 1
    assert isinstance(recorder.events[-1], FleetRunFinished)
    assert recorder.events[-1].exit_code == 0


def test_retry_runs_only_hosts_that_did_not_succeed(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    first = run(tmp_path, FakeExecutor({"a": [OK], "b": [EXIT_3], "c": [DOWN]}), targets(*"abc"))
    executor = FakeExecutor({"a": [OK], "b": [OK], "c": [OK]})
    store = FleetStore(path)
    try:
        second = asyncio.run(
            retry_fleet(first.run_id, bus=EventBus(), store=store, executor=executor)
        )
    finally:
        store.close()
    assert sorted(executor.calls) == ["b", "c"]
    assert second.run_id != first.run_id
    assert second.parent_run == first.run_id
    assert second.exit_code == 0
    assert second.command == "apt-get install -y foo"


def test_resume_continues_unfinished_hosts_under_the_same_run(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    store = FleetStore(path)
    hosts = targets("a", "b", "c")
    # As a controller killed mid-run leaves it: a ok, b running, c pending.
    store.create_run("run-1", "true", RunOptions(retries=0).to_json(), hosts)
    store.record("run-1", "a", HostState.OK, 1, OK)
    store.record("run-1", "b", HostState.RUNNING, 1)
    store.flush()
    executor = FakeExecutor({"a": [EXIT_3], "b": [OK], "c": [OK]})
    try:
        result = asyncio.run(resume_fleet("run-1", bus=EventBus(), store=store, executor=executor))
    finally:
        store.close()
    assert executor.calls == ["b", "c"]
    assert result.run_id == "run-1"
    assert by_name(result) == {
        "a": (HostState.OK, 1),
        "b": (HostState.OK, 1),
        "c": (HostState.OK, 1),
    }
    assert result.exit_code == 0


def test_options_survive_the_store(tmp_path: Path) -> None:
    options = RunOptions(forks=7, retries=1, known_hosts=tmp_path / "kh", max_fail_percent=5.0)
    assert RunOptions.from_json(options.to_json()) == options


def test_resume_or_retry_of_an_unknown_run_is_a_usage_error(tmp_path: Path) -> None:
    store = FleetStore(tmp_path / "history.sqlite3")
    try:
        for again in (resume_fleet, retry_fleet):
            with pytest.raises(UsageError) as caught:
                asyncio.run(again("no-such-run", bus=EventBus(), store=store))
            assert "no-such-run" in caught.value.message
            assert caught.value.exit_code == 2
    finally:
        store.close()


class ChattyExecutor(FakeExecutor):
    """Prints ``lines`` while running, each as its own chunk; ``tick`` moves the clock
    forward after the chunks whose index it names."""

    def __init__(self, lines: list[str], clock: list[float], tick: dict[int, float]) -> None:
        super().__init__({"a": [OK]})
        self.lines = lines
        self.clock = clock
        self.tick = tick

    async def __call__(
        self,
        target: Target,
        command: str,
        *,
        on_state: Callable[[HostState], None] | None = None,
        on_output: Callable[[str], None] | None = None,
        **_options: Any,
    ) -> Outcome:
        assert on_state is not None
        assert on_output is not None
        on_state(HostState.CONNECTING)
        on_state(HostState.RUNNING)
        for index, line in enumerate(self.lines):
            on_output(line)
            self.clock[0] += self.tick.get(index, 0.0)
        on_state(HostState.OK)
        return OK


def test_running_output_is_published_at_most_four_times_a_second_per_host(
    tmp_path: Path,
) -> None:
    recorder = Recorder()
    bus = EventBus()
    bus.subscribe(recorder)
    clock = [100.0]
    lines = [f"line {n}" for n in range(500)]
    # 0.1 s after line 99, 0.2 s after line 199 (a quarter second since line 0 has
    # passed), 0.3 s after line 299.
    executor = ChattyExecutor(lines, clock, {99: 0.1, 199: 0.2, 299: 0.3})
    store = FleetStore(tmp_path / "history.sqlite3")
    try:
        asyncio.run(
            run_fleet(
                targets("a"),
                "apt-get install -y foo",
                RunOptions(),
                bus=bus,
                store=store,
                executor=executor,
                sleep=recorder.sleep,
                clock=lambda: clock[0],
            )
        )
    finally:
        store.close()
    published = [e for e in recorder.events if isinstance(e, FleetHostOutput)]
    assert [(e.host, e.attempt, e.line) for e in published] == [
        ("a", 1, "line 0"),
        ("a", 1, "line 200"),
        ("a", 1, "line 300"),
    ]
