"""`engine.purge` and `Engine(retention=...)` on a real file, across restarts, and while
eight engines serve the same file."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from durable_engine import DurableContext, Engine, ExecutionStatus


def _engine(path: Path, **options: object) -> Engine:
    engine = Engine(path, in_memory_wait=0, **options)  # type: ignore[arg-type]

    @engine.durable_function(name="flow")
    async def flow(ctx: DurableContext, n: int) -> int:
        await ctx.step(lambda s: n, name="one")
        if n < 0:
            raise ValueError("negative")
        if n >= 1000:  # waits long: unfinished while the purge runs
            await ctx.wait(timedelta(hours=1), name="long")
        return n

    return engine


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def test_purge_by_age_status_and_function_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    async with _engine(path) as engine:
        ok = await engine.start("flow", 1, execution_name="order-1")
        await ok.result()
        bad = await engine.start("flow", -1)
        with pytest.raises(Exception, match="negative"):
            await bad.result()
        waiting = await engine.start("flow", 1000)
        for _ in range(1000):
            if (await waiting.status()) is ExecutionStatus.SUSPENDED:
                break
            await asyncio.sleep(0.01)
        assert await engine.purge(timedelta(hours=1)) == 0  # ended only just now
    async with _engine(path) as engine:  # a restart: the rows are still there
        assert await engine.purge(timedelta(0), dry_run=True) == 2
        failed = await engine.purge(datetime.now(UTC), statuses=["FAILED"])
        assert failed == 1
        assert await engine.purge(timedelta(0), function="other") == 0
        assert await engine.purge(timedelta(0)) == 1
        left = await engine.list_executions()
        assert [i.execution_id for i in left] == [waiting.execution_id]
        # The name of a purged execution starts a new one.
        again = await engine.start("flow", 2, execution_name="order-1")
        assert again.execution_id != ok.execution_id
        assert await again.result() == 2
    assert _rows(
        path,
        "SELECT COUNT(*) FROM operations WHERE execution_id IN "
        f"('{ok.execution_id}', '{bad.execution_id}')",
    ) == [(0,)]


async def test_bad_purge_arguments_are_refused(tmp_path: Path) -> None:
    async with _engine(tmp_path / "p.db") as engine:
        with pytest.raises(ValueError, match="not an ended status"):
            await engine.purge(timedelta(0), statuses=["RUNNING"])
        with pytest.raises(ValueError, match="aware datetime"):
            await engine.purge(datetime(2020, 1, 1))
        with pytest.raises(TypeError):
            await engine.purge(30)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="limit"):
            await engine.purge(timedelta(0), limit=0)


async def test_retention_purges_in_the_background_only_when_serving(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    async with _engine(path) as engine:
        done = await engine.start("flow", 1)
        await done.result()
    reader = _engine(path, retention=timedelta(0))
    reader.serve = False
    async with reader:
        await asyncio.sleep(0.2)
        assert len(await reader.list_executions()) == 1  # a reader purges nothing
    async with _engine(path, retention=timedelta(0)) as engine:
        for _ in range(500):
            if not await engine.list_executions():
                break
            await asyncio.sleep(0.02)
        assert await engine.list_executions() == []


async def test_purge_while_eight_engines_serve(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    async with _engine(path) as seed:  # ended ones, to purge
        for start in range(0, 300, 50):
            handles = [
                await seed.start("flow", n, run_here=False) for n in range(start, start + 50)
            ]
            for h in handles:
                await seed.wait_for(h.execution_id)
    cutoff = datetime.now(UTC)
    engines = [_engine(path) for _ in range(8)]
    for e in engines:
        await e.open()
    try:
        waiting = [await engines[i % 8].start("flow", 1000 + i) for i in range(16)]
        busy = [await engines[i % 8].start("flow", i, run_here=False) for i in range(200)]

        async def results() -> list[int]:
            return [await h.result() for h in busy]

        purged, values = await asyncio.gather(engines[0].purge(cutoff), results())
        assert values == list(range(200))  # every one ran to its end meanwhile
        for h in waiting:
            info = await engines[0].get_execution(h.execution_id)
            assert info.status in (ExecutionStatus.RUNNING, ExecutionStatus.SUSPENDED)
    finally:
        for e in engines:
            await e.close()
    assert purged == 300
    assert _rows(path, "PRAGMA integrity_check") == [("ok",)]
    orphans = _rows(
        path,
        "SELECT COUNT(*) FROM operations WHERE execution_id NOT IN"
        " (SELECT execution_id FROM executions)",
    )
    assert orphans == [(0,)]
    assert _rows(path, "SELECT COUNT(*) FROM executions WHERE status = 'SUSPENDED'") == [(16,)]
