"""invoke: child executions with results and errors crossing parent, child and grandchild."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import cast

import pytest

from durable_engine import (
    DurableContext,
    Engine,
    ExecutionStatus,
    FunctionNotRegistered,
    InvokeError,
    OperationStatus,
    OperationType,
    RetryPresets,
    StepConfig,
)
from durable_engine._models import ExecutionRecord
from durable_engine._store import LeaseLost, NewExecution, SqliteStore
from tests.conftest import Effects, recorded, until


def build(db_path: Path, effects: Effects) -> Engine:
    engine = Engine(db_path, in_memory_wait=0)

    @engine.durable_function(name="grandchild")
    async def grandchild(ctx: DurableContext, n: int) -> int:
        if n < 0:
            await ctx.step(
                lambda s: (_ for _ in ()).throw(ValueError(f"negative: {n}")),
                name="check",
                config=StepConfig(retry_strategy=RetryPresets.none()),
            )
        return await ctx.step(
            lambda s: recorded(effects, f"grandchild {n}", n * 10), name="times10"
        )

    @engine.durable_function(name="child")
    async def child(ctx: DurableContext, n: int) -> int:
        await ctx.wait(0.05, name="pause")
        return cast(int, await ctx.invoke("grandchild", n)) + 1

    @engine.durable_function(name="parent")
    async def parent(ctx: DurableContext, n: int) -> dict[str, object]:
        value = await ctx.invoke("child", n, name="call child")
        try:
            await ctx.invoke("child", -n)
        except InvokeError as exc:
            return {"value": value, "error": exc.error_type, "message": exc.message}
        return {"value": value}

    return engine


async def test_invoke_chain_with_results_and_an_error(db_path: Path, effects: Effects) -> None:
    engine = build(db_path, effects)
    async with engine:
        handle = await engine.start("parent", 4)
        result = await handle.result()
        assert result["value"] == 41
        assert result["error"] == "ValueError" and "negative: -4" in str(result["message"])
        children = await engine.list_executions(function="child")
        assert {c.parent_id for c in children} == {handle.execution_id}
        assert sorted(c.status for c in children) == [
            ExecutionStatus.FAILED,
            ExecutionStatus.SUCCEEDED,
        ]
        grandchildren = await engine.list_executions(function="grandchild")
        assert {g.parent_id for g in grandchildren} == {c.execution_id for c in children}
        ops = await engine.get_operations(handle.execution_id)
        assert [(o.type, o.name, o.status) for o in ops] == [
            (OperationType.INVOKE, "call child", OperationStatus.SUCCEEDED),
            (OperationType.INVOKE, "child", OperationStatus.FAILED),
        ]
    assert effects.lines() == ["grandchild 4"]  # each child ran once across all the replays


async def test_unknown_function_fails_inside_the_workflow_and_is_recorded(db_path: Path) -> None:
    engine = Engine(db_path, in_memory_wait=0)

    @engine.durable_function
    async def caller(ctx: DurableContext, _: None) -> str:
        with contextlib.suppress(FunctionNotRegistered):
            await ctx.invoke("missing")
        await ctx.wait(0.01)  # replay raises the recorded error again
        try:
            await ctx.invoke("missing")
        except FunctionNotRegistered as exc:
            return str(exc)
        return "found"

    async with engine:
        handle = await engine.start(caller)
        assert "missing" in await handle.result()
        ops = await engine.get_operations(handle.execution_id)
        assert [o.status for o in ops if o.type is OperationType.INVOKE] == [
            OperationStatus.FAILED
        ] * 2


async def test_invoke_inside_a_child_context(db_path: Path, effects: Effects) -> None:
    engine = build(db_path, effects)

    @engine.durable_function(name="wrapper")
    async def wrapper(ctx: DurableContext, n: int) -> int:
        async def block(child: DurableContext) -> int:
            return cast(int, await child.invoke("grandchild", n))

        return await ctx.run_in_child_context(block, name="block")

    async with engine:
        assert await engine.run("wrapper", 7) == 70
    assert effects.lines() == ["grandchild 7"]


async def test_invoke_timeout_fails_the_call_and_leaves_the_child_running(db_path: Path) -> None:
    engine = Engine(db_path, in_memory_wait=0)

    @engine.durable_function(name="slow")
    async def slow(ctx: DurableContext, _: None) -> str:
        await ctx.wait(3600)
        return "late"

    @engine.durable_function(name="impatient")
    async def impatient(ctx: DurableContext, _: None) -> str:
        from durable_engine import InvokeConfig

        try:
            return str(await ctx.invoke("slow", config=InvokeConfig(timeout=0.2)))
        except InvokeError as exc:
            return exc.error_type

    async with engine:
        assert await engine.run("impatient") == "InvokeTimeout"
        [child] = await engine.list_executions(function="slow")
        assert not child.status.is_terminal


class _DiesAroundChildCreation(SqliteStore):
    """Stops the parent like a killed process, just before or just after its child is created."""

    def __init__(self, path: Path, *, after: bool) -> None:
        super().__init__(path)
        self.after = after
        self.fired = False

    async def create_execution(self, new: NewExecution) -> tuple[ExecutionRecord, bool]:
        if new.parent_id is None or self.fired:
            return await super().create_execution(new)
        self.fired = True
        if self.after:
            await super().create_execution(new)
        raise LeaseLost(new.parent_id)  # unwinds the parent without another write


@pytest.mark.parametrize("after", [False, True], ids=["before-child", "after-child"])
async def test_a_parent_that_dies_around_creating_its_child_finishes(
    db_path: Path, effects: Effects, after: bool
) -> None:
    def build(store: SqliteStore | None = None) -> Engine:
        engine = Engine(db_path, in_memory_wait=0, store=store)

        @engine.durable_function(name="leaf")
        async def leaf(ctx: DurableContext, n: int) -> int:
            return await ctx.step(lambda s: recorded(effects, f"leaf {n}", n + 1), name="add")

        @engine.durable_function(name="root")
        async def root(ctx: DurableContext, n: int) -> int:
            return cast(int, await ctx.invoke("leaf", n)) * 2

        return engine

    store = _DiesAroundChildCreation(db_path, after=after)
    first = build(store)
    async with first:
        handle = await first.start("root", 20)
        await until(lambda: store.fired and first.executor.live_run(handle.execution_id) is None)
        assert (await first.get_execution(handle.execution_id)).status is ExecutionStatus.RUNNING
    second = build()
    async with second, asyncio.timeout(30):  # a parent waiting for no child would hang
        info = await second.wait_for(handle.execution_id)
    assert info.result == 42
    assert effects.lines() == ["leaf 20"]
    children = await _children(db_path, handle.execution_id)
    assert len(children) == 1


async def _children(db: Path, parent_id: str) -> list[tuple[str, str]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT execution_id, status FROM executions WHERE parent_id = ?", (parent_id,)
        ).fetchall()
    finally:
        conn.close()


async def test_an_unknown_function_inside_a_child_context(db_path: Path) -> None:
    engine = Engine(db_path, in_memory_wait=0)

    async def block(child: DurableContext) -> str:
        try:
            await child.invoke("nowhere", name="lost")
        except FunctionNotRegistered:
            return "not registered"
        return "found"

    @engine.durable_function
    async def outer(ctx: DurableContext, _: None) -> str:
        return await ctx.run_in_child_context(block, name="block")

    async with engine:
        handle = await engine.start(outer)
        assert await handle.result() == "not registered"
        [context] = await engine.get_operations(handle.execution_id)
        assert [(o.operation_id, o.type, o.status) for o in context.children] == [
            ("1/1", OperationType.INVOKE, OperationStatus.FAILED)
        ]
