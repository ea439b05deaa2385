"""`max_concurrent_executions` holds for executions started in this process too."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from durable_engine import DurableContext, Engine, StepContext


async def test_executions_started_at_once_run_at_most_the_limit_at_a_time(
    db_path: Path,
) -> None:
    """Ten times the limit started together: the rest wait in the database, not in
    memory, and each runs as a running one ends."""
    limit = 20
    engine = Engine(db_path, max_concurrent_executions=limit)
    gate = asyncio.Event()
    full = asyncio.Event()
    inside = 0
    most = 0

    async def held(step: StepContext, n: int) -> int:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        if inside == limit:
            full.set()
        await gate.wait()
        inside -= 1
        return n * 2

    @engine.durable_function(name="double")
    async def double(ctx: DurableContext, n: int) -> int:
        return int(await ctx.step(lambda s: held(s, n), name="held"))

    looks = 0
    next_wake_at = engine.store.next_wake_at

    async def counted(names: Sequence[str]) -> float | None:
        nonlocal looks
        looks += 1
        return await next_wake_at(names)

    engine.store.next_wake_at = counted  # type: ignore[method-assign,assignment]
    async with engine:
        handles = await asyncio.gather(*(engine.start(double, n) for n in range(limit * 10)))
        await full.wait()  # the first ones reach their step
        looks_when_full = looks
        await asyncio.sleep(0.2)  # room for any run past the limit to start
        assert inside == limit
        assert engine.executor.capacity() == 0
        # Full, the scheduler waits for a run to end instead of looking again and again
        # for the work it has no room for.
        assert looks - looks_when_full <= 1
        gate.set()
        results = await asyncio.gather(*(h.result() for h in handles))
    assert results == [n * 2 for n in range(limit * 10)]
    assert most == limit
