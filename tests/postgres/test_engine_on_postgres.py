"""An engine end to end on PostgreSQL: picked from the URL, resumed across engines,
shared by two engines, taking over a dead worker's work, stopped, answered, and
refusing a schema that is not its own."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from pathlib import Path

import asyncpg
import pytest

from durable_engine import (
    DurableContext,
    Engine,
    ExecutionStatus,
    PostgresStore,
    StoreError,
)
from durable_engine._store import NewExecution, WorkerInfo, crashpoints
from durable_engine._store import postgres as pg_module
from durable_engine._store.pg_schema import MIGRATIONS, PG_SCHEMA_VERSION
from tests.cli.helpers import cli
from tests.conftest import Effects, recorded, wait_for_status


def _url(url: str, schema: str) -> str:
    return f"{url}&schema={schema}"


def _resumable(url: str, effects: Effects) -> Engine:
    engine = Engine(url, in_memory_wait=0)

    @engine.durable_function(name="flow")
    async def flow(ctx: DurableContext, n: int) -> int:
        a = await ctx.step(lambda s: recorded(effects, f"before {n}", n + 1), name="before")
        await ctx.wait(0.2, name="pause")
        return await ctx.step(lambda s: recorded(effects, f"after {n}", a * 10), name="after")

    return engine


async def test_the_url_picks_postgres_and_a_run_resumes_in_another_engine(
    postgres_url: str, effects: Effects
) -> None:
    first = _resumable(postgres_url, effects)
    assert isinstance(first.store, PostgresStore)
    async with first:
        handle = await first.start("flow", 4)
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
    second = _resumable(postgres_url, effects)
    async with second:
        info = await second.wait_for(handle.execution_id)
        assert (info.status, info.result) == (ExecutionStatus.SUCCEEDED, 50)
        ops = await second.get_operations(handle.execution_id)
        assert [(o.name, o.result) for o in ops] == [("before", 5), ("pause", None), ("after", 50)]
    assert effects.lines() == ["before 4", "after 4"]  # each step once, across two engines


async def test_two_engines_on_one_database_run_each_execution_once(
    postgres_url: str, effects: Effects
) -> None:
    def build() -> Engine:
        engine = Engine(postgres_url, in_memory_wait=0)

        @engine.durable_function(name="job")
        async def job(ctx: DurableContext, n: int) -> int:
            await ctx.step(lambda s: effects.record(f"ran {n}"), name="work")
            return n * 2

        return engine

    one, two = build(), build()
    async with one, two:
        handles = [await one.start("job", n, run_here=False) for n in range(40)]
        one.poke()
        two.poke()
        results = [(await one.wait_for(h.execution_id)).result for h in handles]
        assert results == [n * 2 for n in range(40)]
        owners = {r.owner for r in await one.store.list_executions()}
    assert owners == {None}  # every one ended and was released
    assert sorted(effects.lines()) == sorted(f"ran {n}" for n in range(40))


async def test_a_dead_workers_execution_is_taken_over(postgres_url: str, effects: Effects) -> None:
    engine = Engine(postgres_url, in_memory_wait=0, lease=1)

    @engine.durable_function(name="flow")
    async def flow(ctx: DurableContext, _: None) -> str:
        await ctx.step(lambda s: effects.record("ran"), name="work")
        return "taken over"

    async with engine:
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
        assert record is not None and record.epoch == 2
        assert [w.worker_id for w, _ in await engine.store.list_workers()] == [engine.worker_id]
    assert effects.lines() == ["ran"]


async def test_a_callback_answered_by_another_engine_and_a_stop(postgres_url: str) -> None:
    engine = Engine(postgres_url, in_memory_wait=0)

    @engine.durable_function(name="approve")
    async def approve(ctx: DurableContext, _: None) -> object:
        cb = await ctx.create_callback(name="boss")
        return await cb.result()

    @engine.durable_function(name="sleepy")
    async def sleepy(ctx: DurableContext, _: None) -> str:
        await ctx.wait(3600, name="nap")
        return "rested"

    outside = Engine(postgres_url)  # a process that only answers: it runs nothing
    outside.serve = False
    async with engine, outside:
        handle = await engine.start("approve")
        await wait_for_status(handle, ExecutionStatus.SUSPENDED)
        [callback] = [
            op for op in await engine.store.load_operations(handle.execution_id) if op.ref
        ]
        assert callback.ref is not None
        await outside.send_callback_success(callback.ref, {"ok": True})
        assert await handle.result() == {"ok": True}

        sleeping = await engine.start("sleepy")
        await wait_for_status(sleeping, ExecutionStatus.SUSPENDED)
        await outside.stop(sleeping.execution_id)
        assert await sleeping.status() is ExecutionStatus.STOPPED
        [nap] = await engine.store.load_operations(sleeping.execution_id)
        assert nap.status.value == "CANCELLED"


async def test_schemas_keep_two_apps_apart_in_one_database(postgres_url: str) -> None:
    def build(schema: str) -> Engine:
        engine = Engine(_url(postgres_url, schema), in_memory_wait=0)

        @engine.durable_function(name="flow")
        async def flow(ctx: DurableContext, n: int) -> str:
            return f"{schema} {n}"

        return engine

    async with build("app_a") as a, build("app_b") as b:
        assert await a.run("flow", 1) == "app_a 1"
        assert await b.run("flow", 2) == "app_b 2"
        assert [i.result for i in await a.list_executions()] == ["app_a 1"]
        assert [i.result for i in await b.list_executions()] == ["app_b 2"]
    conn = await asyncpg.connect(postgres_url)
    try:
        tables = await conn.fetch(
            "SELECT table_schema, count(*) FROM information_schema.tables"
            " WHERE table_schema LIKE 'app_%' GROUP BY table_schema ORDER BY 1"
        )
        assert [(r[0], r[1]) for r in tables] == [("app_a", 9), ("app_b", 9)]
    finally:
        await conn.close()


async def test_a_newer_or_foreign_schema_is_refused_and_left_alone(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    await store.open()
    await store.close()
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute("UPDATE durable.meta SET value = '99' WHERE key = 'schema_version'")
        await conn.execute("CREATE SCHEMA shop; CREATE TABLE shop.orders (id int)")
    finally:
        await conn.close()
    with pytest.raises(StoreError, match=r"schema version 99.*newer"):
        await PostgresStore(postgres_url).open()
    with pytest.raises(StoreError, match=r"another application's tables \(orders\)"):
        await PostgresStore(_url(postgres_url, "shop")).open()
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await conn.fetchval("SELECT value FROM durable.meta") == "99"
        shop = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'shop'"
        )
        assert [r[0] for r in shop] == ["orders"]
    finally:
        await conn.close()


async def test_a_version_2_schema_is_brought_up_to_date_keeping_its_rows(
    postgres_url: str,
) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute("CREATE SCHEMA durable; SET search_path TO durable")
        for version in (0, 1):
            await conn.execute(MIGRATIONS[version])
        await conn.execute("INSERT INTO meta VALUES ('schema_version', '2')")
        await conn.execute(
            "INSERT INTO executions (execution_id, function, status, created_at, ended_at,"
            " epoch) VALUES ('old', 'flow', 'SUCCEEDED', 1.0, 2.0, 1)"
        )
    finally:
        await conn.close()
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        old = await store.get_execution("old")
        assert old is not None and old.status is ExecutionStatus.SUCCEEDED
        assert (old.custom_status, old.rerun_of, old.trace_context) == (None, None, None)
        assert await store.set_trace_context("old", "t") == "t"
        assert await store.list_schedules() == [] and await store.load_attempts("old") == []
        assert await store.purge_executions(3.0, limit=10) == ["old"]
    finally:
        await store.close()
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await conn.fetchval("SELECT value FROM durable.meta") == str(PG_SCHEMA_VERSION)
    finally:
        await conn.close()


async def test_an_unreachable_server_is_a_store_error(tmp_path: Path) -> None:
    store = PostgresStore(f"postgresql://nobody@/db?host={tmp_path}", connect_timeout=2)
    with pytest.raises(StoreError, match="cannot connect to PostgreSQL"):
        await store.open()


async def test_without_asyncpg_the_error_says_what_to_install(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # as if it were not installed
    with pytest.raises(StoreError, match=r"pip install \"durable-engine\[postgres\]\""):
        await Engine(postgres_url).open()


async def test_writes_go_on_after_the_writers_connection_is_dropped(postgres_url: str) -> None:
    engine = Engine(postgres_url, in_memory_wait=0)

    @engine.durable_function(name="flow")
    async def flow(ctx: DurableContext, n: int) -> int:
        return await ctx.step(lambda s: n + 1, name="add")

    async with engine:
        assert await engine.run("flow", 1) == 2
        conn = await asyncpg.connect(postgres_url)
        try:  # end every other session of this database, the writer's among them
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()
        # Writes and reads find their connections gone, and open new ones.
        assert [await engine.run("flow", n) for n in range(3)] == [1, 2, 3]


def _end_other_sessions(url: str) -> None:
    """End every other session of the database, from a thread of its own (a persistence
    hook cannot await)."""

    async def end() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()

    thread = threading.Thread(target=asyncio.run, args=(end(),))
    thread.start()
    thread.join()


async def test_a_session_ended_before_a_commit_that_wrote_nothing_is_tried_again(
    postgres_url: str,
) -> None:
    """The server ends the writer's session (as it does one idle in a transaction
    while its process was stopped) just before the COMMIT of a transaction that wrote
    nothing: the write is applied again on a new connection, not failed."""
    store = PostgresStore(postgres_url)
    await store.open()
    ended: list[str] = []

    def end_once(point: str) -> None:
        if point == "before commit" and not ended:
            ended.append(point)
            _end_other_sessions(postgres_url)

    try:
        previous = crashpoints.install(end_once)
        try:
            assert await store.retry_blocked(["flow"], time.time()) == 0  # writes no row
        finally:
            crashpoints.install(previous)
        assert ended == ["before commit"]
        new, _ = await store.create_execution(
            NewExecution("e1", None, "flow", b"", time.time(), owner=None)
        )
        assert new.execution_id == "e1"
    finally:
        await store.close()


async def test_a_connection_lost_while_opening_is_a_store_error(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def lost(conn: object, schema: str) -> tuple[int, int]:
        raise asyncpg.exceptions.InterfaceError(
            "cannot call Transaction.__aexit__(): the underlying connection is closed"
        )

    monkeypatch.setattr(pg_module, "migrate", lost)
    with pytest.raises(StoreError, match="underlying connection is closed"):
        await PostgresStore(postgres_url).open()


def test_the_command_line_takes_a_postgres_url(postgres_url: str, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "from durable_engine import DurableContext, Engine\n"
        "engine = Engine('unused.db')\n"
        "@engine.durable_function(name='greet')\n"
        "async def greet(ctx: DurableContext, who: str) -> str:\n"
        "    return 'hello ' + who\n"
    )
    started = cli(
        tmp_path,
        "start",
        "greet",
        "--app",
        "app:engine",
        "--input",
        '"ann"',
        "--json",
        extra_env={"DURABLE_ENGINE_DB": postgres_url},
    )
    execution_id = json.loads(started.stdout)["execution_id"]
    listed = json.loads(cli(tmp_path, "list", "--db", postgres_url, "--json").stdout)
    assert [e["execution_id"] for e in listed] == [execution_id]
    assert not (tmp_path / "unused.db").exists()
    check = cli(tmp_path, "db", "check", "--db", postgres_url, check=False)
    assert check.returncode == 1 and "SQLite" in check.stderr


async def test_a_role_without_create_on_the_database_uses_a_schema_made_for_it(
    postgres_url: str,
) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        role = f"app_{await conn.fetchval('SELECT current_database()')}"
        await conn.execute(f"CREATE ROLE {role} LOGIN")
        await conn.execute(f"CREATE SCHEMA billing AUTHORIZATION {role}")
    finally:
        await conn.close()
    url = postgres_url.replace("postgres@", f"{role}@", 1)
    with pytest.raises(StoreError, match="permission denied"):
        await PostgresStore(url).open()  # the default schema would need CREATE
    engine = Engine(_url(url, "billing"), in_memory_wait=0)

    @engine.durable_function(name="flow")
    async def flow(ctx: DurableContext, n: int) -> int:
        return n * 3

    async with engine:
        assert await engine.run("flow", 2) == 6
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute("DROP SCHEMA billing CASCADE")
        await conn.execute(f"DROP ROLE {role}")
    finally:
        await conn.close()
