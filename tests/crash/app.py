"""Workflows for crash tests, run in real processes that the tests SIGKILL.

Usage: python -m tests.crash.app DB EFFECTS start FUNCTION [EXECUTION_NAME [INPUT_JSON]]
       python -m tests.crash.app DB EFFECTS resume EXECUTION_NAME
Both print the execution's result as JSON once it ends. Every side effect is
appended to EFFECTS, a file outside the database.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from durable_engine import (
    DurableContext,
    Engine,
    ErrorWithInfo,
    ExecutionHandle,
    MapConfig,
    RetryPresets,
    StepConfig,
    StepContext,
    StepSemantics,
    WaitForCallbackConfig,
)
from tests.crash.crash_hook import install_from_environment

T = TypeVar("T")
DB, EFFECTS = sys.argv[1], Path(sys.argv[2])
engine = Engine(DB, in_memory_wait=0, lease=3)
install_from_environment()  # DURABLE_CRASH_AT=k: exit at persistence point k


def record(line: str) -> None:
    with EFFECTS.open("a") as f:
        f.write(line + "\n")
        f.flush()


def noted(line: str, value: T) -> T:
    """Record `line`, then return `value`: a step body's effect and its result."""
    record(line)
    return value


@engine.durable_function(name="three_steps")
async def three_steps(ctx: DurableContext, order: int) -> dict[str, int]:
    a = await ctx.step(lambda s: noted("step1", order + 1), name="step1")
    b = await ctx.step(lambda s: noted("step2", a * 2), name="step2")
    await ctx.wait(1.5, name="cool-off")
    c = await ctx.step(lambda s: noted("step3", b + 100), name="step3")
    return {"a": a, "b": b, "c": c}


def _slow_body(tag: str) -> Callable[[StepContext], int]:
    def body(s: StepContext) -> int:
        first_time = not any(
            line.startswith(f"{tag} start") for line in EFFECTS.read_text().splitlines()
        )
        record(f"{tag} start {s.attempt}")
        if first_time:
            time.sleep(60)  # killed here
        record(f"{tag} end {s.attempt}")
        return s.attempt

    return body


@engine.durable_function(name="at_most_once")
async def at_most_once(ctx: DurableContext, _: None) -> int:
    config = StepConfig(
        step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
        retry_strategy=RetryPresets.fixed(0.1, max_attempts=3),
    )
    return await ctx.step(_slow_body("amo"), name="charge", config=config)


@engine.durable_function(name="at_most_once_no_retry")
async def at_most_once_no_retry(ctx: DurableContext, _: None) -> str:
    config = StepConfig(
        step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY, retry_strategy=RetryPresets.none()
    )
    try:
        await ctx.step(_slow_body("amo1"), name="charge", config=config)
    except ErrorWithInfo as exc:
        return exc.error_type
    return "no error"


@engine.durable_function(name="at_least_once")
async def at_least_once(ctx: DurableContext, _: None) -> int:
    return await ctx.step(_slow_body("alo"), name="charge")


@engine.durable_function(name="backoff")
async def backoff(ctx: DurableContext, _: None) -> int:
    def flaky(s: StepContext) -> int:
        record(f"attempt {s.attempt}")
        if s.attempt < 3:
            raise ConnectionError(f"down {s.attempt}")
        return s.attempt

    config = StepConfig(retry_strategy=RetryPresets.fixed(2.0, max_attempts=5))
    return await ctx.step(flaky, name="call", config=config)


@engine.durable_function(name="map_waits")
async def map_waits(ctx: DurableContext, count: int) -> list[int]:
    async def item(child: DurableContext, n: int, index: int, items: Sequence[int]) -> int:
        await child.step(lambda s: record(f"item {n} before"), name="before")
        await child.wait(0.3 + 0.1 * (n % 4), name="nap")
        return await child.step(lambda s: noted(f"item {n} after", n * n), name="after")

    result = await ctx.map(list(range(count)), item, config=MapConfig(max_concurrency=4))
    return result.get_results()


@engine.durable_function(name="approval")
async def approval(ctx: DurableContext, amount: int) -> dict[str, object]:
    decision = await ctx.wait_for_callback(
        lambda callback_id, s: record(f"callback {callback_id}"),
        name="manager",
        config=WaitForCallbackConfig(timeout=600),
    )
    await ctx.step(lambda s: record("approved step"), name="after")
    return {"amount": amount, "decision": decision}


def _link(i: int, previous: str) -> Callable[[StepContext], Awaitable[str]]:
    async def body(s: StepContext) -> str:
        record(f"deferred {i}")
        return f"{previous}>{i}:{os.getpid()}:{time.time_ns()}"

    return body


@engine.durable_function(name="deferred_chain")
async def deferred_chain(ctx: DurableContext, count: int) -> list[object]:
    """`count` deferred steps, each naming its run and the run of the step before it
    ("<previous token>><own token>"): a step that ran again shows in the chain. Returns
    the chain's length and its last link (the links are the steps' stored results)."""
    chain: list[str] = []
    deferred = StepConfig(defer_commit=True)
    for i in range(count):
        previous = chain[-1].split(">")[1] if chain else "start"
        chain.append(await ctx.step(_link(i, previous), name=f"d{i}", config=deferred))
    return [len(chain), chain[-1]]


async def main() -> None:
    verb = sys.argv[3]
    async with engine:
        if verb == "start":
            name = sys.argv[5] if len(sys.argv) > 5 else None
            payload = json.loads(sys.argv[6]) if len(sys.argv) > 6 else None
            handle = await engine.start(sys.argv[4], payload, execution_name=name)
        else:
            [info] = [i for i in await engine.list_executions() if i.name == sys.argv[4]]
            handle = ExecutionHandle(engine, info.execution_id)
        record(f"process {verb} {handle.execution_id}")
        try:
            print(json.dumps({"result": await handle.result()}), flush=True)
        except ErrorWithInfo as exc:
            print(json.dumps({"error": exc.error_type}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
