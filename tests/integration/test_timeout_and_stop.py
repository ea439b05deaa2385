"""An execution's total timeout and `Engine.stop`: one terminal state, pending work cancelled."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from durable_engine import (
    CallbackConfig,
    CallbackNotPending,
    DurableContext,
    Engine,
    ExecutionAlreadyEnded,
    ExecutionNotFound,
    ExecutionStatus,
    ExecutionStopped,
    ExecutionTimedOut,
)
from tests.conftest import Effects, rows, until, wait_for_status


def register(engine: Engine, effects: Effects) -> None:
    @engine.durable_function(name="long_wait")
    async def long_wait(ctx: DurableContext, seconds: float) -> str:
        await ctx.step(lambda s: effects.record("before"), name="before")
        await ctx.wait(seconds, name="nap")
        await ctx.step(lambda s: effects.record("after"), name="after")
        return "done"

    @engine.durable_function(name="busy")
    async def busy(ctx: DurableContext, _: None) -> str:
        async def forever(s: object) -> None:
            effects.record("body started")
            await asyncio.sleep(3600)

        await ctx.step(forever, name="forever")
        return "never"

    @engine.durable_function(name="needs_answer")
    async def needs_answer(ctx: DurableContext, _: None) -> object:
        cb = await ctx.create_callback(name="answer", config=CallbackConfig(timeout=3600))
        return await cb.result()


async def test_a_suspended_execution_times_out_and_its_timer_is_cancelled(
    db_path: Path, effects: Effects
) -> None:
    engine = Engine(db_path, in_memory_wait=0)
    register(engine, effects)
    async with engine:
        handle = await engine.start("long_wait", 3600, timeout=timedelta(seconds=0.4))
        with pytest.raises(ExecutionTimedOut, match="passed its timeout"):
            await handle.result()
        assert await handle.status() is ExecutionStatus.TIMED_OUT
        ops = {op.name: op.status.value for op in await engine.get_operations(handle.execution_id)}
    assert ops == {"before": "SUCCEEDED", "nap": "CANCELLED"}
    assert effects.lines() == ["before"]
    assert rows(db_path, "SELECT owner, wake_at FROM executions") == [(None, None)]


async def test_a_running_step_is_cut_off_at_the_timeout(db_path: Path, effects: Effects) -> None:
    engine = Engine(db_path, in_memory_wait=0)
    register(engine, effects)
    async with engine:
        handle = await engine.start("busy", timeout=0.3)
        info = await engine.wait_for(handle.execution_id)
    assert info.status is ExecutionStatus.TIMED_OUT
    assert isinstance(info.error, ExecutionTimedOut)
    assert effects.lines() == ["body started"]


async def test_a_pending_callback_is_cancelled_by_the_timeout(
    db_path: Path, effects: Effects
) -> None:
    engine = Engine(db_path, in_memory_wait=0)
    register(engine, effects)
    async with engine:
        handle = await engine.start("needs_answer", timeout=0.3)
        await wait_for_status(handle, ExecutionStatus.TIMED_OUT)
        [(callback_id, status)] = rows(db_path, "SELECT callback_id, status FROM callbacks")
        assert status == "CANCELLED"
        with pytest.raises(CallbackNotPending):
            await engine.send_callback_success(str(callback_id), "late")
    assert rows(db_path, "SELECT status FROM executions") == [("TIMED_OUT",)]


async def test_a_timeout_that_passes_while_no_process_runs_is_applied_at_the_next_start(
    db_path: Path, effects: Effects
) -> None:
    first = Engine(db_path, in_memory_wait=0)
    register(first, effects)
    async with first:
        handle = await first.start("long_wait", 3600, timeout=0.5)
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
    await asyncio.sleep(0.6)
    second = Engine(db_path, in_memory_wait=0)
    register(second, effects)
    async with second:
        info = await second.wait_for(handle.execution_id)
    assert info.status is ExecutionStatus.TIMED_OUT
    assert effects.lines() == ["before"]


async def test_an_execution_that_ends_in_time_is_not_touched_by_its_timeout(
    db_path: Path, effects: Effects
) -> None:
    engine = Engine(db_path, in_memory_wait=0)
    register(engine, effects)
    async with engine:
        handle = await engine.start("long_wait", 0.05, timeout=0.5)
        assert await handle.result() == "done"
        await asyncio.sleep(0.6)
        assert await handle.status() is ExecutionStatus.SUCCEEDED
    assert effects.lines() == ["before", "after"]


async def test_stop_cancels_timers_and_callbacks_and_never_resumes(
    db_path: Path, effects: Effects
) -> None:
    engine = Engine(db_path, in_memory_wait=0)
    register(engine, effects)
    async with engine:
        waiting = await engine.start("long_wait", 0.5)
        answer = await engine.start("needs_answer")
        await wait_for_status(waiting, ExecutionStatus.SUSPENDED)
        await wait_for_status(answer, ExecutionStatus.SUSPENDED)
        await engine.stop(waiting.execution_id)
        await engine.stop(answer.execution_id)
        with pytest.raises(ExecutionStopped):
            await waiting.result()
        with pytest.raises(ExecutionAlreadyEnded):
            await engine.stop(waiting.execution_id)
        with pytest.raises(ExecutionNotFound):
            await engine.stop("no-such-execution")
        await asyncio.sleep(0.7)  # past the wait's instant: nothing resumes
        assert await waiting.status() is ExecutionStatus.STOPPED
    assert effects.lines() == ["before"]
    assert rows(db_path, "SELECT status FROM callbacks") == [("CANCELLED",)]
    assert sorted(rows(db_path, "SELECT type, status FROM operations")) == [
        ("CALLBACK", "CANCELLED"),
        ("STEP", "SUCCEEDED"),
        ("WAIT", "CANCELLED"),
    ]


async def test_stop_refuses_the_writes_of_a_run_in_flight(db_path: Path, effects: Effects) -> None:
    engine = Engine(db_path, in_memory_wait=0)
    register(engine, effects)
    async with engine:
        handle = await engine.start("busy")
        await until(lambda: "body started" in effects.lines())
        await engine.stop(handle.execution_id)
        info = await engine.wait_for(handle.execution_id)
    assert info.status is ExecutionStatus.STOPPED
    assert rows(db_path, "SELECT COUNT(*) FROM operations") == [(0,)]


async def test_a_waiter_here_sees_a_stop_made_by_another_process(
    db_path: Path, effects: Effects
) -> None:
    """The run here is still inside its step body: the waiter learns of the stop from
    the database, not from the run's end."""
    engine = Engine(db_path, in_memory_wait=0)
    register(engine, effects)
    other = Engine(db_path)
    other.serve = False  # like the command line: it stops, it runs nothing
    async with engine, other:
        handle = await engine.start("busy")
        await until(lambda: "body started" in effects.lines())
        waiting = asyncio.create_task(engine.wait_for(handle.execution_id))
        await asyncio.sleep(0)
        await other.stop(handle.execution_id)
        info = await asyncio.wait_for(waiting, timeout=30)
        assert info.status is ExecutionStatus.STOPPED
        assert engine.executor.live_run(handle.execution_id) is not None  # its body still runs
    assert rows(db_path, "SELECT COUNT(*) FROM operations") == [(0,)]
