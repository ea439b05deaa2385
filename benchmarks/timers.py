"""Timer and resume rows: a backlog of due timers, a long history, how late timers fire."""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from durable_engine import DurableContext, Engine, ExecutionStatus, StepContext
from durable_engine.testing import VirtualClock

from .baselines import raw_executemany, raw_read_rows
from .suite import Sample

__all__ = ["lateness", "resume", "resume_linear", "timers_due"]


def _count(db: str, status: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        (count,) = conn.execute(
            "SELECT count(*) FROM executions WHERE status = ?", (status,)
        ).fetchone()
    finally:
        conn.close()
    return int(count)


async def _until_count(db: str, status: str, n: int, every: float) -> None:
    while await asyncio.to_thread(_count, db, status) < n:  # noqa: ASYNC110 - a state in the database file
        await asyncio.sleep(every)


# -- N timers all due when an engine starts ----------------------------------------------


def _napper(engine: Engine) -> None:
    @engine.durable_function(name="napper")
    async def napper(ctx: DurableContext, x: int) -> int:
        await ctx.wait(1.0, name="nap")
        return x


async def _due_backlog(db: str, n: int) -> float:
    """Seconds from opening an engine on `n` executions whose timers are all due until
    all `n` have finished. (The executions are started and suspended first, by another
    engine whose clock stands still, so that none is due before it closes.)"""
    setup = Engine(db, in_memory_wait=0, clock=VirtualClock())
    _napper(setup)
    async with setup:
        await asyncio.gather(*(setup.start("napper", i) for i in range(n)))
        await _until_count(db, "SUSPENDED", n, 0.05)
    conn = sqlite3.connect(db)
    try:
        (last,) = conn.execute("SELECT max(wake_at) FROM executions").fetchone()
    finally:
        conn.close()
    await asyncio.sleep(max(0.0, last - time.time()) + 0.1)
    engine = Engine(db)
    _napper(engine)
    start = time.perf_counter()
    async with engine:
        await _until_count(db, "SUCCEEDED", n, 0.01)
        elapsed = time.perf_counter() - start
    return elapsed


def timers_due(n: int) -> Sample:
    async def measure() -> Sample:
        with tempfile.TemporaryDirectory() as tmp:
            rows_per_second = await raw_executemany(os.path.join(tmp, "raw.db"), 2 * n)
            value = await _due_backlog(os.path.join(tmp, "engine.db"), n)
        return Sample(value, 2 * n / rows_per_second)

    return asyncio.run(measure())


# -- resuming an execution with a long history ---------------------------------------------


async def _trivial(s: StepContext) -> int:
    return s.attempt


async def _resume_after(db: str, n: int) -> float:
    """Seconds to resume an execution with `n` completed steps that waits on a callback:
    from answering the callback until the execution has finished (claim, load, replay
    of all `n` steps, finish)."""
    engine = Engine(db)
    callback_ids: list[str] = []

    @engine.durable_function(name="long_history")
    async def long_history(ctx: DurableContext, count: int) -> int:
        for i in range(count):
            await ctx.step(_trivial, name=f"s{i}")
        callback = await ctx.create_callback(name="go")
        callback_ids.append(callback.callback_id)
        return int(await callback.result())

    async with engine:
        handle = await engine.start("long_history", n)
        while (await handle.status()) is not ExecutionStatus.SUSPENDED:  # noqa: ASYNC110 - a state in the database file
            await asyncio.sleep(0.02)
        start = time.perf_counter()
        await engine.send_callback_success(callback_ids[-1], 7)
        info = await engine.wait_for(handle.execution_id)
        elapsed = time.perf_counter() - start
    assert info.status is ExecutionStatus.SUCCEEDED
    return elapsed


def resume(n: int) -> Sample:
    async def measure() -> Sample:
        with tempfile.TemporaryDirectory() as tmp:
            base = await raw_read_rows(os.path.join(tmp, "raw.db"), n)
            half = await _resume_after(os.path.join(tmp, "half.db"), n // 2)
            value = await _resume_after(os.path.join(tmp, "engine.db"), n)
        details = {"half_ms": half * 1000, "full_over_half": value / half}
        return Sample(value * 1000, base * 1000, details)

    return asyncio.run(measure())


def resume_linear(details: Sequence[dict[str, Any]]) -> tuple[str, bool]:
    """Whether resuming stays linear: twice the history takes at most 2.5 times as long
    (the median over the runs)."""
    growth = statistics.median(d["full_over_half"] for d in details)
    return f"2x the history: {growth:.2f}x the time", growth <= 2.5


# -- how late timers fire --------------------------------------------------------------


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


async def _late_timers(db: str, delays: list[float]) -> tuple[list[float], list[float]]:
    """Lateness in seconds of one durable wait per delay (its stored `ended_at` less its
    `wake_at`), and of a plain `loop.call_at` timer per delay on the same loop."""
    engine = Engine(db)
    loop = asyncio.get_running_loop()
    plain: list[float] = []

    @engine.durable_function(name="timer")
    async def timer(ctx: DurableContext, seconds: float) -> None:
        await ctx.wait(seconds, name="t")

    def fired(due: float) -> None:
        plain.append(loop.time() - due)

    async with engine:
        now = loop.time()
        for delay in delays:
            loop.call_at(now + delay, fired, now + delay)
        handles = await asyncio.gather(*(engine.start("timer", d) for d in delays))
        await asyncio.gather(*(h.result() for h in handles))
    conn = sqlite3.connect(db)
    try:
        rows: list[Any] = conn.execute(
            "SELECT ended_at - wake_at FROM operations WHERE type = 'WAIT'"
        ).fetchall()
    finally:
        conn.close()
    assert len(rows) == len(delays)
    return [r[0] for r in rows], plain


def lateness(n: int) -> Sample:
    rng = random.Random(n)
    delays = [rng.uniform(1.0, 3.0) for _ in range(n)]

    async def measure() -> Sample:
        with tempfile.TemporaryDirectory() as tmp:
            late, plain = await _late_timers(os.path.join(tmp, "engine.db"), delays)
        details = {
            "p50_ms": statistics.median(late) * 1000,
            "max_ms": max(late) * 1000,
            "plain_p50_ms": statistics.median(plain) * 1000,
        }
        return Sample(_p99(late) * 1000, _p99(plain) * 1000, details)

    return asyncio.run(measure())
