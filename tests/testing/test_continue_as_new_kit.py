"""The test kit runs workflows that continue as new, on virtual time, and shows the run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from durable_engine import DurableContext, NonDeterministicError
from durable_engine.testing import DurableTestRunner

START = datetime(2030, 6, 1, tzinfo=UTC)


async def daily(ctx: DurableContext, day: int) -> str:
    await ctx.step(lambda s: day, name="report")
    await ctx.wait(timedelta(days=1), name="sleep")
    if day < 5:
        await ctx.continue_as_new(day + 1)
    return f"done after day {day}"


async def test_the_runner_drives_every_run_and_shows_the_last() -> None:
    async with DurableTestRunner(daily, start=START) as runner:
        result = await runner.run(daily, 1)
        assert result.unwrap() == "done after day 5"
        assert result.run_number == 5 and result.input == 5
        # The operations are the last run's: one report and one sleep.
        assert result.get_step("report").result == 5
        assert len(result.all_operations()) == 2
        assert runner.now() == START + timedelta(days=5)  # five waits of a day, skipped
        # A replay of the stored history (the last run) matches the code.
        assert await runner.replay(result.execution_id) == "done after day 5"


async def test_a_replay_that_continues_where_the_run_ended_is_a_divergence() -> None:
    async def ends(ctx: DurableContext, n: int) -> int:
        await ctx.step(lambda s: n, name="report")
        return n

    async def continues(ctx: DurableContext, n: int) -> int:
        await ctx.step(lambda s: n, name="report")
        await ctx.continue_as_new(n + 1)

    async with DurableTestRunner(ends, start=START) as runner:
        result = await runner.run(ends, 1)
        with pytest.raises(NonDeterministicError, match="continues as new"):
            await runner.replay(result.execution_id, fn=continues)
