"""parallel and map workflows for crash tests, run in real processes that the tests SIGKILL.

Usage: python -m tests.crash.batch_app DB EFFECTS start FUNCTION EXECUTION_NAME [INPUT_JSON]
       python -m tests.crash.batch_app DB EFFECTS resume EXECUTION_NAME
Both print the execution's result as JSON once it ends. Every side effect is
appended to EFFECTS, a file outside the database.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from durable_engine import (
    CompletionConfig,
    DurableContext,
    Engine,
    ExecutionHandle,
    MapConfig,
    ParallelBranch,
)
from tests.crash.crash_hook import install_from_environment

T = TypeVar("T")
DB, EFFECTS = sys.argv[1], Path(sys.argv[2])
engine = Engine(DB, in_memory_wait=0, lease=2)
install_from_environment()  # DURABLE_CRASH_AT=k: exit at persistence point k


def record(line: str) -> None:
    with EFFECTS.open("a") as f:
        f.write(line + "\n")
        f.flush()


def noted(line: str, value: T) -> T:
    """Record `line`, then return `value`: a step body's effect and its result."""
    record(line)
    return value


async def nested_item(ctx: DurableContext, n: int, index: int, items: Sequence[int]) -> int:
    await ctx.step(lambda s: record(f"item {n} before"), name="before")
    await ctx.wait(0.2 + 0.1 * (n % 3), name="nap")

    async def left(c: DurableContext) -> int:
        return await c.step(lambda s: noted(f"item {n} left", n), name="left")

    async def right(c: DurableContext) -> int:
        await c.wait(0.1, name="pause")
        return await c.step(lambda s: noted(f"item {n} right", n * n), name="right")

    sides = await ctx.parallel([ParallelBranch(left, "left"), ParallelBranch(right, "right")])
    total = sum(sides.get_results())
    return await ctx.step(lambda s: noted(f"item {n} after", total), name="after")


@engine.durable_function(name="nested_fan")
async def nested_fan(ctx: DurableContext, count: int) -> list[int]:
    """Items wait, then fan out again; at most three items at a time."""
    result = await ctx.map(list(range(count)), nested_item, config=MapConfig(max_concurrency=3))
    result.throw_if_error()
    return result.get_results()


async def race_item(ctx: DurableContext, n: int, index: int, items: Sequence[int]) -> int:
    await ctx.step(lambda s: record(f"item {n} start"), name="start")
    await ctx.wait(0.5 if n == 0 else 600, name="nap")
    return await ctx.step(lambda s: noted(f"item {n} done", n), name="done")


@engine.durable_function(name="first_wins")
async def first_wins(ctx: DurableContext, count: int) -> dict[str, object]:
    """Item 0 wins; the others are cancelled while they wait, and stay cancelled."""
    result = await ctx.map(
        list(range(count)),
        race_item,
        config=MapConfig(completion_config=CompletionConfig.first_successful()),
    )
    await ctx.wait(0.5, name="after the race")  # the map replays from its recorded decision
    await ctx.step(lambda s: record("after the race"), name="report")
    return {
        "reason": result.completion_reason.value,
        "statuses": [i.status.value for i in result.all],
        "results": result.get_results(),
    }


async def main() -> None:
    verb = sys.argv[3]
    async with engine:
        if verb == "start":
            payload = json.loads(sys.argv[6]) if len(sys.argv) > 6 else None
            handle = await engine.start(sys.argv[4], payload, execution_name=sys.argv[5])
        else:
            [info] = [i for i in await engine.list_executions() if i.name == sys.argv[4]]
            handle = ExecutionHandle(engine, info.execution_id)
        record(f"process {verb} {handle.execution_id}")
        print(json.dumps({"result": await handle.result()}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
