"""Workflows that assign module globals, and step bodies that use the workflow's context."""

from __future__ import annotations

import functools
from typing import Any

from durable_engine import DurableContext, Engine, StepContext, durable_step

engine = Engine("bad.db")
SEEN = 0
LAST: str | None = None


@engine.durable_function
async def counting(ctx: DurableContext, name: str) -> int:
    global SEEN, LAST
    SEEN += 1  # expect: DE109
    LAST = name  # expect: DE109
    local = SEEN
    return local


@durable_step
async def takes_context(step: StepContext, ctx: DurableContext) -> None:
    await ctx.wait(1)  # expect: DE201


@engine.durable_function
async def nested(ctx: DurableContext, _: None) -> Any:
    async def body(step: StepContext) -> None:
        await ctx.step(lambda s: 1, name="inner")  # expect: DE201
        ctx.logger.info("inside")  # expect: DE202

    def by_name(s: Any) -> str:
        return ctx.execution_id  # expect: DE202

    await ctx.step(body, name="outer")
    await ctx.step(by_name, name="by-name")
    await ctx.step(lambda s: ctx.wait(5), name="lambda")  # expect: DE201
    await ctx.step(functools.partial(print, ctx), name="partial")  # expect: DE202
    await ctx.step(takes_context(ctx), name="given")  # expect: DE202
    await ctx.wait_for_callback(lambda cid, s: ctx.invoke("other", cid))  # expect: DE201
    return await ctx.step(lambda ctx: ctx.attempt, name="own-parameter")  # a StepContext: fine
