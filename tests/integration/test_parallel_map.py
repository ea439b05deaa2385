"""parallel and map: input order, early completion, tolerance, concurrency, suspension, nesting."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from durable_engine import (
    BatchItemStatus,
    CallbackNotPending,
    CompletionConfig,
    CompletionReason,
    DurableContext,
    Engine,
    ItemBatcher,
    MapConfig,
    OperationStatus,
    OperationType,
    ParallelBranch,
    ParallelConfig,
    RetryPresets,
    StepConfig,
    StepContext,
    StepError,
)
from tests.conftest import Effects, recorded

NO_RETRY = StepConfig(retry_strategy=RetryPresets.none())


async def test_map_results_come_in_input_order_whatever_the_completion_order(
    engine: Engine,
) -> None:
    async def square(ctx: DurableContext, item: int, index: int, items: Sequence[int]) -> int:
        async def body(s: StepContext) -> int:
            await asyncio.sleep(random.random() / 50)
            return item * item

        return await ctx.step(body, name="square")

    @engine.durable_function
    async def squares(ctx: DurableContext, n: int) -> list[int]:
        result = await ctx.map(list(range(n)), square, name="squares")
        assert result.completion_reason is CompletionReason.ALL_COMPLETED
        return result.get_results()

    async with engine:
        handle = await engine.start(squares, 20)
        assert await handle.result() == [i * i for i in range(20)]
        [batch] = await engine.get_operations(handle.execution_id)
        assert batch.type is OperationType.MAP
        assert [c.operation_id for c in batch.children] == [f"1/{i}" for i in range(1, 21)]


async def test_parallel_branches_with_names_and_replay_from_the_recorded_decision(
    engine: Engine, effects: Effects
) -> None:
    async def branch(tag: str) -> ParallelBranch[str]:
        async def run(ctx: DurableContext) -> str:
            return await ctx.step(lambda s: recorded(effects, tag, tag.upper()), name=tag)

        return ParallelBranch(run, tag)

    @engine.durable_function
    async def fan(ctx: DurableContext, _: None) -> list[object]:
        result = await ctx.parallel([await branch("a"), await branch("b")], name="fan")
        await ctx.wait(0.01)  # the batch replays from its record
        return [
            [(i.index, i.name, i.status.value, i.result) for i in result.all],
            result.total_count,
        ]

    async with engine:
        assert await engine.run(fan) == [
            [(0, "a", "SUCCEEDED", "A"), (1, "b", "SUCCEEDED", "B")],
            2,
        ]
    assert sorted(effects.lines()) == ["a", "b"]


async def test_min_successful_stops_the_rest_and_their_effects_never_happen(
    engine: Engine, effects: Effects
) -> None:
    async def item(ctx: DurableContext, n: int, index: int, items: Sequence[int]) -> int:
        if n > 0:
            await ctx.wait(0.2, name="slow")  # still waiting when the batch is decided
        return await ctx.step(lambda s: recorded(effects, f"item {n}", n), name="work")

    @engine.durable_function
    async def first(ctx: DurableContext, _: None) -> list[str]:
        result = await ctx.map(
            [0, 1, 2, 3, 4],
            item,
            config=MapConfig(
                max_concurrency=3, completion_config=CompletionConfig.first_successful()
            ),
        )
        await ctx.wait(0.4)  # longer than the cancelled items' waits
        assert result.completion_reason is CompletionReason.MIN_SUCCESSFUL_REACHED
        return [i.status.value for i in result.all]

    async with engine:
        statuses = await engine.run(first)
    assert statuses == ["SUCCEEDED", "CANCELLED", "CANCELLED", "NOT_STARTED", "NOT_STARTED"]
    assert effects.lines() == ["item 0"]


@pytest.mark.parametrize(
    ("completion", "reason", "ran"),
    [
        (CompletionConfig(), CompletionReason.FAILURE_TOLERANCE_EXCEEDED, None),
        (CompletionConfig(tolerated_failure_count=2), CompletionReason.ALL_COMPLETED, 6),
        (
            CompletionConfig(tolerated_failure_count=1),
            CompletionReason.FAILURE_TOLERANCE_EXCEEDED,
            None,
        ),
        (CompletionConfig(tolerated_failure_percentage=40), CompletionReason.ALL_COMPLETED, 6),
        (
            CompletionConfig(tolerated_failure_percentage=20),
            CompletionReason.FAILURE_TOLERANCE_EXCEEDED,
            None,
        ),
        (CompletionConfig.all_completed(), CompletionReason.ALL_COMPLETED, 6),
    ],
)
async def test_failure_tolerance(
    engine: Engine, completion: CompletionConfig, reason: CompletionReason, ran: int | None
) -> None:
    def check(s: StepContext, n: int) -> int:
        if n in (1, 4):
            raise ValueError(f"bad {n}")
        return n

    async def item(ctx: DurableContext, n: int, index: int, items: Sequence[int]) -> int:
        return await ctx.step(lambda s: check(s, n), name="check", config=NO_RETRY)

    @engine.durable_function
    async def tolerant(ctx: DurableContext, _: None) -> list[Any]:
        result = await ctx.map(
            list(range(6)), item, config=MapConfig(max_concurrency=1, completion_config=completion)
        )
        ended = result.success_count + result.failure_count
        return [
            result.completion_reason.value,
            ended,
            [type(e).__name__ for e in result.get_errors()],
        ]

    async with engine:
        got_reason, ended, errors = await engine.run(tolerant)
    assert got_reason == reason.value
    if ran is not None:
        assert ended == ran and errors == ["StepError", "StepError"]
    assert set(errors) <= {"StepError"}


async def test_throw_if_error_raises_the_first_failure(engine: Engine) -> None:
    async def bad(ctx: DurableContext) -> None:
        await ctx.step(lambda s: (_ for _ in ()).throw(KeyError("k")), name="boom", config=NO_RETRY)

    async def good(ctx: DurableContext) -> int:
        return 1

    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> str:
        result = await ctx.parallel(
            [good, bad], config=ParallelConfig(completion_config=CompletionConfig.all_completed())
        )
        try:
            result.throw_if_error()
        except StepError as exc:
            return exc.error_type
        return "no error"

    async with engine:
        assert await engine.run(flow) == "KeyError"


async def test_max_concurrency_counts_bodies_running_at_once(engine: Engine) -> None:
    running = 0
    peak = 0

    async def item(ctx: DurableContext, n: int, index: int, items: Sequence[int]) -> int:
        async def body(s: StepContext) -> int:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1
            return n

        return await ctx.step(body, name="work")

    @engine.durable_function
    async def bounded(ctx: DurableContext, _: None) -> int:
        result = await ctx.map(list(range(12)), item, config=MapConfig(max_concurrency=3))
        return sum(result.get_results())

    async with engine:
        assert await engine.run(bounded) == sum(range(12))
    assert peak == 3


async def test_item_batching_hands_each_child_a_list(engine: Engine) -> None:
    async def total(ctx: DurableContext, batch: list[int], index: int, items: Sequence[int]) -> int:
        return await ctx.step(lambda s: sum(batch), name="sum")

    @engine.durable_function
    async def batched(ctx: DurableContext, _: None) -> list[int]:
        result = await ctx.map(
            list(range(10)),
            total,
            config=MapConfig(item_batcher=ItemBatcher(max_items_per_batch=4)),
        )
        return result.get_results()

    async with engine:
        assert await engine.run(batched) == [0 + 1 + 2 + 3, 4 + 5 + 6 + 7, 8 + 9]


async def test_nesting_map_in_parallel_in_map(engine: Engine) -> None:
    async def leaf(ctx: DurableContext, n: int, index: int, items: Sequence[int]) -> int:
        return await ctx.step(lambda s: n * 10, name="leaf")

    async def outer(ctx: DurableContext, n: int, index: int, items: Sequence[int]) -> int:
        async def left(c: DurableContext) -> int:
            return sum((await c.map([n, n + 1], leaf)).get_results())

        async def right(c: DurableContext) -> int:
            await c.wait(0.01)
            return n

        result = await ctx.parallel([left, right])
        return sum(result.get_results())

    @engine.durable_function
    async def nested(ctx: DurableContext, _: None) -> list[int]:
        return (await ctx.map([1, 2], outer)).get_results()

    async with engine:
        assert await engine.run(nested) == [(10 + 20) + 1, (20 + 30) + 2]


async def test_empty_input_and_impossible_min_successful(engine: Engine) -> None:
    async def item(ctx: DurableContext, n: int, index: int, items: Sequence[int]) -> int:
        return n

    @engine.durable_function
    async def empty(ctx: DurableContext, _: None) -> list[object]:
        result = await ctx.map([], item)
        return [result.total_count, result.completion_reason.value]

    @engine.durable_function
    async def impossible(ctx: DurableContext, _: None) -> str:
        try:
            await ctx.map(
                [1, 2], item, config=MapConfig(completion_config=CompletionConfig(min_successful=3))
            )
        except ValueError as exc:
            return str(exc)
        return "no error"

    async with engine:
        assert await engine.run(empty) == [0, "ALL_COMPLETED"]
        handle = await engine.start(impossible)
        assert "min_successful=3" in await handle.result()
        assert await engine.get_operations(handle.execution_id) == []


async def test_blocked_branches_suspend_the_execution_and_resume(
    db_path: Path, effects: Effects
) -> None:
    engine = Engine(db_path, in_memory_wait=0)

    async def item(ctx: DurableContext, n: int, index: int, items: Sequence[int]) -> int:
        await ctx.step(lambda s: effects.record(f"before {n}"), name="before")
        await ctx.wait(0.05 * (n + 1), name="nap")
        return await ctx.step(lambda s: recorded(effects, f"after {n}", n), name="after")

    @engine.durable_function
    async def sleepy(ctx: DurableContext, _: None) -> list[int]:
        return (await ctx.map([0, 1, 2], item)).get_results()

    async with engine:
        assert await engine.run(sleepy) == [0, 1, 2]
    for n in range(3):
        assert effects.count(f"before {n}") == 1 and effects.count(f"after {n}") == 1


def test_completion_rules() -> None:
    from durable_engine._batch_config import decide

    none = CompletionConfig()
    assert decide(none, 3, 1, 0) is None
    assert decide(none, 3, 1, 1) is CompletionReason.FAILURE_TOLERANCE_EXCEEDED
    assert decide(none, 3, 3, 0) is CompletionReason.ALL_COMPLETED
    first = CompletionConfig.first_successful()
    assert decide(first, 3, 0, 2) is None
    assert decide(first, 3, 0, 3) is CompletionReason.FAILURE_TOLERANCE_EXCEEDED
    assert decide(first, 3, 1, 0) is CompletionReason.MIN_SUCCESSFUL_REACHED
    with pytest.raises(ValueError, match="min_successful"):
        CompletionConfig(min_successful=4).validate(3)
    assert BatchItemStatus.NOT_STARTED.value == "NOT_STARTED"


def _ref_and_callback(db: Path, execution_id: str, op_id: str) -> tuple[str, str]:
    conn = sqlite3.connect(db)
    try:
        (ref,) = conn.execute(
            "SELECT ref FROM operations WHERE execution_id = ? AND op_id = ?",
            (execution_id, op_id),
        ).fetchone()
        (status,) = conn.execute(
            "SELECT status FROM callbacks WHERE callback_id = ?", (ref,)
        ).fetchone()
    finally:
        conn.close()
    return str(ref), str(status)


async def test_a_cancelled_branch_is_recorded_and_its_callback_cannot_be_answered(
    engine: Engine, db_path: Path
) -> None:
    async def asks(ctx: DurableContext) -> object:
        return await (await ctx.create_callback(name="approval")).result()

    async def quick(ctx: DurableContext) -> str:
        await ctx.wait(0.05, name="short")
        return "quick"

    @engine.durable_function
    async def race(ctx: DurableContext, _: None) -> list[str]:
        first = CompletionConfig.first_successful()
        result = await ctx.parallel(
            [asks, quick], name="race", config=ParallelConfig(completion_config=first)
        )
        await (await ctx.create_callback(name="hold")).result()  # stays running meanwhile
        return [item.status.value for item in result.all]

    async with engine:
        handle = await engine.start(race)
        while True:  # until "hold" exists: the batch is decided
            if any(op.name == "hold" for op in await engine.get_operations(handle.execution_id)):
                break
            await asyncio.sleep(0.01)
        approval, approval_status = _ref_and_callback(db_path, handle.execution_id, "1/1/1")
        assert approval_status == "CANCELLED"
        with pytest.raises(CallbackNotPending, match="cancelled"):
            await engine.send_callback_success(approval, "too late")
        hold, _ = _ref_and_callback(db_path, handle.execution_id, "2")
        await engine.send_callback_success(hold, None)
        assert await handle.result() == ["CANCELLED", "SUCCEEDED"]
        batch, _ = await engine.get_operations(handle.execution_id)
    cancelled, won = batch.children
    assert (cancelled.operation_id, cancelled.type, cancelled.status) == (
        "1/1",
        OperationType.CONTEXT,
        OperationStatus.CANCELLED,
    )
    [callback] = cancelled.children
    assert (callback.operation_id, callback.status) == ("1/1/1", OperationStatus.CANCELLED)
    assert (won.operation_id, won.status) == ("1/2", OperationStatus.SUCCEEDED)
