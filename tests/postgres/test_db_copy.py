"""`durable-engine db copy` moves an SQLite database to PostgreSQL, unfinished
executions included, and `db migrate` brings a schema up to date."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg

from durable_engine import (
    DurableContext,
    Engine,
    ExecutionStatus,
    OperationStatus,
    OperationType,
    PostgresStore,
    SqliteStore,
)
from durable_engine._store import EndAttempt, ScheduleRecord
from durable_engine._store.pg_copy import copy_database
from durable_engine._store.pg_schema import PG_SCHEMA_VERSION
from tests.cli.helpers import cli
from tests.conftest import wait_for_status
from tests.store.helpers import NOW, op, register_w1, running


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
    assert report["rows"] == {
        "executions": 3,
        "operations": 4,
        "callbacks": 1,
        "events": 0,
        "schedules": 0,
        "attempts": 0,
        "kept_operations": 0,
    }
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


async def test_copy_moves_events_schedules_and_attempts(postgres_url: str, tmp_path: Path) -> None:
    source = tmp_path / "orders.db"
    sqlite = SqliteStore(source)
    await sqlite.open()
    try:
        await register_w1(sqlite)
        fence = await running(sqlite, "e1")
        assert await sqlite.send_event("e1", "go", b"kept", NOW + 1) is None
        failed = op("e1", "1", OperationStatus.PENDING, error=b"boom", wake_at=NOW + 5)
        await sqlite.commit(fence, EndAttempt(operation=failed, started_at=NOW, ended_at=NOW + 1))
        paused = ScheduleRecord(
            name="nightly", function="flow", cron="0 3 * * *", timezone="UTC", input=b"in",
            catchup="latest", paused=True, next_fire_at=NOW + 600, created_at=NOW,
            fired_at=NOW - 60,
        )  # fmt: skip
        await sqlite.put_schedule(paused)
        attempts = await sqlite.load_attempts("e1")
    finally:
        await sqlite.close()

    report = await copy_database(str(source), postgres_url)
    assert (report.rows["events"], report.rows["schedules"], report.rows["attempts"]) == (1, 1, 1)

    store = PostgresStore(postgres_url)
    await store.open()
    try:
        assert await store.get_schedule("nightly") == paused
        assert await store.load_attempts("e1") == attempts
        # The event kept in the file is received on PostgreSQL, and one sent from then
        # on is numbered after it.
        waiting = op("e1", "2", OperationStatus.STARTED, type=OperationType.EVENT)
        got = await store.receive_event(fence, waiting._replace(name="go"), NOW + 2)
        assert (got.status, got.result) == (OperationStatus.SUCCEEDED, b"kept")
        assert await store.send_event("e1", "go", b"next", NOW + 3) is None
        later = op("e1", "3", OperationStatus.STARTED, type=OperationType.EVENT)
        second = await store.receive_event(fence, later._replace(name="go"), NOW + 4)
        assert second.result == b"next" and int(second.ref or 0) > int(got.ref or 0)
    finally:
        await store.close()


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
