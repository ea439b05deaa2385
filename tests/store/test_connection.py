"""ThreadedConnection: one sqlite3 connection served by a thread of its own."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from durable_engine._store import LeaseLost
from durable_engine._store.connection import ThreadedConnection


def _threads() -> set[int | None]:
    return {t.ident for t in threading.enumerate()}


def _insert(conn: sqlite3.Connection, value: int) -> int | None:
    conn.execute("INSERT INTO t VALUES (?)", (value,))
    return threading.get_ident()


async def test_jobs_run_in_order_on_the_connections_own_thread(tmp_path: Path) -> None:
    conn = await ThreadedConnection.open(str(tmp_path / "x.db"))
    try:
        await conn.run(lambda c: c.execute("CREATE TABLE t (v INTEGER)"))
        idents = await asyncio.gather(*(conn.run(_insert, v) for v in range(50)))
        values = await conn.run(
            lambda c: [r[0] for r in c.execute("SELECT v FROM t ORDER BY rowid")]
        )
        assert values == list(range(50))
        assert len(set(idents)) == 1 and idents[0] != threading.get_ident()
        assert await conn.run(lambda c: c.in_transaction) is False  # autocommit mode
    finally:
        await conn.close()


async def test_a_jobs_exception_is_raised_to_its_caller_only(tmp_path: Path) -> None:
    conn = await ThreadedConnection.open(str(tmp_path / "x.db"))
    try:

        def lease_lost(c: sqlite3.Connection) -> None:
            raise LeaseLost("e1")  # a BaseException passes through too

        results = await asyncio.gather(
            conn.run(lambda c: c.execute("SELECT * FROM missing")),
            conn.run(lease_lost),
            conn.run(lambda c, a, b: a + b, 2, 3),
            return_exceptions=True,
        )
        assert isinstance(results[0], sqlite3.OperationalError)
        assert isinstance(results[1], LeaseLost)
        assert results[2] == 5
    finally:
        await conn.close()


async def test_close_runs_the_jobs_queued_before_it_and_ends_the_thread(tmp_path: Path) -> None:
    before = _threads()
    conn = await ThreadedConnection.open(str(tmp_path / "x.db"))
    assert len(_threads()) == len(before) + 1
    await conn.run(lambda c: c.execute("CREATE TABLE t (v INTEGER)"))
    queued = [conn.run(_insert, v) for v in range(5)]
    await conn.close()
    assert all(f.done() and f.exception() is None for f in queued)
    assert _threads() == before
    with pytest.raises(sqlite3.ProgrammingError):
        conn.run(lambda c: None)
    await conn.close()  # a second close does nothing
    check = sqlite3.connect(tmp_path / "x.db")
    assert check.execute("SELECT COUNT(*) FROM t").fetchone() == (5,)
    check.close()


async def test_a_connection_that_cannot_open_raises_after_its_thread_ended() -> None:
    before = _threads()
    with pytest.raises(sqlite3.OperationalError, match="unable to open"):
        await ThreadedConnection.open("file:/nonexistent-folder/x.db")
    assert _threads() == before


async def test_a_caller_that_stops_waiting_leaves_the_connection_usable(tmp_path: Path) -> None:
    conn = await ThreadedConnection.open(str(tmp_path / "x.db"))
    try:
        started = threading.Event()
        release = threading.Event()

        def slow(c: sqlite3.Connection) -> int:
            started.set()
            release.wait(10)
            return 1

        waiting = asyncio.ensure_future(conn.run(slow))
        await asyncio.to_thread(started.wait, 10)
        waiting.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert await conn.run(lambda c: c.execute("SELECT 2").fetchone()[0]) == 2
    finally:
        await conn.close()
