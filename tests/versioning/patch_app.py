"""One workflow in three deploys, run as its own process: `python -m
tests.versioning.patch_app DEPLOY DB EFFECTS VERB NAME...`.

- deploy 1 runs steps a, b, then a pause;
- deploy 2 patches b into c (`ctx.patched("use-c")`);
- deploy 3 deprecates the patch: c only, for histories with or without the marker.

VERB `leave` starts each named execution and exits once it is suspended on its
pause; `finish` starts (or finds) each and prints its result as a JSON line.
Every step body appends its name to EFFECTS.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from durable_engine import DurableContext, Engine, ExecutionStatus, StepContext

DEPLOY, DB, EFFECTS, VERB, *NAMES = sys.argv[1:]
engine = Engine(DB, in_memory_wait=0)


def effect(name: str) -> Callable[[StepContext], str]:
    def body(step: StepContext) -> str:
        with Path(EFFECTS).open("a") as log:
            log.write(f"{name}\n")
        return name

    return body


async def between(ctx: DurableContext) -> str:
    if DEPLOY == "1":
        result: str = await ctx.step(effect("b"), name="b")
    elif DEPLOY == "2":
        if await ctx.patched("use-c"):
            result = await ctx.step(effect("c"), name="c")
        else:
            result = await ctx.step(effect("b"), name="b")
    else:
        await ctx.deprecate_patch("use-c")
        result = await ctx.step(effect("c"), name="c")
    return result


@engine.durable_function(name="order")
async def order(ctx: DurableContext, _: object) -> list[str]:
    first: str = await ctx.step(effect("a"), name="a")
    second = await ctx.run_in_child_context(between, name="between")
    await ctx.wait(timedelta(seconds=1), name="pause")
    return [first, second]


async def main() -> None:
    async with engine:
        handles = [await engine.start(order, None, execution_name=name) for name in NAMES]
        for handle in handles:
            if VERB == "leave":
                while await handle.status() is not ExecutionStatus.SUSPENDED:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            else:
                print(json.dumps({"id": handle.execution_id, "result": await handle.result()}))


asyncio.run(main())
