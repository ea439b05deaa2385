"""Patch markers where an execution's history stops, inside map items and branches.

Each test runs deploy 1 of a workflow until its execution is suspended, closes the
engine, and opens a new one on the same file with deploy 2 of the code."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from durable_engine import DurableContext, Engine, ExecutionStatus, OperationType

PAUSE = 0.2
Workflow = Callable[[DurableContext, Any], Awaitable[Any]]


async def leave_suspended(db: Path, workflow: Workflow, name: str) -> str:
    async with Engine(db, in_memory_wait=0) as engine:
        engine.durable_function(name="f")(workflow)
        handle = await engine.start("f", None, execution_name=name)
        while await handle.status() is not ExecutionStatus.SUSPENDED:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        return handle.execution_id


async def finish(db: Path, workflow: Workflow, *names: str) -> list[tuple[Any, list[str]]]:
    """Each named execution's result and the names of its patch markers."""
    async with Engine(db, in_memory_wait=0) as engine:
        engine.durable_function(name="f")(workflow)
        out = []
        for name in names:
            handle = await engine.start("f", None, execution_name=name)
            result = await handle.result()
            ops = [
                op for top in await engine.get_operations(handle.execution_id) for op in top.walk()
            ]
            out.append((result, [str(op.name) for op in ops if op.type == OperationType.PATCH]))
        return out


async def test_an_execution_suspended_before_the_patch_point_takes_the_new_path(
    tmp_path: Path,
) -> None:
    async def v1(ctx: DurableContext, _: Any) -> str:
        await ctx.wait(PAUSE)
        return str(await ctx.step(lambda _: "old", name="old"))

    async def v2(ctx: DurableContext, _: Any) -> str:
        await ctx.wait(PAUSE)
        if await ctx.patched("p"):
            return str(await ctx.step(lambda _: "new", name="new"))
        return str(await ctx.step(lambda _: "old", name="old"))

    db = tmp_path / "app.db"
    await leave_suspended(db, v1, "early")
    assert await finish(db, v2, "early") == [("new", ["p"])]


async def test_map_items_and_branches_each_keep_their_own_path(tmp_path: Path) -> None:
    async def item_v1(ctx: DurableContext, item: int, *_: Any) -> str:
        value = str(await ctx.step(lambda _: f"old{item}", name="old"))
        await ctx.wait(PAUSE)
        return value

    async def item_v2(ctx: DurableContext, item: int, *_: Any) -> str:
        if await ctx.patched("p"):
            value = str(await ctx.step(lambda _: f"new{item}", name="new"))
        else:
            value = str(await ctx.step(lambda _: f"old{item}", name="old"))
        await ctx.wait(PAUSE)
        return value

    def workflow(item: Callable[..., Awaitable[str]]) -> Workflow:
        async def run(ctx: DurableContext, _: Any) -> list[Any]:
            mapped = await ctx.map([1, 2], item, name="items")
            branches = await ctx.parallel(
                [lambda c: item(c, 3), lambda c: item(c, 4)], name="branches"
            )
            return [*mapped.get_results(), *branches.get_results()]

        return run

    db = tmp_path / "app.db"
    await leave_suspended(db, workflow(item_v1), "old")
    results = await finish(db, workflow(item_v2), "old", "new")
    # The map's items went past the patch point on deploy 1; the branches, run after
    # the map, had not been reached: they take the new path.
    assert results[0] == (["old1", "old2", "new3", "new4"], ["p", "p"])
    assert results[1] == (["new1", "new2", "new3", "new4"], ["p", "p", "p", "p"])


async def test_patches_in_a_row_are_told_apart_by_id(tmp_path: Path) -> None:
    async def v1(ctx: DurableContext, _: Any) -> list[bool]:
        first = await ctx.patched("first")
        await ctx.wait(PAUSE)
        return [first]

    async def v2(ctx: DurableContext, _: Any) -> list[bool]:
        # A patch added before the one the history holds: the history went past this
        # point with another marker, so the new patch's answer is False there.
        zeroth = await ctx.patched("zeroth")
        first = await ctx.patched("first")
        await ctx.wait(PAUSE)
        return [zeroth, first]

    db = tmp_path / "app.db"
    await leave_suspended(db, v1, "old")
    assert await finish(db, v2, "old", "new") == [
        ([False, True], ["first"]),
        ([True, True], ["zeroth", "first"]),
    ]
