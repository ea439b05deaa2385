"""Continue-as-new on PostgreSQL: runs numbered and switched across two engines, kept
runs read back and purged, and a version 3 schema brought to version 4."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from durable_engine import DurableContext, Engine, PostgresStore, RunNotKept
from durable_engine._store import Fence
from durable_engine._store.pg_copy import copy_database
from durable_engine._store.pg_schema import MIGRATIONS, PG_SCHEMA_VERSION
from tests.conftest import Effects, recorded


def _engine(url: str, effects: Effects) -> Engine:
    engine = Engine(url, in_memory_wait=0)

    @engine.durable_function(name="hops")
    async def hops(ctx: DurableContext, n: int) -> int:
        await ctx.step(lambda s: recorded(effects, f"step {n}", n), name="step")
        await ctx.wait(0.05, name="pause")
        if n < 6:
            await ctx.continue_as_new(n + 1, keep_history=n % 2 == 1)
        return n

    return engine


async def test_runs_continue_across_engines_and_kept_runs_are_purged(
    postgres_url: str, effects: Effects
) -> None:
    first = _engine(postgres_url, effects)
    async with first:
        handle = await first.start("hops", 1, execution_name="hops")
        while (await first.get_execution(handle.execution_id)).run_number < 3:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    second = _engine(postgres_url, effects)
    async with second:
        again = await second.start("hops", 1, execution_name="hops")
        assert again.execution_id == handle.execution_id
        assert await again.result() == 6
        info = await second.get_execution(handle.execution_id)
        assert (info.run_number, info.input) == (6, 6)
        # Runs 1, 3 and 5 continued with keep_history; 2 and 4 did not.
        for run in (1, 3, 5):
            ops = await second.get_operations(handle.execution_id, run_number=run)
            assert [op.result for op in ops if op.name == "step"] == [run]
        with pytest.raises(RunNotKept):
            await second.get_operations(handle.execution_id, run_number=2)
        assert await second.purge(timedelta(0)) == 1
    assert sorted(set(effects.lines())) == [f"step {n}" for n in range(1, 7)]
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM durable.kept_operations") == 0
    finally:
        await conn.close()


async def test_a_version_3_schema_gets_run_numbers(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute("CREATE SCHEMA durable; SET search_path TO durable")
        for version in (0, 1, 2):
            await conn.execute(MIGRATIONS[version])
        await conn.execute("INSERT INTO meta VALUES ('schema_version', '3')")
        await conn.execute(
            "INSERT INTO executions (execution_id, function, status, input, created_at, owner,"
            " epoch) VALUES ('old', 'flow', 'RUNNING', '\\x01'::bytea, 1.0, 'w1', 2)"
        )
        await conn.execute(
            "INSERT INTO operations (execution_id, op_id, type, name, status, attempt, result)"
            " VALUES ('old', '1', 'STEP', 'a', 'SUCCEEDED', 1, '\\x02'::bytea)"
        )
    finally:
        await conn.close()
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        old = await store.get_execution("old")
        assert old is not None and old.run_number == 1
        nxt = await store.continue_as_new(Fence("old", 2), b"\x03", 2.0, keep_history=True)
        assert (nxt.run_number, nxt.input, nxt.epoch) == (2, b"\x03", 3)
        assert [cp.result for cp in await store.load_kept_operations("old", 1)] == [b"\x02"]
        assert await store.load_operations("old") == []
    finally:
        await store.close()
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await conn.fetchval("SELECT value FROM durable.meta") == str(PG_SCHEMA_VERSION)
        assert PG_SCHEMA_VERSION == 4
    finally:
        await conn.close()


async def test_db_copy_takes_kept_runs_and_run_numbers_along(
    postgres_url: str, tmp_path: Path, effects: Effects
) -> None:
    source = tmp_path / "source.db"
    engine = Engine(source)

    @engine.durable_function(name="hops")
    async def hops(ctx: DurableContext, n: int) -> int:
        await ctx.step(lambda s: recorded(effects, f"step {n}", n), name="step")
        if n < 3:
            await ctx.continue_as_new(n + 1, keep_history=True)
        return n

    async with engine:
        handle = await engine.start("hops", 1)
        assert await handle.result() == 3
    report = await copy_database(str(source), postgres_url)
    assert report.rows["kept_operations"] == 2
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        copied = await store.get_execution(handle.execution_id)
        assert copied is not None and copied.run_number == 3
        assert await store.kept_runs(handle.execution_id) == [1, 2]
    finally:
        await store.close()
