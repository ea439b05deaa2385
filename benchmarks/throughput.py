"""Throughput rows: checkpoints, one-step workflows and sequential steps per second.

Every step body is a trivial `async def` (it returns its attempt number), so what is
measured is the engine: operation ids, the journal, encoding, the group commit.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time

from durable_engine import DurableContext, Engine, StepConfig, StepContext

from .baselines import raw_executemany, raw_one_commit_per_row
from .suite import Sample

__all__ = [
    "checkpoints_gathered",
    "checkpoints_in_turn",
    "concurrent_executions",
    "deferred",
    "one_step_gathered",
    "one_step_in_turn",
    "sequential",
    "sequential_steps",
]


async def _trivial(s: StepContext) -> int:
    return s.attempt


def _sync_trivial(s: StepContext) -> int:
    return s.attempt


async def sequential_steps(
    path: str, n: int, *, sync: bool = False, defer_commit: bool = False
) -> float:
    """Steps per second of one execution running `n` steps back to back (each with
    `StepConfig(defer_commit=True)` if `defer_commit`)."""
    engine = Engine(path)
    body = _sync_trivial if sync else _trivial
    config = StepConfig(defer_commit=True) if defer_commit else None

    @engine.durable_function(name="sequential")
    async def sequential(ctx: DurableContext, count: int) -> int:
        for i in range(count):
            await ctx.step(body, name=f"s{i}", config=config)
        return count

    async with engine:
        start = time.perf_counter()
        done = await engine.run("sequential", n)
        elapsed = time.perf_counter() - start
    assert done == n
    return n / elapsed


async def concurrent_executions(
    path: str, executions: int, steps: int, *, gathered: bool = True
) -> float:
    """Checkpoints per second of `executions` executions of `steps` steps each, started
    together (`gathered`) or each start awaited in turn; the starts count in the time."""
    engine = Engine(path)

    @engine.durable_function(name="ten_steps")
    async def ten_steps(ctx: DurableContext, count: int) -> int:
        for i in range(count):
            await ctx.step(_trivial, name=f"s{i}")
        return count

    async with engine:
        start = time.perf_counter()
        if gathered:
            handles = await asyncio.gather(
                *(engine.start("ten_steps", steps) for _ in range(executions))
            )
        else:
            handles = [await engine.start("ten_steps", steps) for _ in range(executions)]
        results = await asyncio.gather(*(h.result() for h in handles))
        elapsed = time.perf_counter() - start
    assert results == [steps] * executions
    return executions * steps / elapsed


async def one_step_workflows(path: str, n: int, *, gathered: bool) -> float:
    """Workflows per second of `n` one-step workflows, results awaited at the end."""
    engine = Engine(path)

    @engine.durable_function(name="one_step")
    async def one_step(ctx: DurableContext, x: int) -> int:
        return await ctx.step(_trivial, name="only")

    async with engine:
        start = time.perf_counter()
        if gathered:
            handles = await asyncio.gather(*(engine.start("one_step", i) for i in range(n)))
        else:
            handles = [await engine.start("one_step", i) for i in range(n)]
        results = await asyncio.gather(*(h.result() for h in handles))
        elapsed = time.perf_counter() - start
    assert results == [1] * n
    return n / elapsed


# -- the rows' runs: each a fresh engine on a fresh file, beside its baseline ----------


def _checkpoints(n: int, gathered: bool) -> Sample:
    async def measure() -> Sample:
        with tempfile.TemporaryDirectory() as tmp:
            base = await raw_executemany(os.path.join(tmp, "raw.db"), n * 10)
            value = await concurrent_executions(
                os.path.join(tmp, "engine.db"), n, 10, gathered=gathered
            )
        return Sample(value, base)

    return asyncio.run(measure())


def checkpoints_gathered(n: int) -> Sample:
    return _checkpoints(n, gathered=True)


def checkpoints_in_turn(n: int) -> Sample:
    return _checkpoints(n, gathered=False)


def _one_step(n: int, gathered: bool) -> Sample:
    async def measure() -> Sample:
        with tempfile.TemporaryDirectory() as tmp:
            base = await raw_one_commit_per_row(os.path.join(tmp, "raw.db"), n)
            value = await one_step_workflows(os.path.join(tmp, "engine.db"), n, gathered=gathered)
        return Sample(value, base)

    return asyncio.run(measure())


def one_step_gathered(n: int) -> Sample:
    return _one_step(n, gathered=True)


def one_step_in_turn(n: int) -> Sample:
    return _one_step(n, gathered=False)


def sequential(n: int) -> Sample:
    async def measure() -> Sample:
        with tempfile.TemporaryDirectory() as tmp:
            base = await raw_one_commit_per_row(os.path.join(tmp, "raw.db"), n)
            value = await sequential_steps(os.path.join(tmp, "engine.db"), n)
        return Sample(value, base)

    return asyncio.run(measure())


def deferred(n: int) -> Sample:
    async def measure() -> Sample:
        with tempfile.TemporaryDirectory() as tmp:
            base = await raw_one_commit_per_row(os.path.join(tmp, "raw.db"), n)
            value = await sequential_steps(os.path.join(tmp, "engine.db"), n, defer_commit=True)
        return Sample(value, base)

    return asyncio.run(measure())
