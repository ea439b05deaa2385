"""`durable-engine db copy` moves an SQLite database to PostgreSQL, unfinished
executions included, and `db migrate` brings a schema up to date."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg

from durable_engine import DurableContext, Engine, ExecutionStatus
from durable_engine._store.pg_schema import PG_SCHEMA_VERSION
from tests.cli.helpers import cli
from tests.conftest import wait_for_status


def _build(db: str) -> Engine:
    engine = Engine(db, in_memory_wait=0)

    @engine.durable_function(name="approve")
    async def approve(ctx: DurableContext, n: int) -> object:
        first = await ctx.step(lambda s: n + 1, name="first")
        cb = await ctx.create_callback(name="boss")
        return [first, await cb.result()]

    @engine.durable_function(name="nap")
    async def nap(ctx: DurableContext, seconds: float) -> str:
        await ctx.wait(seconds, name="nap")
        return "rested"

    @engine.durable_function(name="add")
    async def add(ctx: DurableContext, n: int) -> int:
        return await ctx.step(lambda s: n + 1, name="add")

    return engine


async def test_copy_moves_finished_and_waiting_executions_and_they_resume(
    postgres_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "orders.db"
    async with _build(str(source)) as engine:
        assert await engine.run("add", 1) == 2
        waiting = await engine.start("approve", 10)
        napping = await engine.start("nap", 1.0)
        await wait_for_status(waiting, ExecutionStatus.SUSPENDED)
        await wait_for_status(napping, ExecutionStatus.SUSPENDED)
        [callback_op] = [
            op for op in await engine.store.load_operations(waiting.execution_id) if op.ref
        ]
    copied = cli(tmp_path, "db", "copy", "--from", str(source), "--to", postgres_url, "--json")
    report = json.loads(copied.stdout)
    assert report["rows"] == {"executions": 3, "operations": 4, "callbacks": 1}
    assert report["statuses"] == {"SUCCEEDED": 1, "SUSPENDED": 2}
    assert "@" in report["target"]

    async with _build(postgres_url) as engine:
        assert callback_op.ref is not None
        await engine.send_callback_success(callback_op.ref, "yes")
        answered = await engine.wait_for(waiting.execution_id)
        assert answered.result == [11, "yes"]
        assert (await engine.wait_for(napping.execution_id)).result == "rested"
        statuses = sorted(i.status.value for i in await engine.list_executions())
        assert statuses == ["SUCCEEDED"] * 3

    again = cli(tmp_path, "db", "copy", "--from", str(source), "--to", postgres_url, check=False)
    assert again.returncode == 1 and "already holds executions" in again.stderr
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM durable.executions") == 3
    finally:
        await conn.close()


def test_migrate_creates_or_reports_the_schema(postgres_url: str, tmp_path: Path) -> None:
    url = postgres_url + "&schema=fresh"
    first = json.loads(cli(tmp_path, "db", "migrate", "--db", url, "--json").stdout)
    assert (first["from"], first["to"]) == (0, PG_SCHEMA_VERSION)
    again = cli(tmp_path, "db", "migrate", "--db", url).stdout
    assert again.strip() == f"schema version {PG_SCHEMA_VERSION}, already up to date"
    missing = cli(tmp_path, "db", "migrate", "--db", str(tmp_path / "none.db"), check=False)
    assert missing.returncode == 1 and "nothing to migrate" in missing.stderr
    usage = cli(tmp_path, "db", "copy", "--to", url, check=False)
    assert usage.returncode == 2 and "--from" in usage.stderr
