"""Store faults pause the engine; they never fail a step or run a body again.

Each test makes a real fault (a write lock held by another process, a file that cannot
grow, I/O errors) while a step's outcome is being written, and checks what a user
sees (`engine.health()`, the log line, the error) and that the body ran once."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from durable_engine import (
    DatabaseLocked,
    DiskFull,
    DurableContext,
    Engine,
    ExecutionStatus,
    SqliteStore,
    StepConfig,
    StepSemantics,
    StoreError,
    StoreIOError,
)
from durable_engine._store import group_commit
from durable_engine._store import sqlite as sqlite_module
from tests.conftest import Effects, rows, until

_HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


class LockHolder:
    """Another process holding the database's write lock until `release`."""

    def __init__(self, db: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _HOLD_LOCK, str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline() == "locked\n"

    def release(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        assert self.process.wait(timeout=30) == 0
        self.close()

    def close(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def hold_lock(db_path: Path) -> Iterator[Callable[[], LockHolder]]:
    holders: list[LockHolder] = []

    def start() -> LockHolder:
        holders.append(LockHolder(db_path))
        return holders[-1]

    yield start
    for holder in holders:
        if holder.process.poll() is None:
            holder.process.kill()
            holder.process.wait()
        holder.close()


def _failure_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("database writes")]


def _gated_workflow(
    engine: Engine, effects: Effects, semantics: StepSemantics, value: object = 7
) -> tuple[Any, asyncio.Event, asyncio.Event]:
    """A workflow whose one step records its run, then waits for `go` before returning
    `value`."""
    ran, go = asyncio.Event(), asyncio.Event()

    @engine.durable_function(name="gated")
    async def gated(ctx: DurableContext, _: None) -> Any:
        async def body(_: object) -> object:
            effects.record("body")
            ran.set()
            await go.wait()
            return value

        return await ctx.step(body, name="pay", config=StepConfig(step_semantics=semantics))

    return gated, ran, go


@pytest.mark.parametrize(
    "semantics", [StepSemantics.AT_MOST_ONCE_PER_RETRY, StepSemantics.AT_LEAST_ONCE_PER_RETRY]
)
async def test_a_lock_held_past_the_busy_timeout_pauses_the_step_then_it_succeeds(
    db_path: Path,
    effects: Effects,
    hold_lock: Callable[[], LockHolder],
    caplog: pytest.LogCaptureFixture,
    semantics: StepSemantics,
) -> None:
    caplog.set_level(logging.WARNING, logger="durable_engine")
    engine = Engine(db_path, in_memory_wait=0, busy_timeout=0.1)
    gated, ran, go = _gated_workflow(engine, effects, semantics)
    async with engine:
        handle = await engine.start(gated, None)
        await ran.wait()
        holder = hold_lock()
        go.set()  # the outcome's write now waits for the lock, well past the busy timeout
        await until(lambda: not engine.health().ok)
        health = engine.health()
        assert isinstance(health.error, DatabaseLocked) and health.since is not None
        assert "is locked by another process" in str(health.error)
        await until(lambda: len(_failure_lines(caplog)) >= 1)
        assert await handle.status() is ExecutionStatus.RUNNING
        holder.release()
        assert await handle.result() == 7
        assert engine.health().ok
    assert effects.count("body") == 1
    assert rows(db_path, "SELECT status, attempt, error FROM operations") == [
        ("SUCCEEDED", 1, None)
    ]
    lines = _failure_lines(caplog)
    assert lines[0].startswith("database writes are failing (DatabaseLocked)")
    assert lines[-1].startswith("database writes succeed again")


async def test_a_start_under_a_held_lock_raises_database_locked(
    db_path: Path, hold_lock: Callable[[], LockHolder]
) -> None:
    engine = Engine(db_path, in_memory_wait=0, busy_timeout=0.1)

    @engine.durable_function
    async def noop(ctx: DurableContext, _: None) -> str:
        return "done"

    async with engine:
        holder = hold_lock()
        with pytest.raises(DatabaseLocked, match="is locked by another process"):
            await engine.start(noop, None)
        holder.release()
        assert await (await engine.start(noop, None)).result() == "done"


async def test_writes_stalled_past_the_lease_resume_without_a_restart(
    db_path: Path,
    effects: Effects,
    hold_lock: Callable[[], LockHolder],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="durable_engine")
    engine = Engine(db_path, in_memory_wait=0, busy_timeout=0.05, lease=0.3)
    gated, ran, go = _gated_workflow(engine, effects, StepSemantics.AT_LEAST_ONCE_PER_RETRY)
    async with engine:
        handle = await engine.start(gated, None)
        await ran.wait()
        holder = hold_lock()
        go.set()
        # Several heartbeats fail: the worker's lease runs out while the lock is held.
        await until(lambda: sum("heartbeat failed" in r.getMessage() for r in caplog.records) >= 3)
        holder.release()
        assert await handle.result() == 7
    assert effects.count("body") == 1


async def test_a_full_file_pauses_the_step_until_space_is_freed(
    db_path: Path, effects: Effects, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="durable_engine")
    engine = Engine(db_path, in_memory_wait=0)
    big = "x" * 100_000  # needs pages the file cannot grow by
    gated, ran, go = _gated_workflow(engine, effects, StepSemantics.AT_MOST_ONCE_PER_RETRY, big)
    store = engine.store
    assert isinstance(store, SqliteStore)

    def limit(conn: sqlite3.Connection, pages: int | None) -> None:
        # SQLite's own cap on the file's size, on the writer's connection: the portable
        # way to fill a "disk".
        count = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages or count}")

    async with engine:
        handle = await engine.start(gated, None)
        await ran.wait()
        assert store._writer is not None
        await store._writer.run(limit, None)
        go.set()
        await until(lambda: not engine.health().ok)
        assert isinstance(engine.health().error, DiskFull)
        assert "free space" in str(engine.health().error)
        await store._writer.run(limit, 1_000_000)
        assert await handle.result() == big
    assert effects.count("body") == 1
    assert rows(db_path, "SELECT status FROM operations") == [("SUCCEEDED",)]
    assert any("(DiskFull)" in line for line in _failure_lines(caplog))


async def test_injected_io_errors_are_retried_and_the_body_runs_once(
    db_path: Path, effects: Effects, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(db_path, in_memory_wait=0)
    failures = {"left": 0, "seen": 0}
    real = group_commit.apply_batch

    def flaky(conn: sqlite3.Connection, jobs: list[Any]) -> Any:
        if failures["left"] > 0:
            failures["left"] -= 1
            failures["seen"] += 1
            raise sqlite3.OperationalError("disk I/O error")
        return real(conn, jobs)

    monkeypatch.setattr(sqlite_module, "apply_batch", flaky)
    health_seen: list[BaseException | None] = []

    @engine.durable_function
    async def pays(ctx: DurableContext, _: None) -> str:
        def body(_: object) -> str:
            effects.record("body")
            failures["left"] = 5  # the next five writes fail: the outcome's among them
            return "paid"

        value: str = await ctx.step(body, name="pay")
        health_seen.append(engine.health().error)
        return value

    async with engine:
        assert await (await engine.start(pays, None)).result() == "paid"
    assert failures["seen"] == 5
    assert effects.count("body") == 1
    assert health_seen == [None]  # healthy again once the write went through
    assert rows(db_path, "SELECT status, attempt FROM operations") == [("SUCCEEDED", 1)]


async def test_an_open_on_a_full_disk_says_the_disk_is_full(db_path: Path) -> None:
    class FullStore(SqliteStore):
        def _setup(self, conn: sqlite3.Connection, write: bool) -> None:
            conn.execute("PRAGMA max_page_count = 1")
            super()._setup(conn, write)

    with pytest.raises(DiskFull, match=r"cannot be opened: .* cannot grow"):
        async with Engine(db_path, store=FullStore(db_path)):
            pass


def test_the_busy_timeout_is_checked() -> None:
    with pytest.raises(ValueError, match="busy_timeout"):
        Engine("x.db", busy_timeout=-1)
    with pytest.raises(ValueError, match="busy_timeout"):
        SqliteStore("x.db", busy_timeout=7200)


def test_the_transient_errors_are_store_errors() -> None:
    for cls in (DatabaseLocked, DiskFull, StoreIOError):
        assert issubclass(cls, StoreError)
