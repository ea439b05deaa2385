"""Workflows that keep to the rules: nothing here may be reported.

Everything the rules forbid in workflow code is allowed where it runs once: in step
bodies (lambdas, named functions, durable_step functions), in submitters and condition
checks, and in plain functions outside any workflow.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from durable_engine import (
    DurableContext,
    Engine,
    StepContext,
    WaitForConditionConfig,
    WaitStrategyConfig,
    create_wait_strategy,
    durable_step,
)

engine = Engine("good.db")
COUNTER = 0


def stamp() -> float:
    """A plain function: not workflow code, whatever it does."""
    global COUNTER
    COUNTER += 1
    return time.time()


@durable_step
def fetch_rate(step: StepContext, currency: str) -> float:
    time.sleep(0.01)
    return float(os.environ.get("RATE_" + currency, "1.0")) + random.random()


@durable_step
async def write_report(step: StepContext, text: str) -> str:
    await asyncio.sleep(0.01)
    Path("report.txt").write_text(text)
    step.logger.info("written at %s", datetime.now(UTC))
    return text


def submitter(callback_id: str, step: StepContext) -> None:
    print(callback_id, os.getenv("HOME"))


@engine.durable_function(name="good")
async def good(ctx: DurableContext, order: dict[str, Any]) -> dict[str, Any]:
    started = await ctx.now()
    token = await ctx.uuid4()
    chance = await ctx.random()
    seeded = random.Random(order["id"]).random()  # a seeded generator repeats itself
    await asyncio.sleep(0)  # yields to the loop, waits for nothing
    rate = await ctx.step(fetch_rate("EUR"))
    read_at = await ctx.step(lambda s: time.time(), name="clock")
    ident = await ctx.step(lambda s: str(uuid.uuid4()), name="ident")

    def body(step: Any) -> str:
        return Path("input.txt").read_text() if os.path.exists("input.txt") else ""

    text = await ctx.step(body, name="read")

    def with_args(step: StepContext, n: int) -> int:
        return n + len(os.environ)

    more = await ctx.step(functools.partial(with_args, n=2), name="partial")
    await ctx.step(write_report(text), name="report")
    await ctx.wait(timedelta(days=1), name="cool-off")
    answer = await ctx.wait_for_callback(submitter, name="approval")
    await ctx.wait_for_callback(lambda cid, s: print(cid, time.time()), name="printed")
    polled = await ctx.wait_for_condition(
        lambda state, check: {**state, "done": time.monotonic() > 0},
        config=WaitForConditionConfig(
            wait_strategy=create_wait_strategy(
                WaitStrategyConfig(should_continue_polling=lambda s: not s["done"])
            ),
            initial_state={"done": False},
        ),
        name="poll",
    )
    total = 0.0
    total += rate  # a local, not a global
    ctx.logger.info("done")
    return {
        "started": started.isoformat(),
        "token": str(token),
        "numbers": [chance, seeded, rate, read_at, more, total],
        "ident": ident,
        "answer": answer,
        "polled": polled,
    }


async def branch(ctx: DurableContext, item: int, index: int, items: Any) -> int:
    """A map body: workflow code with a child context, keeping to the rules."""
    return await ctx.step(lambda s: item * 2, name="double")


@engine.durable_function
async def fan_out(ctx: DurableContext, items: list[int]) -> list[Any]:
    mapped = await ctx.map(items, branch, name="map")
    both = await ctx.parallel(
        [lambda c: c.step(lambda s: time.time(), name="a"), lambda c: c.wait(1)],
        name="both",
    )

    async def child(c: DurableContext) -> float:
        return await c.step(lambda s: random.random(), name="r")

    await ctx.run_in_child_context(child, name="child")
    gathered = await asyncio.gather(ctx.step(lambda s: 1, name="x"), ctx.step(lambda s: 2))
    return [mapped.get_results(), both.get_results(), gathered]


def helper_not_a_workflow(time: Any) -> Any:
    return time.time()


@engine.durable_function
async def shadowing(ctx: DurableContext, time: dict[str, float]) -> float:
    """`time` here is the input, not the module."""
    return time["time"] + stamp.__code__.co_argcount
