"""A workflow that continues as new, for crash tests, on the engine of `tests.crash.app`.

Usage: python -m tests.crash.continue_app DB EFFECTS start hops NAME INPUT_JSON
(as `tests.crash.app`). Each step appends `run R step J` to EFFECTS before it returns.
"""

from __future__ import annotations

import asyncio
import time

from durable_engine import DurableContext, StepContext
from tests.crash.app import engine, main, record

STEPS = 2


@engine.durable_function(name="hops")
async def hops(ctx: DurableContext, state: dict[str, int]) -> int:
    """`state["runs"]` runs of two steps each; each run continues as new with the total
    so far; the last returns it."""
    run, total = state["run"], state["total"]
    for j in range(STEPS):

        def body(s: StepContext, j: int = j) -> int:
            if state["pause"]:
                time.sleep(state["pause"] / 1000)
            record(f"run {run} step {j}")
            return run * 10 + j

        total += await ctx.step(body, name=f"step{j}")
    if run < state["runs"]:
        await ctx.continue_as_new({**state, "run": run + 1, "total": total})
    return total


if __name__ == "__main__":
    asyncio.run(main())
