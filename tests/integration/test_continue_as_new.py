"""`ctx.continue_as_new`: a run ends and the same execution starts afresh with a new
input and an empty history, across suspensions and engine restarts."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import pytest

from durable_engine import (
    CallbackConfig,
    CallbackNotPending,
    ContinueAsNewError,
    DurableContext,
    Engine,
    ExecutionStatus,
    ExecutionTimedOut,
    ParallelBranch,
    RetryPresets,
    RunNotKept,
    SerDesError,
    StepConfig,
    StepContext,
)
from durable_engine.logging import LOGGER_NAME, json_handler
from tests.conftest import Effects, recorded, rows, wait_for_status


def _effect(effects: Effects, line: str, value: int) -> Callable[[StepContext], int]:
    """A step body that records `line` and returns `value`."""
    return lambda _: recorded(effects, line, value)


def _looping(path: Path | str, effects: Effects, *, keep_history: bool = False) -> Engine:
    """`count` runs `every` iterations (a step and a wait) per run, up to `upto`."""
    engine = Engine(path, in_memory_wait=0)

    @engine.durable_function(name="count")
    async def count(ctx: DurableContext, state: dict[str, int]) -> dict[str, int]:
        i, total = state["i"], state["total"]
        for _ in range(state["every"]):
            if i == state["upto"]:
                return {"i": i, "total": total}
            total += await ctx.step(_effect(effects, f"step {i}", i), name="add")
            await ctx.wait(0.01, name="pause")
            i += 1
        await ctx.continue_as_new({**state, "i": i, "total": total}, keep_history=keep_history)

    return engine


async def test_a_loop_continues_as_new_and_ends_with_the_last_runs_result(
    db_path: Path, effects: Effects
) -> None:
    engine = _looping(db_path, effects)
    async with engine:
        handle = await engine.start("count", {"i": 0, "total": 0, "every": 3, "upto": 10})
        assert await handle.result() == {"i": 10, "total": 45}
        info = await engine.get_execution(handle.execution_id)
        # Runs of 3, 3, 3 iterations continued; the fourth ran the last one and returned.
        assert info.run_number == 4 and info.status is ExecutionStatus.SUCCEEDED
        assert info.input == {"i": 9, "total": 36, "every": 3, "upto": 10}
        ops = await engine.get_operations(handle.execution_id)
        assert [(op.name, op.operation_id) for op in ops] == [("add", "1"), ("pause", "2")]
    assert effects.lines() == [f"step {i}" for i in range(10)]  # each step once
    # Only the last run's operations are stored: the others were dropped as it continued.
    assert rows(db_path, "SELECT COUNT(*) FROM operations") == [(2,)]
    assert rows(db_path, "SELECT COUNT(*) FROM kept_operations") == [(0,)]


async def test_the_next_run_resumes_in_a_new_engine_after_a_restart(
    db_path: Path, effects: Effects
) -> None:
    first = _looping(db_path, effects)
    async with first:
        handle = await first.start(
            "count", {"i": 0, "total": 0, "every": 2, "upto": 7}, execution_name="loop"
        )
        while (await first.get_execution(handle.execution_id)).run_number < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    # Closed mid-way: a later engine on the same file resumes whatever run it was on.
    second = _looping(db_path, effects)
    async with second:
        again = await second.start(
            "count", {"i": 0, "total": 0, "every": 2, "upto": 7}, execution_name="loop"
        )
        assert again.execution_id == handle.execution_id  # the name finds the same execution
        assert await again.result() == {"i": 7, "total": 21}
        assert (await second.get_execution(handle.execution_id)).run_number == 4
    lines = effects.lines()
    assert sorted(set(lines)) == sorted(f"step {i}" for i in range(7))
    # A step may run again only when the engine was closed while its body ran (at least
    # once), never because a run repeated: every iteration's step ran at most twice.
    assert all(lines.count(line) <= 2 for line in set(lines))


async def test_kept_runs_are_read_by_number_until_purged(db_path: Path, effects: Effects) -> None:
    engine = _looping(db_path, effects, keep_history=True)
    async with engine:
        handle = await engine.start("count", {"i": 0, "total": 0, "every": 2, "upto": 5})
        await handle.result()
        eid = handle.execution_id
        assert (await engine.get_execution(eid)).run_number == 3
        for run, first in ((1, 0), (2, 2)):
            ops = await engine.get_operations(eid, run_number=run)
            steps = [op.result for op in ops if op.name == "add"]
            assert steps == [first, first + 1]
        current = await engine.get_operations(eid, run_number=3)
        assert [op.result for op in current if op.name == "add"] == [4]
        with pytest.raises(RunNotKept, match="earlier runs kept: 1, 2"):
            await engine.get_operations(eid, run_number=7)
        with pytest.raises(TypeError):
            await engine.get_operations(eid, run_number="1")  # type: ignore[arg-type]
        assert await engine.purge(timedelta(0)) == 1
    assert rows(db_path, "SELECT COUNT(*) FROM kept_operations") == [(0,)]


async def test_a_dropped_run_is_not_kept(db_path: Path, effects: Effects) -> None:
    engine = _looping(db_path, effects)
    async with engine:
        handle = await engine.start("count", {"i": 0, "total": 0, "every": 2, "upto": 3})
        await handle.result()
        with pytest.raises(RunNotKept, match="earlier runs kept: none"):
            await engine.get_operations(handle.execution_id, run_number=1)


async def test_events_carry_over_and_callbacks_of_the_old_run_are_cancelled(
    engine: Engine,
) -> None:
    callback_ids: list[str] = []

    @engine.durable_function(name="inbox")
    async def inbox(ctx: DurableContext, seen: list[Any]) -> list[Any]:
        got = await ctx.wait_for_event("msg")
        if not seen:
            cb = await ctx.create_callback(name="never", config=CallbackConfig(timeout=600))
            callback_ids.append(cb.callback_id)
            await ctx.continue_as_new([got])
        return [*seen, got]

    async with engine:
        handle = await engine.start("inbox", [], execution_name="box")
        # Both events sent before the first run waits: one is received by run 1, the
        # other is kept for run 2.
        await engine.send_event("box", "msg", "a")
        await engine.send_event("box", "msg", "b")
        assert await handle.result() == ["a", "b"]
        assert (await engine.get_execution(handle.execution_id)).run_number == 2
        with pytest.raises(CallbackNotPending):
            await engine.send_callback_success(callback_ids[0], "late")


async def test_custom_status_is_kept_until_the_next_run_sets_it(engine: Engine) -> None:
    seen: list[Any] = []

    @engine.durable_function(name="status")
    async def status(ctx: DurableContext, run: int) -> str:
        if run == 1:
            ctx.set_custom_status("set by run 1")
            await ctx.continue_as_new(2)
        if run == 2:
            await ctx.wait(0.05, name="look")
            ctx.set_custom_status("set by run 2")
            await ctx.continue_as_new(3)
        await ctx.wait_for_event("end")
        return "done"

    async with engine:
        handle = await engine.start("status", 1)
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
        info = await engine.get_execution(handle.execution_id)
        seen.append((info.run_number, info.custom_status))
        while info.run_number < 3:
            await asyncio.sleep(0.01)
            info = await engine.get_execution(handle.execution_id)
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
        info = await engine.get_execution(handle.execution_id)
        seen.append((info.run_number, info.custom_status))
        await engine.send_event(handle.execution_id, "end")
        assert await handle.result() == "done"
    assert seen == [(2, "set by run 1"), (3, "set by run 2")]


async def test_the_timeout_bounds_the_whole_execution_not_each_run(engine: Engine) -> None:
    # Each run waits 2.2 s, then continues; the timeout is 4 s. Bounding the whole
    # execution, it ends the second run (which began at 2.2 s or later and would end at
    # 4.4 s or later); bounding each run, no run would ever reach it.
    @engine.durable_function(name="forever")
    async def forever(ctx: DurableContext, n: int) -> NoReturn:
        await ctx.wait(2.2, name="tick")
        await ctx.continue_as_new(n + 1)

    async with engine:
        handle = await engine.start("forever", 0, timeout=4.0)
        with pytest.raises(ExecutionTimedOut):
            await handle.result()
        info = await engine.get_execution(handle.execution_id)
        assert info.status is ExecutionStatus.TIMED_OUT and info.run_number == 2


async def test_it_is_refused_outside_the_workflows_own_context(engine: Engine) -> None:
    @engine.durable_function(name="misplaced")
    async def misplaced(ctx: DurableContext, _: None) -> list[str]:
        refused: list[str] = []

        async def in_child(child: DurableContext) -> None:
            await child.continue_as_new(None)

        async def in_branch(branch: DurableContext) -> None:
            await branch.continue_as_new(None)

        async def in_body(_: Any) -> None:
            await ctx.continue_as_new(None)

        no_retry = StepConfig(retry_strategy=RetryPresets.none())
        for attempt in (
            lambda: ctx.run_in_child_context(in_child, name="child"),
            lambda: ctx.step(in_body, name="body", config=no_retry),
            lambda: asyncio.gather(ctx.continue_as_new(None)),
        ):
            try:
                await attempt()
            except Exception as exc:  # a step and a child context wrap it, naming its type
                refused.append(getattr(exc, "error_type", None) or type(exc).__name__)
        batch = await ctx.parallel([ParallelBranch(in_branch, name="b")], name="par")
        refused.extend(getattr(e, "error_type", "") for e in batch.get_errors())
        return refused

    async with engine:
        refused = await engine.run("misplaced", None)
        assert (await engine.list_executions())[0].run_number == 1
    assert refused.count(ContinueAsNewError.__name__) == 4, refused


async def test_an_input_that_cannot_be_stored_raises_where_it_is_called(engine: Engine) -> None:
    @engine.durable_function(name="bad")
    async def bad(ctx: DurableContext, _: None) -> str:
        try:
            await ctx.continue_as_new(object())
        except SerDesError:
            return "refused"

    async with engine:
        assert await engine.run("bad", None) == "refused"


async def test_deferred_commits_land_before_the_switch(engine: Engine, effects: Effects) -> None:
    @engine.durable_function(name="deferred")
    async def deferred(ctx: DurableContext, run: int) -> int:
        if run == 1:
            for i in range(5):
                await ctx.step(
                    _effect(effects, f"d{i}", i),
                    name=f"d{i}",
                    config=StepConfig(defer_commit=True),
                )
            await ctx.continue_as_new(2, keep_history=True)
        return run

    async with engine:
        handle = await engine.start("deferred", 1)
        assert await handle.result() == 2
        kept = await engine.get_operations(handle.execution_id, run_number=1)
        assert [op.result for op in kept] == [0, 1, 2, 3, 4]
    assert effects.lines() == [f"d{i}" for i in range(5)]


async def test_an_invoked_child_that_continues_hands_its_last_result_to_its_parent(
    engine: Engine,
) -> None:
    @engine.durable_function(name="child")
    async def child(ctx: DurableContext, n: int) -> int:
        await ctx.wait(0.01, name="pause")
        if n < 4:
            await ctx.continue_as_new(n + 1)
        return n * 100

    @engine.durable_function(name="parent")
    async def parent(ctx: DurableContext, _: None) -> int:
        return int(await ctx.invoke("child", 1, name="call"))

    async with engine:
        assert await engine.run("parent", None) == 400
        [kid] = [i for i in await engine.list_executions() if i.function == "child"]
        assert kid.run_number == 4 and kid.parent_id is not None


async def test_each_switch_logs_a_continue_as_new_event(engine: Engine) -> None:
    out = io.StringIO()
    handler = json_handler(out)
    logger = logging.getLogger(LOGGER_NAME)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    @engine.durable_function(name="thrice")
    async def thrice(ctx: DurableContext, n: int) -> int:
        if n < 3:
            await ctx.continue_as_new(n + 1)
        return n

    try:
        async with engine:
            handle = await engine.start("thrice", 1)
            assert await handle.result() == 3
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    mine = [r for r in records if r.get("execution_id") == handle.execution_id]
    assert [(r["event"], r.get("run_number")) for r in mine] == [
        ("create", None),
        ("continue_as_new", 2),
        ("continue_as_new", 3),
        ("finish", None),
    ]
