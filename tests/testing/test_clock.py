"""VirtualClock, and the runner moving it only when nothing else can happen."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from durable_engine import Clock, DurableContext
from durable_engine.testing import DurableTestRunner, VirtualClock

START = datetime(2030, 6, 1, tzinfo=UTC)


async def test_timers_fire_in_order_when_the_clock_reaches_them() -> None:
    clock = VirtualClock(START)
    assert isinstance(clock, Clock)
    fired: list[str] = []
    t0 = clock.now()
    clock.call_at(t0 + 30, lambda: fired.append("b"))
    clock.call_at(t0 + 10, lambda: fired.append("a"))
    cancelled = clock.call_at(t0 + 20, lambda: fired.append("never"))
    cancelled.cancel()
    assert clock.next_timer() == t0 + 10
    assert clock.pending_timers() == 2

    clock.advance(timedelta(seconds=9))
    await asyncio.sleep(0)
    assert fired == []
    clock.advance(25)
    await asyncio.sleep(0)
    assert fired == ["a", "b"]
    assert clock.next_timer() is None
    assert clock.now_datetime() == START + timedelta(seconds=34)
    assert clock.elapsed == timedelta(seconds=34)


async def test_a_timer_already_due_fires_on_the_next_loop_turn_unless_cancelled() -> None:
    clock = VirtualClock(1000.0)
    fired: list[int] = []
    clock.call_at(999.0, lambda: fired.append(1))
    gone = clock.call_at(1000.0, lambda: fired.append(2))
    gone.cancel()
    assert fired == []
    await asyncio.sleep(0)
    assert fired == [1]


def test_time_never_goes_back_and_needs_an_aware_start() -> None:
    clock = VirtualClock(START)
    with pytest.raises(ValueError, match="does not go back"):
        clock.advance_to(START - timedelta(seconds=1))
    with pytest.raises(ValueError, match="negative"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="aware"):
        VirtualClock(datetime(2030, 1, 1))  # naive: refused


async def test_time_stands_still_while_a_step_body_works() -> None:
    async def sleeper(ctx: DurableContext, _: Any) -> None:
        await ctx.wait(timedelta(days=1))

    async def busy(ctx: DurableContext, _: Any) -> list[datetime]:
        before = await ctx.now()
        await ctx.step(lambda s: time.sleep(0.05), name="thread")  # real work in a thread

        async def awaiting(s: Any) -> None:
            await asyncio.sleep(0.05)  # real work on the loop

        await ctx.step(awaiting, name="loop")
        return [before, await ctx.now()]

    async with DurableTestRunner([sleeper, busy], start=START) as runner:
        await runner.start(sleeper)  # a timer one day away is armed meanwhile
        result = await runner.run(busy)
        assert runner.now() == START
    before, after = result.result
    assert before == after == START
