"""Several versions of one durable function side by side: each execution runs only on
the version it started on, and what still runs on an old version can be listed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from durable_engine import (
    DurableContext,
    Engine,
    ExecutionHandle,
    ExecutionStatus,
    FunctionNotRegistered,
)
from tests.cli.helpers import cli
from tests.conftest import rows, wait_for_status


async def order_v1(ctx: DurableContext, item: str) -> str:
    await ctx.wait(0.2, name="pause")
    return str(await ctx.step(lambda _: f"v1 packed {item}", name="pack"))


async def order_v2(ctx: DurableContext, item: str) -> str:
    checked = await ctx.step(lambda _: "checked", name="check")  # a new first step
    await ctx.wait(0.2, name="pause")
    return str(await ctx.step(lambda _: f"v2 {checked} {item}", name="pack"))


def engine_with(db: Path, *versions: int) -> Engine:
    engine = Engine(db, in_memory_wait=0)
    code = {1: order_v1, 2: order_v2}
    for version in versions:
        engine.durable_function(name="order", version=version)(code[version])
    return engine


async def test_two_versions_run_side_by_side_each_on_its_own_code(db_path: Path) -> None:
    async with engine_with(db_path, 1, 2) as engine:
        newest = await engine.start("order", "a")  # the newest version unless told
        older = await engine.start("order", "b", version=1)
        assert await newest.result() == "v2 checked a"
        assert await older.result() == "v1 packed b"
        on_v1 = await engine.list_executions(function="order", version=1)
        assert [info.execution_id for info in on_v1] == [older.execution_id]
        assert (await engine.get_execution(newest.execution_id)).version == 2
        with pytest.raises(FunctionNotRegistered, match="version 3 of durable function 'order'"):
            await engine.start("order", "c", version=3)
    assert sorted(rows(db_path, "SELECT version, status FROM executions")) == [
        (1, "SUCCEEDED"),
        (2, "SUCCEEDED"),
    ]


async def test_an_execution_waits_for_an_engine_that_has_its_version(db_path: Path) -> None:
    async with engine_with(db_path, 1) as engine:
        started = await engine.start("order", "a")
        await wait_for_status(started, ExecutionStatus.SUSPENDED)
    before = rows(db_path, "SELECT status, epoch, owner FROM executions")

    async with engine_with(db_path, 2) as engine:  # the deploy that dropped version 1
        # Its first look for due work is made as it opens: it left version 1's alone.
        waiting = await engine.list_executions(function="order", version=1, unfinished=True)
        assert [info.execution_id for info in waiting] == [started.execution_id]
    assert rows(db_path, "SELECT status, epoch, owner FROM executions") == before

    async with engine_with(db_path, 1, 2) as engine:  # version 1 is back beside 2
        result = await ExecutionHandle[Any](engine, started.execution_id).result()
    assert result == "v1 packed a"


async def test_the_cli_lists_what_still_runs_on_an_old_version(db_path: Path) -> None:
    engine = engine_with(db_path, 1, 2)
    engine.serve = False  # stored for a worker, run by none here
    async with engine:
        old = await engine.start("order", "a", version=1, run_here=False)
        done = await engine.start("order", "b", version=1, run_here=False)
        new = await engine.start("order", "c", run_here=False)
        await engine.stop(done.execution_id)

    listed = cli(
        db_path.parent,
        *("list", "--db", str(db_path), "--function", "order"),
        *("--version", "1", "--unfinished", "--json"),
    )
    assert [row["execution_id"] for row in json.loads(listed.stdout)] == [old.execution_id]
    assert json.loads(listed.stdout)[0]["version"] == 1
    shown = cli(db_path.parent, "show", new.execution_id, "--db", str(db_path))
    assert "order (version 2)" in shown.stdout


async def test_an_invoked_function_starts_on_its_newest_version(db_path: Path) -> None:
    engine = engine_with(db_path, 1, 2)

    @engine.durable_function(name="parent")
    async def parent(ctx: DurableContext, _: Any) -> str:
        return str(await ctx.invoke("order", "d"))

    async with engine:
        assert await engine.run("parent") == "v2 checked d"
    assert rows(
        db_path, "SELECT function, version FROM executions WHERE parent_id IS NOT NULL"
    ) == [("order", 2)]


def test_versions_are_checked_when_registered(db_path: Path) -> None:
    engine = engine_with(db_path, 1)
    with pytest.raises(ValueError, match="already registered as 'order' version 1"):
        engine.durable_function(name="order", version=1)(order_v2)
    with pytest.raises(ValueError, match="version"):
        engine.durable_function(name="order", version=0)(order_v2)
    engine.durable_function(name="order", version=1)(order_v1)  # the same again: fine
