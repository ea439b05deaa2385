"""An engine end to end in one process: steps, waits, child contexts, replay, errors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import sqlite3
import stat
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from durable_engine import (
    ChildContextError,
    DatabaseCorrupt,
    DurableContext,
    Engine,
    ExecutionAlreadyEnded,
    ExecutionAlreadyExists,
    ExecutionFailedError,
    ExecutionHandle,
    ExecutionNotFound,
    ExecutionStatus,
    FunctionNotRegistered,
    NonDeterministicError,
    OperationStatus,
    OperationType,
    PayloadTooLarge,
    RetryPresets,
    StepConfig,
    StepContext,
    StepError,
    durable_step,
)
from durable_engine._models import ExecutionRecord
from tests.conftest import Effects, recorded, rows, until, wait_for_status


async def test_sync_and_async_steps_return_checkpointed_results(engine: Engine) -> None:
    @engine.durable_function
    async def add(ctx: DurableContext, n: int) -> list[int]:
        a = await ctx.step(lambda s: n + 1, name="sync")

        async def double(s: StepContext) -> int:
            return a * 2

        b = await ctx.step(double, name="async")
        return [a, b]

    async with engine:
        assert await engine.run(add, 4) == [5, 10]
        [info] = await engine.list_executions()
        assert info.status is ExecutionStatus.SUCCEEDED
        assert info.input == 4 and info.result == [5, 10] and info.error is None
        ops = await engine.get_operations(info.execution_id)
        assert [(o.operation_id, o.name, o.status, o.result) for o in ops] == [
            ("1", "sync", OperationStatus.SUCCEEDED, 5),
            ("2", "async", OperationStatus.SUCCEEDED, 10),
        ]


async def test_a_sync_step_runs_in_a_worker_thread(engine: Engine) -> None:
    import threading

    @engine.durable_function
    async def where(ctx: DurableContext, _: None) -> bool:
        main = threading.get_ident()
        other = await ctx.step(lambda s: threading.get_ident(), name="thread")
        return bool(other != main)

    async with engine:
        assert await engine.run(where) is True


async def test_side_effect_runs_once_across_replays(engine: Engine, effects: Effects) -> None:
    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> str:
        await ctx.step(lambda s: effects.record("charge"), name="charge")
        for i in range(3):
            await ctx.wait(0.05, name=f"pause-{i}")  # each wait suspends and replays
        await ctx.step(lambda s: effects.record("ship"), name="ship")
        return "done"

    async with engine:
        assert await engine.run(flow) == "done"
    assert effects.lines() == ["charge", "ship"]


async def test_wait_suspends_and_leaves_memory(engine: Engine) -> None:
    @engine.durable_function
    async def sleeper(ctx: DurableContext, _: None) -> str:
        await ctx.wait(3600, name="an hour")
        return "woke"

    async with engine:
        handle = await engine.start(sleeper)
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
        assert engine.executor.live_run(handle.execution_id) is None
        [op] = await engine.get_operations(handle.execution_id)
        assert op.type is OperationType.WAIT and op.status is OperationStatus.STARTED
        assert op.wake_at is not None and op.started_at is not None
        assert (op.wake_at - op.started_at).total_seconds() == pytest.approx(3600)


async def test_child_context_numbers_its_own_operations(engine: Engine) -> None:
    async def block(child: DurableContext) -> int:
        x = await child.step(lambda s: 1, name="one")
        y = await child.step(lambda s: 2, name="two")
        return x + y

    @engine.durable_function
    async def parent(ctx: DurableContext, _: None) -> list[int]:
        first = await ctx.step(lambda s: 10, name="first")
        inner = await ctx.run_in_child_context(block, name="block")
        await ctx.wait(0.01, name="nap")  # forces a replay that skips the finished child
        return [first, inner]

    async with engine:
        handle = await engine.start(parent)
        assert await handle.result() == [10, 3]
        ops = await engine.get_operations(handle.execution_id)
        child = ops[1]
        assert child.type is OperationType.CONTEXT and child.name == "block"
        assert [(c.operation_id, c.name) for c in child.children] == [
            ("2/1", "one"),
            ("2/2", "two"),
        ]


async def test_gathered_steps_are_numbered_in_call_order(engine: Engine) -> None:
    async def slow(s: StepContext) -> str:
        await asyncio.sleep(0.05)
        return "slow"

    @engine.durable_function
    async def fan(ctx: DurableContext, _: None) -> list[str]:
        results = await asyncio.gather(
            ctx.step(slow, name="a"), ctx.step(lambda s: "fast", name="b")
        )
        await ctx.wait(0.01)
        return list(results)

    async with engine:
        handle = await engine.start(fan)
        assert await handle.result() == ["slow", "fast"]
        ops = await engine.get_operations(handle.execution_id)
        assert [(o.operation_id, o.name) for o in ops[:2]] == [("1", "a"), ("2", "b")]


async def test_durable_step_binds_arguments_and_names_the_step(engine: Engine) -> None:
    @durable_step
    def add(step_ctx: StepContext, a: int, b: int) -> int:
        return a + b

    @durable_step
    async def mul(step_ctx: StepContext, a: int, b: int) -> int:
        return a * b

    @engine.durable_function
    async def calc(ctx: DurableContext, _: None) -> list[int]:
        return [await ctx.step(add(5, 3)), await ctx.step(mul(5, 3), name="times")]

    async with engine:
        handle = await engine.start(calc)
        assert await handle.result() == [8, 15]
        names = [o.name for o in await engine.get_operations(handle.execution_id)]
        assert names == ["add", "times"]


async def test_step_error_attributes_are_identical_on_first_run_and_replay(engine: Engine) -> None:
    seen: list[tuple[str, str, bool]] = []

    def fail(s: StepContext) -> None:
        raise KeyError("missing sku")

    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> str:
        try:
            await ctx.step(
                fail, name="lookup", config=StepConfig(retry_strategy=RetryPresets.none())
            )
        except StepError as exc:
            seen.append((exc.error_type, exc.message, "KeyError" in exc.stack_trace))
        await ctx.wait(0.5)  # replay re-raises the recorded error
        return "handled"

    async with engine:
        assert await engine.run(flow) == "handled"
    assert seen == [("KeyError", "'missing sku'", True)] * 2


async def test_retries_then_failure_surfaces_step_error(engine: Engine, effects: Effects) -> None:
    def flaky(s: StepContext) -> int:
        effects.record(f"attempt {s.attempt}")
        raise ConnectionError("down")

    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> int:
        strategy = RetryPresets.fixed(0.01, max_attempts=3)
        return await ctx.step(flaky, name="call", config=StepConfig(retry_strategy=strategy))

    async with engine:
        handle = await engine.start(flow)
        with pytest.raises(StepError) as caught:
            await handle.result()
        assert caught.value.error_type == "ConnectionError" and caught.value.message == "down"
        [op] = await engine.get_operations(handle.execution_id)
        assert op.status is OperationStatus.FAILED and op.attempt == 3
    assert effects.lines() == ["attempt 1", "attempt 2", "attempt 3"]


async def test_workflow_error_fails_the_execution(engine: Engine) -> None:
    @engine.durable_function
    async def broken(ctx: DurableContext, _: None) -> None:
        raise ValueError("bad order")

    async with engine:
        handle = await engine.start(broken)
        with pytest.raises(ExecutionFailedError) as caught:
            await handle.result()
        assert caught.value.error_type == "ValueError" and caught.value.message == "bad order"
        assert await handle.status() is ExecutionStatus.FAILED


async def test_child_context_failure_is_recorded(engine: Engine) -> None:
    async def block(child: DurableContext) -> None:
        raise RuntimeError("inside")

    @engine.durable_function
    async def parent(ctx: DurableContext, _: None) -> str:
        try:
            await ctx.run_in_child_context(block, name="block")
        except ChildContextError as exc:
            return exc.error_type
        return "no error"

    async with engine:
        assert await engine.run(parent) == "RuntimeError"


async def test_a_waiter_gets_exactly_what_the_database_holds(engine: Engine) -> None:
    @engine.durable_function
    async def ok(ctx: DurableContext, n: int) -> dict[str, int]:
        return {"n": await ctx.step(lambda s: n + 1, name="inc")}

    @engine.durable_function
    async def bad(ctx: DurableContext, n: int) -> None:
        await ctx.step(
            lambda s: n / 0, name="div", config=StepConfig(retry_strategy=RetryPresets.none())
        )

    async with engine:
        for fn in (ok, bad):
            handle = await engine.start(fn, 1, execution_name=f"run-{fn.__name__}")
            waited = await engine.wait_for(handle.execution_id)
            stored = await engine.get_execution(handle.execution_id)
            assert waited.status is stored.status and stored.status.is_terminal
            assert (waited.result, waited.input, waited.name, waited.function) == (
                stored.result,
                stored.input,
                stored.name,
                stored.function,
            )
            assert (waited.created_at, waited.ended_at) == (stored.created_at, stored.ended_at)
            assert type(waited.error) is type(stored.error)
            assert str(waited.error) == str(stored.error)
        assert (await engine.get_execution(handle.execution_id)).result is None
        assert [i.status for i in await engine.list_executions()] == [
            ExecutionStatus.SUCCEEDED,
            ExecutionStatus.FAILED,
        ]


async def test_several_waiters_for_one_execution_all_get_its_result(engine: Engine) -> None:
    @engine.durable_function
    async def slow(ctx: DurableContext, n: int) -> int:
        await ctx.wait(0.05, name="pause")
        return await ctx.step(lambda s: n * 2, name="double")

    async with engine:
        handle = await engine.start(slow, 21)
        results = await asyncio.gather(
            handle.result(),
            handle.result(),
            engine.wait_for(handle.execution_id),
        )
        assert list(results[:2]) == [42, 42] and results[2].result == 42


async def test_recorded_values_are_identical_on_replay(engine: Engine) -> None:
    values: list[tuple[datetime, float, uuid.UUID]] = []

    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> None:
        values.append((await ctx.now(), await ctx.random(), await ctx.uuid4()))
        await ctx.wait(0.5)

    async with engine:
        await engine.run(flow)
    assert len(values) == 2 and values[0] == values[1]
    now, rnd, uid = values[0]
    assert now.tzinfo is UTC and 0 <= rnd < 1 and isinstance(uid, uuid.UUID)


async def test_logger_is_silent_while_replaying(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> None:
        ctx.logger.info("before wait, replaying=%s", ctx.is_replaying())
        await ctx.step(lambda s: None, name="s")
        await ctx.wait(0.01)
        ctx.logger.info("after wait")

    with caplog.at_level(logging.INFO, logger="durable_engine"):
        async with engine:
            await engine.run(flow)
    messages = [r.getMessage() for r in caplog.records if r.name == "durable_engine"]
    assert messages.count("before wait, replaying=False") == 1
    assert messages.count("after wait") == 1


async def test_each_log_line_is_written_once_across_resumes_in_every_context(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Lines between a finished operation and the timer the execution then waits on,
    and lines in map items that wait, run again on every resume: written once."""
    seen: list[bool] = []

    async def item(ctx: DurableContext, x: int, index: int, items: Any) -> int:
        ctx.logger.info("item %d start", index)
        await ctx.wait(0.01 * (index + 1), name="w")
        ctx.logger.info("item %d end", index)
        return x

    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> list[int]:
        ctx.logger.info("top")
        await ctx.step(lambda s: 1, name="one")
        ctx.logger.info("between the step and the wait")
        seen.append(ctx.is_replaying())
        await ctx.wait(0.5, name="pause")
        ctx.logger.info("after the wait")
        batch = await ctx.map([1, 2, 3], item, name="items")
        ctx.logger.info("after the map")
        return batch.get_results()

    with caplog.at_level(logging.INFO, logger="durable_engine"):
        async with engine:
            assert await engine.run(flow) == [1, 2, 3]
    engine_records = [r for r in caplog.records if r.name == "durable_engine"]
    mine = [r.getMessage() for r in engine_records if not hasattr(r, "event")]  # not lifecycle
    assert sorted(mine) == sorted(
        ["top", "between the step and the wait", "after the wait", "after the map"]
        + [f"item {i} {when}" for i in range(3) for when in ("start", "end")]
    )
    assert seen[0] is False and all(seen[1:]) and len(seen) >= 2  # resumed at least once


async def test_nondeterminism_fails_with_a_clear_message_when_asked_to(db_path: Path) -> None:
    """`on_divergence="fail"`: the execution ends FAILED rather than BLOCKED."""
    first = Engine(db_path, in_memory_wait=0)

    @first.durable_function(name="flow")
    async def v1(ctx: DurableContext, _: None) -> None:
        await ctx.step(lambda s: 1, name="reserve")
        await ctx.wait(3600)

    async with first:
        handle = await first.start("flow", execution_name="order-1")
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)

    second = Engine(db_path, in_memory_wait=0, on_divergence="fail")

    @second.durable_function(name="flow")
    async def v2(ctx: DurableContext, _: None) -> None:
        # Renamed: replay must not accept it, and swallowing the error does not help.
        with contextlib.suppress(NonDeterministicError):
            await ctx.step(lambda s: 1, name="charge")

    async with second:
        await _make_due(second, handle.execution_id)  # as if the hour had passed
        with pytest.raises(NonDeterministicError) as caught:
            await ExecutionHandle(second, handle.execution_id).result()
        message = str(caught.value)
        assert "operation 1" in message and "'reserve'" in message and "'charge'" in message
        assert await ExecutionHandle(second, handle.execution_id).status() is ExecutionStatus.FAILED


async def _make_due(engine: Engine, execution_id: str) -> None:
    import sqlite3

    conn = sqlite3.connect(engine.path)
    with conn:
        conn.execute("UPDATE executions SET wake_at = 0 WHERE execution_id = ?", (execution_id,))
    conn.close()
    engine.poke()


async def test_deduplication_by_execution_name(engine: Engine, effects: Effects) -> None:
    @engine.durable_function
    async def once(ctx: DurableContext, order: dict[str, int]) -> int:
        await ctx.step(lambda s: effects.record("ran"), name="effect")
        return order["id"]

    @engine.durable_function
    async def other(ctx: DurableContext, order: dict[str, int]) -> None:
        return None

    async with engine:
        first = await engine.start(once, {"id": 1}, execution_name="order-1")
        assert await first.result() == 1
        again = await engine.start(once, {"id": 1}, execution_name="order-1")
        assert again.execution_id == first.execution_id
        assert await engine.run(once, {"id": 1}, execution_name="order-1") == 1
        with pytest.raises(ExecutionAlreadyExists, match="different input"):
            await engine.start(once, {"id": 2}, execution_name="order-1")
        with pytest.raises(ExecutionAlreadyExists, match="function"):
            await engine.start(other, {"id": 1}, execution_name="order-1")
        assert len(await engine.list_executions()) == 1
    assert effects.count("ran") == 1


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ({"price": float("nan")}, {"price": float("nan")}, True),  # a retried request
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, True),
        (0.0, -0.0, False),
        (Decimal("1.10"), Decimal("1.1"), False),
        (
            datetime(2026, 1, 1, 12, tzinfo=UTC),
            datetime(2026, 1, 1, 13, tzinfo=timezone(timedelta(hours=1))),
            False,
        ),
    ],
    ids=["nan", "key-order", "signed-zero", "decimal-digits", "time-zone"],
)
async def test_same_input_means_stored_alike(
    engine: Engine, first: Any, second: Any, same: bool
) -> None:
    """Inputs equal in Python but stored differently are different inputs (the workflow
    would see another value); a NaN is the same input as itself."""

    @engine.durable_function
    async def echo(ctx: DurableContext, value: Any) -> str:
        return repr(value)

    async with engine:
        handle = await engine.start(echo, first, execution_name="request-1")
        if same:
            again = await engine.start(echo, second, execution_name="request-1")
            assert again.execution_id == handle.execution_id
        else:
            with pytest.raises(ExecutionAlreadyExists, match="different input"):
                await engine.start(echo, second, execution_name="request-1")
        assert await handle.result() == repr(first)


async def test_a_context_kept_past_its_run_refuses_operations(engine: Engine) -> None:
    kept: list[DurableContext] = []

    @engine.durable_function
    async def leaky(ctx: DurableContext, _: Any) -> int:
        kept.append(ctx)
        return 1

    async with engine:
        assert await engine.run(leaky) == 1
        with pytest.raises(ExecutionAlreadyEnded, match="is over"):
            await kept[0].step(lambda s: "late", name="late")


async def test_an_engine_called_from_another_event_loop_says_so(engine: Engine) -> None:
    """From another thread's loop the engine cannot wake the caller: refused, not hung."""

    @engine.durable_function
    async def quick(ctx: DurableContext, _: Any) -> int:
        return 1

    async with engine:
        handle = await engine.start(quick)
        assert await handle.result() == 1
        with pytest.raises(RuntimeError, match="another event loop"):
            await asyncio.to_thread(asyncio.run, handle.result())
        with pytest.raises(RuntimeError, match="another event loop"):
            await asyncio.to_thread(asyncio.run, engine.run(quick))


async def test_starts_gathered_under_one_name_share_one_execution(
    engine: Engine, effects: Effects
) -> None:
    @engine.durable_function
    async def once(ctx: DurableContext, order: dict[str, int]) -> int:
        await ctx.step(lambda s: effects.record("ran"), name="effect")
        return order["id"]

    async with engine:
        starts = [engine.start(once, {"id": 1}, execution_name="order-1") for _ in range(3)]
        others = [engine.start(once, {"id": i}) for i in range(2, 100)]
        handles = await asyncio.gather(*starts, *others)
        assert len({h.execution_id for h in handles[:3]}) == 1
        with pytest.raises(ExecutionAlreadyExists, match="different input"):
            await asyncio.gather(
                engine.start(once, {"id": 1}, execution_name="order-2"),
                engine.start(once, {"id": 9}, execution_name="order-2"),
            )
        assert [await h.result() for h in handles] == [1, 1, 1, *range(2, 100)]
        assert len(await engine.list_executions(name="order-1")) == 1
    assert effects.count("ran") == 100


async def test_unknown_function_and_execution_are_typed_errors(engine: Engine) -> None:
    async def stray(ctx: DurableContext, _: None) -> None:
        return None

    async with engine:
        with pytest.raises(FunctionNotRegistered, match="nope"):
            await engine.start("nope")
        with pytest.raises(FunctionNotRegistered, match="durable_function"):
            await engine.start(stray)
        with pytest.raises(ExecutionNotFound):
            await engine.get_execution("missing")
        assert await engine.list_executions() == []


async def test_oversized_input_is_refused_and_nothing_stored(db_path: Path) -> None:
    engine = Engine(db_path, payload_limit=1024)

    @engine.durable_function
    async def big(ctx: DurableContext, data: str) -> str:
        return await ctx.step(lambda s: data * 10, name="grow")

    async with engine:
        with pytest.raises(PayloadTooLarge, match="over the payload limit of 1024"):
            await engine.start(big, "x" * 5000)
        assert await engine.list_executions() == []
        handle = await engine.start(big, "y" * 200)
        with pytest.raises(PayloadTooLarge, match=r"^result of step grow is 2007 bytes"):
            await handle.result()
        [op] = await engine.get_operations(handle.execution_id)
        assert op.status is OperationStatus.FAILED


async def test_list_filters_by_status_and_function(engine: Engine) -> None:
    @engine.durable_function
    async def ok(ctx: DurableContext, _: None) -> int:
        return 1

    @engine.durable_function
    async def bad(ctx: DurableContext, _: None) -> int:
        raise ValueError

    async with engine:
        await engine.run(ok)
        await engine.run(ok)
        with pytest.raises(ExecutionFailedError):
            await engine.run(bad)
        assert len(await engine.list_executions(status=ExecutionStatus.SUCCEEDED)) == 2
        assert len(await engine.list_executions(status="FAILED")) == 1
        [only] = await engine.list_executions(function=bad.__qualname__)
        assert only.function == bad.__qualname__ and only.ended_at is not None


async def test_an_engine_can_be_entered_again_after_it_was_left(engine: Engine) -> None:
    @engine.durable_function
    async def nap(ctx: DurableContext, value: int) -> int:
        await ctx.wait(0.2, name="nap")
        return value

    async with engine:
        assert await engine.run(nap, 1) == 1
        left = await engine.start(nap, 2)  # still waiting when the engine is left
    async with engine:  # the same Engine again: the unfinished execution is resumed
        assert await left.result() == 2
        assert await engine.run(nap, 3) == 3
    async with engine:
        statuses = [(i.input, i.status) for i in await engine.list_executions()]
    assert statuses == [(v, ExecutionStatus.SUCCEEDED) for v in (1, 2, 3)]


async def test_list_finds_an_execution_by_the_name_it_was_started_with(engine: Engine) -> None:
    @engine.durable_function
    async def echo(ctx: DurableContext, value: int) -> int:
        return value

    async with engine:
        first = await engine.start(echo, 1, execution_name="order-1")
        await engine.start(echo, 2, execution_name="order-2")
        await engine.start(echo, 3)
        [found] = await engine.list_executions(name="order-1")
        assert (found.execution_id, found.input) == (first.execution_id, 1)
        assert await engine.list_executions(name="order-9") == []
        [both] = await engine.list_executions(function=echo.__qualname__, name="order-2")
        assert both.input == 2


async def test_database_file_is_private(engine: Engine, db_path: Path) -> None:
    async with engine:
        pass
    mode = stat.S_IMODE(os.stat(db_path).st_mode)
    assert mode == 0o600


async def test_memory_database_runs_workflows() -> None:
    engine = Engine(":memory:", in_memory_wait=0)

    @engine.durable_function
    async def flow(ctx: DurableContext, x: int) -> int:
        await ctx.wait(0.01)
        return await ctx.step(lambda s: x * 3, name="triple")

    async with engine:
        assert await engine.run(flow, 7) == 21


async def test_close_leaves_unfinished_executions_resumable(
    db_path: Path, effects: Effects
) -> None:
    def build() -> Engine:
        engine = Engine(db_path, in_memory_wait=0)

        @engine.durable_function(name="flow")
        async def flow(ctx: DurableContext, _: None) -> str:
            await ctx.step(lambda s: effects.record("before"), name="before")
            await ctx.wait(0.3, name="pause")
            await ctx.step(lambda s: effects.record("after"), name="after")
            return "finished"

        return engine

    first = build()
    async with first:
        handle = await first.start("flow")
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
    second = build()
    async with second:
        assert await second.wait_for(handle.execution_id)
        assert (await second.get_execution(handle.execution_id)).result == "finished"
    assert effects.lines() == ["before", "after"]


async def test_due_work_is_claimed_by_the_time_the_engine_is_open(db_path: Path) -> None:
    def build() -> Engine:
        engine = Engine(db_path)

        @engine.durable_function(name="flow")
        async def flow(ctx: DurableContext, n: int) -> int:
            return n + 1

        return engine

    async with build() as first:
        stored = await first.start("flow", 1, run_here=False)
        await first.drain(0)  # it stays stored: this engine takes no more work
    second = build()
    async with second:
        # No await between entering and this read: the claim happened while opening.
        assert rows(db_path, "SELECT owner FROM executions") == [(second.worker_id,)]
        assert (await second.wait_for(stored.execution_id)).result == 2


async def test_work_of_a_worker_whose_lease_expired_is_taken_over(
    db_path: Path, effects: Effects
) -> None:
    import time

    from durable_engine._store import NewExecution, WorkerInfo

    engine = Engine(db_path, in_memory_wait=0, lease=1)  # looks for expired leases every 1/3 s

    @engine.durable_function(name="flow")
    async def flow(ctx: DurableContext, _: None) -> str:
        await ctx.step(lambda s: effects.record("ran"), name="work")
        return "taken over"

    async with engine:
        # A worker on another host claimed this execution, then went silent.
        now = time.time()
        ghost = WorkerInfo(worker_id="ghost", host="elsewhere", pid=1, started_at=now)
        await engine.store.register_worker(ghost, expires_at=now + 0.3)
        await engine.store.create_execution(
            NewExecution(
                execution_id="abandoned",
                name=None,
                function="flow",
                input=engine.serdes.serialize(None),
                created_at=now,
                owner="ghost",
            )
        )
        info = await engine.wait_for("abandoned")
        assert info.status is ExecutionStatus.SUCCEEDED and info.result == "taken over"
        record = await engine.store.get_execution("abandoned")
        assert record is not None and record.epoch == 2  # claimed once more, fenced anew
    assert effects.lines() == ["ran"]


async def test_no_claim_is_made_while_a_worker_that_lost_its_row_rejoins(
    db_path: Path, effects: Effects
) -> None:
    # A worker whose row was reaped drops its runs, releases what it held, then joins
    # again. A claim made in between would be released at once with its run still going,
    # and claimed again: the step would run twice.
    engine = Engine(db_path, in_memory_wait=0, lease=0.3)  # heartbeat every 0.1 s
    release_entered, let_release = asyncio.Event(), asyncio.Event()
    claims_while_rejoining: list[str] = []
    store = engine.store
    real_remove, real_claim = store.remove_worker, store.claim

    async def paused_remove(worker_id: str, release_wake_at: float) -> None:
        release_entered.set()
        await let_release.wait()
        await real_remove(worker_id, release_wake_at)

    async def watched_claim(*args: Any, **kwargs: Any) -> list[ExecutionRecord]:
        if release_entered.is_set() and not let_release.is_set():
            claims_while_rejoining.append(args[0])
        return await real_claim(*args, **kwargs)

    store.remove_worker = paused_remove  # type: ignore[method-assign]
    store.claim = watched_claim  # type: ignore[method-assign]

    @engine.durable_function(name="once")
    async def once(ctx: DurableContext, _: None) -> str:
        await ctx.step(lambda s: effects.record("ran"), name="work")
        return "done"

    async with engine:
        # Reaped, as a worker paused past its lease would be.
        conn = sqlite3.connect(db_path)
        conn.execute("DELETE FROM workers WHERE worker_id = ?", (engine.worker_id,))
        conn.commit()
        conn.close()
        await release_entered.wait()  # the heartbeat noticed and is rejoining
        handle = await engine.start("once", run_here=False)  # due now: pokes the claims
        for _ in range(50):  # turns enough for an unguarded claim to be made
            await asyncio.sleep(0)
        let_release.set()
        assert await handle.result() == "done"
    assert claims_while_rejoining == []
    assert effects.lines() == ["ran"]


async def test_a_backlog_is_claimed_in_passes_of_at_most_100(db_path: Path) -> None:
    """Workers claiming at once share a backlog: no pass takes more than 100."""
    from durable_engine._scheduler import CLAIM_BATCH

    def engine_with_item() -> Engine:
        engine = Engine(db_path)

        @engine.durable_function(name="item")
        async def item(ctx: DurableContext, n: int) -> int:
            return n

        return engine

    setup = engine_with_item()
    setup.serve = False  # stores them for others: runs none
    async with setup:
        handles = await asyncio.gather(
            *(setup.start("item", n, run_here=False) for n in range(150))
        )
    assert rows(db_path, "SELECT count(*) FROM executions WHERE owner IS NULL") == [(150,)]

    engine = engine_with_item()
    limits: list[int] = []
    real_claim = engine.store.claim

    async def counted(*args: Any, **kwargs: Any) -> list[ExecutionRecord]:
        limits.append(args[3])
        return await real_claim(*args, **kwargs)

    engine.store.claim = counted  # type: ignore[method-assign]
    async with engine:
        results = await asyncio.gather(*(engine.wait_for(h.execution_id) for h in handles))
    assert [r.result for r in results] == list(range(150))
    assert CLAIM_BATCH == 100 and max(limits) == 100 and len(limits) >= 2


async def test_a_start_while_the_workers_row_is_gone_is_run_once(
    db_path: Path, effects: Effects
) -> None:
    """The worker's row was reaped and its heartbeat has not noticed yet: a start made
    then must not run here while another worker may claim it as abandoned."""
    first = Engine(db_path, in_memory_wait=0)
    second = Engine(db_path, in_memory_wait=0, poll_interval=0.01)
    for engine in (first, second):

        @engine.durable_function(name="once")
        async def once(ctx: DurableContext, _: None) -> str:
            async def work(s: StepContext) -> None:
                effects.record("ran")
                await asyncio.sleep(0.5)  # room for a second claim to start it again

            await ctx.step(work, name="work")
            return "done"

    async with first, second:
        conn = sqlite3.connect(db_path)
        conn.execute("DELETE FROM workers WHERE worker_id = ?", (first.worker_id,))
        conn.commit()
        conn.close()
        handle = await first.start("once")
        assert await handle.result() == "done"
    assert effects.lines() == ["ran"]
    assert rows(db_path, "SELECT epoch FROM executions") == [(1,)]


async def test_a_refused_step_write_ends_the_run_past_the_workflows_except_exception(
    db_path: Path, effects: Effects, caplog: pytest.LogCaptureFixture
) -> None:
    """Another worker took the execution while a step's body ran: the step's outcome is
    not written, and the workflow's own `except Exception` does not see the refusal."""
    import sqlite3

    engine = Engine(db_path, in_memory_wait=0)

    def body(s: StepContext) -> int:
        effects.record("body")
        conn = sqlite3.connect(db_path)  # a takeover: the lease's epoch moves on
        with conn:
            conn.execute("UPDATE executions SET epoch = epoch + 1")
        conn.close()
        return 1

    @engine.durable_function(name="flow")
    async def flow(ctx: DurableContext, _: None) -> str:
        try:
            await ctx.step(body, name="work")
        except Exception:
            effects.record("caught")
        effects.record("after")
        return "done"

    caplog.set_level(logging.INFO, logger="durable_engine")
    async with engine:
        handle = await engine.start("flow")
        await until(lambda: any(r.getMessage().startswith("lease_lost") for r in caplog.records))
    assert effects.lines() == ["body"]
    # Unfinished (released when the engine closed, for the next claim); the step's
    # outcome never landed.
    assert rows(db_path, "SELECT execution_id, status, epoch FROM executions") == [
        (handle.execution_id, "SUSPENDED", 2)
    ]
    assert rows(db_path, "SELECT COUNT(*) FROM operations") == [(0,)]


async def test_a_child_result_over_the_payload_limit_is_rebuilt_on_replay(
    db_path: Path, effects: Effects
) -> None:
    engine = Engine(db_path, in_memory_wait=0, payload_limit=2048)

    def piece(i: int) -> Callable[[StepContext], str]:
        return lambda s: recorded(effects, f"p{i}", str(i) * 1000)

    async def pieces(child: DurableContext) -> list[str]:
        parts: list[str] = []
        for i in range(3):  # each step's result fits; together they do not
            parts.append(await child.step(piece(i)))
        return parts

    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> int:
        parts = await ctx.run_in_child_context(pieces, name="big")
        await ctx.wait(0.01)  # replay: the context has no stored result and is rebuilt
        parts_again = await ctx.step(lambda s: len("".join(parts)), name="measure")
        return parts_again

    async with engine:
        handle = await engine.start(flow)
        assert await handle.result() == 3000
        [child, *_] = await engine.get_operations(handle.execution_id)
        assert child.name == "big" and child.status is OperationStatus.SUCCEEDED
        assert child.result is None and len(child.children) == 3
    assert effects.lines() == ["p0", "p1", "p2"]  # rebuilt from checkpoints, not re-run


async def test_a_database_damaged_while_closed_fails_the_wait_instead_of_hanging(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A page overwritten while no engine ran, and the check on open turned off: the
    engine opens, reads what it can, and a new execution's first write finds the
    damage. The execution cannot go on, so `run` raises rather than wait for ever (its
    run is retried every second). With the check on (the default), opening refuses."""

    def make() -> Engine:
        engine = Engine(db_path, check_on_open="none")

        @engine.durable_function(name="quick")
        async def quick(ctx: DurableContext, n: int) -> int:
            return int(await ctx.step(lambda s: n + 1, name="a"))

        return engine

    async with make() as engine:
        await asyncio.gather(*(engine.run("quick", i) for i in range(300)))
    _damage_operations_index(db_path)
    with pytest.raises(DatabaseCorrupt, match="failed PRAGMA quick_check"):
        await Engine(db_path).open()
    async with make() as engine:
        assert len(await engine.list_executions()) == 300
        with pytest.raises(DatabaseCorrupt, match="is damaged: database disk image is malformed"):
            await asyncio.wait_for(engine.run("quick", 1000), timeout=60)
    assert "stopped on a database error" in caplog.text


def _damage_operations_index(path: Path) -> None:
    """Overwrite the root page of the index every new operation row goes into: the
    executions stay readable, and the first checkpoint written meets the damage."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE type = 'index' AND tbl_name = 'operations'"
        ).fetchone()
    with path.open("r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xff" * 64 + random.Random(1).randbytes(page_size - 64))


async def test_an_operation_row_of_an_unknown_type_fails_the_wait_instead_of_hanging(
    db_path: Path,
) -> None:
    """A row this version cannot read (a newer version wrote it, or a hand edit): the
    execution cannot be resumed, and whoever waits for it is told so, with the row."""
    engine = Engine(db_path, in_memory_wait=0)

    @engine.durable_function(name="napper")
    async def napper(ctx: DurableContext, _: None) -> str:
        await ctx.wait(0.2, name="nap")
        return "rested"

    async with engine:
        handle = await engine.start(napper)
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE operations SET type = 'TELEPORT' WHERE name = 'nap'")
    conn.close()
    unknown = r"operation 1 of execution \w+ has an unknown type or status \('TELEPORT'"
    async with engine:
        with pytest.raises(DatabaseCorrupt, match=unknown):
            await engine.get_operations(handle.execution_id)
        with pytest.raises(DatabaseCorrupt, match=unknown):
            await asyncio.wait_for(handle.result(), timeout=60)
