"""every(): background work on a schedule, surviving its own failures."""

from __future__ import annotations

import asyncio

import pytest

from unstall.periodic import every


def test_work_repeats_until_the_block_ends_and_survives_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs: list[int] = []

    async def work() -> None:
        runs.append(len(runs))
        if len(runs) == 2:
            raise RuntimeError("one bad run")

    async def scenario() -> int:
        async with every(0.01, work):
            for _ in range(500):
                if len(runs) >= 4:
                    break
                await asyncio.sleep(0.01)
        seen = len(runs)
        await asyncio.sleep(0.05)
        assert len(runs) == seen  # stopped with the block
        return seen

    assert asyncio.run(scenario()) >= 4
    assert "one bad run" in caplog.text
