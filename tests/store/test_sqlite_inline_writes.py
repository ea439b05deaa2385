"""Small batches applied on the event loop's own thread: what must not change for it.

A batch of a few commits runs on the loop when the database thread is idle. These
tests hold it to what the database thread gave: a file locked by another process is
waited for (on the database thread, the loop free meanwhile), and the `-wal` file is
still copied back into the database as writes go on."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import pytest

from durable_engine import OperationStatus, SqliteStore
from durable_engine._store import Fence
from tests.store.helpers import new, op, operations, register_w1


async def test_a_write_that_finds_the_file_locked_waits_for_it_with_the_loop_free(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "x.db"
    # Were the loop itself to wait for the lock, it would wait this long (past the
    # test's timeout) and the other process could never let go: the test would fail.
    store = SqliteStore(path, busy_timeout=600)
    await store.open()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        await register_w1(store)
        await store.create_execution(new("e1"))
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        write = asyncio.ensure_future(
            store.commit(Fence("e1", 1), op("e1", "1", OperationStatus.SUCCEEDED))
        )
        ticks = 0
        while ticks < 20:  # the loop goes on while the write waits
            await asyncio.sleep(0.005)
            ticks += 1
            assert not write.done()
        other.execute("COMMIT")
        await write  # written once the lock is free: not failed for finding it held
        # Waiting for a lock within the busy timeout is no failure of the store's writes.
        assert not [r for r in caplog.records if r.name == "durable_engine.store"]
        assert list(await operations(store, "e1")) == ["1"]
        await store.commit(Fence("e1", 1), op("e1", "2", OperationStatus.SUCCEEDED))
        assert list(await operations(store, "e1")) == ["1", "2"]
    finally:
        other.close()
        await store.close()


def _rows_in_main_file(path: Path, tmp: Path) -> int:
    """Operations in the database file alone, as if its `-wal` file were lost."""
    copy = tmp / "main-only.db"
    shutil.copyfile(path, copy)
    conn = sqlite3.connect(copy)
    try:
        (count,) = conn.execute("SELECT count(*) FROM operations").fetchone()
    finally:
        conn.close()
    return int(count)


async def test_the_wal_file_is_copied_back_while_small_writes_go_on(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    store = SqliteStore(path)
    await store.open()
    count = 3000
    try:
        await register_w1(store)
        await store.create_execution(new("e1"))
        for i in range(count):  # one commit at a time: each batch small
            await store.commit(
                Fence("e1", 1), op("e1", f"{i:05d}", OperationStatus.SUCCEEDED, result=b"x" * 900)
            )
        assert len(await operations(store, "e1")) == count
        # Each commit adds a page or more to the `-wal` file (several MB in all):
        # checkpoints copied most of them back, and the file did not grow unbounded.
        assert _rows_in_main_file(path, tmp_path) >= count // 2
        assert Path(f"{path}-wal").stat().st_size < 16 * 1024 * 1024  # noqa: ASYNC240
    finally:
        await store.close()
