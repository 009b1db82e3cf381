"""PhaseGuard: a stuck attempt ends with an error naming the phase that ran over."""

from __future__ import annotations

import asyncio

import pytest

from unstall.config import TimeoutSettings
from unstall.errors import PhaseTimeout, SlowTransfer, TransientError
from unstall.resilience.timeouts import PhaseGuard, Timeouts

# "Did not hang" bound: every deadline below is a small fraction of it.
HANG = 10.0
SHORT = 0.05
LONG = 60.0


def _timeouts(**short: float) -> Timeouts:
    """Every phase LONG (throughput check off) except the ones given."""
    values: dict[str, float] = {
        "connect": LONG,
        "tls": LONG,
        "first_byte": LONG,
        "stall": LONG,
        "min_throughput": 0.0,
        "throughput_window": LONG,
        "total": LONG * 10,
    }
    values.update(short)
    return Timeouts(**values)


async def _hang_in(phases: list[str], timeouts: Timeouts) -> None:
    async with asyncio.timeout(HANG), PhaseGuard(timeouts, upstream="up.example") as guard:
        for phase in phases:
            guard.enter(phase)
        await asyncio.sleep(LONG)


def _stuck_in(phases: list[str], timeouts: Timeouts) -> PhaseTimeout:
    """Enter ``phases`` in order (none for connect), then hang; return the timeout raised."""
    with pytest.raises(PhaseTimeout) as caught:
        asyncio.run(_hang_in(phases, timeouts))
    return caught.value


@pytest.mark.parametrize(
    ("phases", "short", "label", "cause"),
    [
        ([], {"connect": SHORT}, "connect", "tcp-timeout"),
        (["tls"], {"tls": SHORT}, "tls", "tls-timeout"),
        (["tls", "first_byte"], {"first_byte": SHORT}, "first_byte", "http-timeout"),
        (["first_byte", "body"], {"stall": SHORT}, "stall", "transfer-stall"),
    ],
)
def test_stuck_phase_raises_timeout_naming_it(
    phases: list[str], short: dict[str, float], label: str, cause: str
) -> None:
    error = _stuck_in(phases, _timeouts(**short))

    assert error.phase == label
    assert error.seconds == SHORT
    assert error.cause == cause
    assert error.upstream == "up.example"
    assert label in str(error)
    assert isinstance(error, TransientError)


def test_earlier_phase_deadline_does_not_apply_once_the_next_phase_started() -> None:
    # connect is short but the guard moved on to first_byte, whose deadline is the one that fires.
    timeouts = _timeouts(connect=SHORT, first_byte=SHORT * 4)

    error = _stuck_in(["first_byte"], timeouts)

    assert error.phase == "first_byte"


def test_total_deadline_binds_when_it_comes_before_the_phase_deadline() -> None:
    timeouts = _timeouts(total=SHORT)

    error = _stuck_in(["tls", "first_byte", "body"], timeouts)

    assert error.phase == "total"
    assert error.seconds == SHORT
    assert error.cause == "deadline-exceeded"


def test_total_deadline_binds_while_body_keeps_flowing() -> None:
    # Each chunk pushes the stall deadline, but never past the attempt's total deadline.
    async def main() -> None:
        timeouts = _timeouts(stall=SHORT * 4, total=SHORT * 4)
        async with asyncio.timeout(HANG), PhaseGuard(timeouts) as guard:
            guard.enter("body")
            while True:
                await asyncio.sleep(SHORT / 5)
                guard.progress(1000)

    with pytest.raises(PhaseTimeout) as caught:
        asyncio.run(main())

    assert caught.value.phase == "total"


def test_progress_pushes_the_stall_deadline() -> None:
    async def main() -> int:
        received = 0
        async with asyncio.timeout(HANG), PhaseGuard(_timeouts(stall=0.5)) as guard:
            guard.enter("body")
            # Twelve chunks a tenth of the stall timeout apart outlast the stall timeout.
            for _ in range(12):
                await asyncio.sleep(0.05)
                guard.progress(100)
                received += 100
        return received

    assert asyncio.run(main()) == 1200


def test_stall_after_some_progress_still_times_out() -> None:
    async def main() -> None:
        async with asyncio.timeout(HANG), PhaseGuard(_timeouts(stall=SHORT)) as guard:
            guard.enter("body")
            for _ in range(3):
                guard.progress(10)
                await asyncio.sleep(0)
            await asyncio.sleep(LONG)

    with pytest.raises(PhaseTimeout) as caught:
        asyncio.run(main())

    assert caught.value.phase == "stall"


def test_transfer_below_min_throughput_raises_slow_transfer_after_the_window() -> None:
    accepted: list[int] = []

    async def main() -> None:
        timeouts = _timeouts(stall=1.0, min_throughput=1_000_000.0, throughput_window=0.1)
        async with asyncio.timeout(HANG), PhaseGuard(timeouts, upstream="up.example") as guard:
            guard.enter("body")
            while True:
                await asyncio.sleep(0.01)
                guard.progress(10)
                accepted.append(10)

    with pytest.raises(SlowTransfer) as caught:
        asyncio.run(main())

    error = caught.value
    assert error.cause == "transfer-slow"
    assert error.upstream == "up.example"
    assert "below the minimum" in str(error)
    # Not judged on the first chunk: the window has to pass first.
    assert len(accepted) > 1


def test_fast_transfer_passes_the_throughput_check() -> None:
    async def main() -> int:
        received = 0
        timeouts = _timeouts(stall=1.0, min_throughput=1000.0, throughput_window=0.05)
        async with asyncio.timeout(HANG), PhaseGuard(timeouts) as guard:
            guard.enter("body")
            for _ in range(20):
                await asyncio.sleep(0.01)
                guard.progress(100_000)
                received += 100_000
        return received

    assert asyncio.run(main()) == 2_000_000


def test_work_that_finishes_in_time_raises_nothing() -> None:
    async def main() -> str:
        timeouts = Timeouts(connect=0.1, tls=0.1, first_byte=0.1, stall=0.1, total=0.2)
        async with asyncio.timeout(HANG), PhaseGuard(timeouts) as guard:
            guard.enter("tls")
            await asyncio.sleep(0)
            guard.enter("first_byte")
            guard.enter("body")
            guard.progress(10)
            result = "done"
        # The guard left no deadline behind that could fire later.
        await asyncio.sleep(0.3)
        return result

    assert asyncio.run(main()) == "done"


def test_errors_inside_the_guard_pass_through_unchanged() -> None:
    async def main() -> None:
        async with PhaseGuard(_timeouts()):
            raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        asyncio.run(main())


def test_timeouts_from_settings_and_phase_lengths() -> None:
    settings = TimeoutSettings(
        connect=1, tls=2, first_byte=3, stall=4, min_throughput=5, throughput_window=6, total=7
    )

    timeouts = Timeouts.from_settings(settings)

    assert timeouts == Timeouts(1, 2, 3, 4, 5, 6, 7)
    assert [timeouts.for_phase(p) for p in ("connect", "tls", "first_byte", "body")] == [
        1,
        2,
        3,
        4,
    ]
