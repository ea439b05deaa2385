"""Many executions started at once are held in the database, not in memory: no more
run in the executor than `max_concurrent_executions` (not timed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from durable_engine import DurableContext, Engine, StepContext


@pytest.mark.slow
async def test_twenty_thousand_started_at_once_stay_under_the_limit_in_memory(
    db_path: Path,
) -> None:
    count, limit = 20_000, 100
    engine = Engine(db_path, max_concurrent_executions=limit)
    most_running = most_live = 0

    def look() -> None:
        nonlocal most_running, most_live
        # The executor's running set (a task each) and the runs with a loaded journal.
        most_running = max(most_running, len(engine.executor._runs))
        most_live = max(most_live, len(engine.executor._live))

    async def body(step: StepContext, n: int) -> int:
        look()
        await asyncio.sleep(0)  # let others in while this one is counted
        return n * 3

    @engine.durable_function(name="triple")
    async def triple(ctx: DurableContext, n: int) -> int:
        first: int = await ctx.step(lambda s: body(s, n), name="first")
        second: int = await ctx.step(lambda s: body(s, 1), name="second")
        return first + second

    async def watch() -> None:
        while True:
            look()
            await asyncio.sleep(0.001)

    async with engine:
        watcher = asyncio.create_task(watch())
        handles = await asyncio.gather(*(engine.start(triple, n) for n in range(count)))
        look()
        results = await asyncio.gather(*(h.result() for h in handles))
        watcher.cancel()
    assert results == [n * 3 + 3 for n in range(count)]
    assert 0 < most_live <= most_running == limit
