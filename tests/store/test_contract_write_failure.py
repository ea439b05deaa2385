"""The Store contract: `write_failure` while writes fail for a reason that passes.

On each store a fault that passes by itself is made from outside: another process
holding the SQLite file's write lock past the busy timeout; the PostgreSQL server
stopped, then started again. While it lasts a commit waits (it is not failed), and
`write_failure()` names a `StoreError` and when the failures began; once a write
succeeds it is None again.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from durable_engine import OperationStatus, PostgresStore, SqliteStore, Store, StoreError
from tests.pg_cluster import Cluster, fresh_database
from tests.store.helpers import op, operations, register_w1, running

Fault = tuple[Callable[[], None], Callable[[], None]]
"""Begins the fault, ends it."""


@contextlib.asynccontextmanager
async def _sqlite(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Store, Fault]]:
    path = tmp_path / "store.db"
    store = SqliteStore(path, busy_timeout=0.1)
    await store.open()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def begin() -> None:
        holder.execute("BEGIN IMMEDIATE")  # the write lock, held by another connection

    def end() -> None:
        holder.execute("ROLLBACK")

    try:
        yield store, (begin, end)
    finally:
        holder.close()
        await store.close()


@contextlib.asynccontextmanager
async def _postgres(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Store, Fault]]:
    cluster: Cluster = request.getfixturevalue("postgres_cluster")
    async with fresh_database(cluster) as url:
        store = PostgresStore(url, pool_size=2)
        await store.open()
        down: list[bool] = []

        def begin() -> None:
            cluster.stop("fast")
            down.append(True)

        def end() -> None:
            cluster.start()
            down.clear()

        try:
            yield store, (begin, end)
        finally:
            if down:  # the test ended early: the server serves the other tests again
                end()
            await store.close()


async def _until(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param(_sqlite, id="sqlite"),
        pytest.param(_postgres, id="postgres"),
    ],
)
async def test_write_failure_names_the_error_and_when_it_began_until_a_write_succeeds(
    tmp_path: Path, request: pytest.FixtureRequest, backend: Callable[..., object]
) -> None:
    opened = backend(tmp_path, request)
    assert isinstance(opened, contextlib.AbstractAsyncContextManager)
    async with opened as (store, (begin, end)):
        assert store.write_failure() is None  # nothing failed yet
        await register_w1(store)
        fence = await running(store, "e1")
        await store.commit(fence, op("e1", "1", OperationStatus.SUCCEEDED, result=b"one"))
        assert store.write_failure() is None  # writes succeed

        before = time.time()
        await asyncio.get_running_loop().run_in_executor(None, begin)
        pending: Awaitable[None] = store.commit(
            fence, op("e1", "2", OperationStatus.SUCCEEDED, result=b"two")
        )
        waiting = asyncio.ensure_future(pending)
        # A store tries again within a second or two: it says so well within 5 s.
        await _until(lambda: store.write_failure() is not None, "a write to fail", 5)
        failure = store.write_failure()
        assert failure is not None
        error, since = failure
        assert isinstance(error, StoreError)
        assert before - 1 <= since <= time.time()
        await asyncio.sleep(0.3)  # more failed tries: the run of failures began then still
        assert not waiting.done()  # the commit waits; it is not failed
        again = store.write_failure()
        assert again is not None and again[1] == since

        await asyncio.get_running_loop().run_in_executor(None, end)
        await asyncio.wait_for(waiting, 60)  # it lands once the fault has passed
        assert store.write_failure() is None
        assert {k: cp.result for k, cp in (await operations(store, "e1")).items()} == {
            "1": b"one",
            "2": b"two",
        }
