"""parallel and map across suspensions and replays: blocked branches, recorded decisions."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

import serdes
from durable_engine import (
    BatchItemStatus,
    CompletionConfig,
    DurableContext,
    Engine,
    ExecutionStatus,
    ItemBatcher,
    MapConfig,
    NonDeterministicError,
    RetryPresets,
    StepConfig,
    StepContext,
)
from durable_engine._operations.parallel_map import decode_statuses, encode_statuses
from durable_engine.testing._clock import VirtualClock
from tests.conftest import Effects, recorded, wait_for_status

HOUR = 3600.0


async def wait_for_effect(effects: Effects, line: str) -> None:
    """Poll until `line` was recorded (the test's own timeout bounds it)."""
    while True:
        if line in effects.lines():
            return
        await asyncio.sleep(0.01)


async def test_a_long_wait_suspends_the_execution_while_the_other_branches_finish(
    db_path: Path, effects: Effects
) -> None:
    clock = VirtualClock()
    engine = Engine(db_path, in_memory_wait=0, clock=clock)

    async def item(ctx: DurableContext, n: int, index: int, items: Sequence[int]) -> int:
        await ctx.step(lambda s: effects.record(f"before {n}"), name="before")
        if n == 1:
            await ctx.wait(HOUR, name="long")
        return await ctx.step(lambda s: recorded(effects, f"after {n}", n * 10), name="after")

    @engine.durable_function
    async def fan(ctx: DurableContext, _: None) -> list[int]:
        effects.record("workflow body")
        return (await ctx.map([0, 1, 2, 3], item)).get_results()

    async with engine:
        handle = await engine.start(fan)
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
        # Suspended only once every live branch is blocked: the others have finished.
        assert sorted(effects.lines()) == sorted(
            ["workflow body", *(f"before {n}" for n in range(4)), "after 0", "after 2", "after 3"]
        )
        clock.advance(HOUR)
        assert await handle.result() == [0, 10, 20, 30]
    for n in range(4):
        assert effects.count(f"before {n}") == 1 and effects.count(f"after {n}") == 1
    assert effects.count("workflow body") == 2  # resumed by replay from the top


async def test_replayed_branches_start_the_next_ones_without_waiting_for_a_blocked_one(
    db_path: Path, effects: Effects
) -> None:
    """Each resume replays the finished items at once; the queued item after them must
    start then, not when the hour-long wait of item 0 is due."""
    clock = VirtualClock()
    engine = Engine(db_path, in_memory_wait=0, clock=clock)

    async def item(ctx: DurableContext, n: int, index: int, items: Sequence[int]) -> int:
        await ctx.wait(HOUR if n == 0 else 60, name="nap")
        return await ctx.step(lambda s: recorded(effects, f"after {n}", n), name="after")

    @engine.durable_function
    async def chain(ctx: DurableContext, _: None) -> list[int]:
        result = await ctx.map(list(range(6)), item, config=MapConfig(max_concurrency=2))
        return result.get_results()

    async with engine:
        handle = await engine.start(chain)
        for n in range(1, 6):
            await wait_for_status(handle, ExecutionStatus.SUSPENDED)
            clock.advance(60)
            await wait_for_effect(effects, f"after {n}")
        assert "after 0" not in effects.lines()
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
        clock.advance(HOUR)
        assert await handle.result() == list(range(6))
    assert sorted(effects.lines()) == sorted(f"after {n}" for n in range(6))


async def test_the_recorded_summary_is_compact_and_replay_reuses_it(db_path: Path) -> None:
    engine = Engine(db_path, in_memory_wait=0, serdes=serdes.JsonSerDes(), payload_limit=4096)
    no_retry = StepConfig(retry_strategy=RetryPresets.none())

    async def item(ctx: DurableContext, n: int, index: int, items: Sequence[int]) -> int:
        def check(s: object) -> int:
            if n % 1000 == 999:
                raise ValueError(f"bad {n}")
            return n

        return await ctx.step(check, name="check", config=no_retry)

    @engine.durable_function
    async def big(ctx: DurableContext, count: int) -> list[object]:
        result = await ctx.map(
            list(range(count)),
            item,
            config=MapConfig(completion_config=CompletionConfig.all_completed()),
        )
        await ctx.wait(0.01)  # suspends: the map replays from its record
        return [
            result.success_count,
            [i.index for i in result.failed()],
            sum(result.get_results()),
            ctx.is_replaying(),
        ]

    async with engine:
        succeeded, failed, total, replaying = await engine.run(big, 3000)
    assert failed == [999, 1999, 2999]
    assert succeeded == 2997 and total == sum(range(3000)) - (999 + 1999 + 2999)
    assert replaying is False  # every recorded operation was visited or stood for
    conn = sqlite3.connect(db_path)
    try:
        [(size,)] = conn.execute("SELECT length(result) FROM operations WHERE op_id = '1'")
    finally:
        conn.close()
    assert size < 200  # "S999F" runs, not one entry per item


async def test_an_oversized_branch_result_is_rebuilt_from_its_steps(
    db_path: Path, effects: Effects
) -> None:
    engine = Engine(db_path, in_memory_wait=0, payload_limit=2048)

    def part(n: int, k: int) -> Callable[[StepContext], str]:
        return lambda s: recorded(effects, f"part {n} {k}", str(n) * 600)

    async def item(ctx: DurableContext, n: int, index: int, items: Sequence[int]) -> str:
        parts = [await ctx.step(part(n, k), name=f"part-{k}") for k in range(4)]
        return "".join(parts)  # 2,400 characters: over the payload limit

    @engine.durable_function
    async def big(ctx: DurableContext, _: None) -> list[object]:
        result = await ctx.map([1, 2], item)
        await ctx.wait(0.01)  # suspends: the branches' results are rebuilt on replay
        return [[len(r) for r in result.get_results()], [r[0] for r in result.get_results()]]

    async with engine:
        assert await engine.run(big) == [[2400, 2400], ["1", "2"]]
    assert sorted(effects.lines()) == sorted(f"part {n} {k}" for n in (1, 2) for k in range(4))
    conn = sqlite3.connect(db_path)
    try:
        stored = conn.execute(
            "SELECT op_id, result IS NULL FROM operations WHERE op_id IN ('1/1', '1/2')"
        ).fetchall()
    finally:
        conn.close()
    assert sorted(stored) == [("1/1", 1), ("1/2", 1)]


async def test_batching_by_bytes_hands_out_consecutive_slices(engine: Engine) -> None:
    async def joined(ctx: DurableContext, batch: list[str], index: int, items: object) -> str:
        return "".join(batch)

    words = ["a" * 40, "b" * 40, "c" * 40, "d" * 90, "e" * 10]

    @engine.durable_function
    async def by_bytes(ctx: DurableContext, _: None) -> list[Any]:
        result = await ctx.map(
            words,
            joined,
            config=MapConfig(
                item_batcher=ItemBatcher(max_item_bytes_per_batch=100),
                item_namer=lambda batch, index: f"batch-{index}-{len(batch)}",
            ),
        )
        return [[i.name for i in result.all], result.get_results()]

    async with engine:
        names, results = await engine.run(by_bytes)
    assert "".join(results) == "".join(words)
    assert names == ["batch-0-2", "batch-1-1", "batch-2-1", "batch-3-1"]


async def test_a_changed_number_of_items_is_nondeterministic(db_path: Path) -> None:
    engine = Engine(db_path, in_memory_wait=0, on_divergence="fail")
    grown = False

    async def item(ctx: DurableContext, n: int, index: int, items: Sequence[int]) -> int:
        return n

    @engine.durable_function
    async def shifty(ctx: DurableContext, _: None) -> int:
        nonlocal grown
        result = await ctx.map([1, 2, 3, 4] if grown else [1, 2, 3], item)
        grown = True
        await ctx.wait(0.01)
        return result.total_count

    async with engine:
        handle = await engine.start(shifty)
        with pytest.raises(NonDeterministicError, match="recorded with 3 branches"):
            await handle.result()


def test_statuses_round_trip_as_runs() -> None:
    s, f, c, n = (
        BatchItemStatus.SUCCEEDED,
        BatchItemStatus.FAILED,
        BatchItemStatus.CANCELLED,
        BatchItemStatus.NOT_STARTED,
    )
    statuses = [s] * 998 + [f] + [s] + [c, c] + [n] * 5
    assert encode_statuses(statuses) == "S998FSC2N5"
    assert decode_statuses("S998FSC2N5") == statuses
    assert encode_statuses([]) == "" and decode_statuses("") == []
    with pytest.raises(ValueError, match="unreadable"):
        decode_statuses("S3X")


def test_configs_refuse_impossible_values() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        MapConfig(max_concurrency=0)
    with pytest.raises(ValueError, match="tolerated_failure_percentage"):
        CompletionConfig(tolerated_failure_percentage=120)
    with pytest.raises(ValueError, match="min_successful"):
        CompletionConfig(min_successful=-1)
    with pytest.raises(ValueError, match="needs"):
        ItemBatcher()
    with pytest.raises(ValueError, match="max_items_per_batch"):
        ItemBatcher(max_items_per_batch=0)
