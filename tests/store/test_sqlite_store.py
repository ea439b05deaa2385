"""What only the SQLite store does: its file, schema versions, its threads, its test hook,
and the read-only look at a file that `db check` and a worker's start take."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_engine import OperationStatus, SqliteStore, StoreError
from durable_engine._store import Fence
from durable_engine._store.schema import SCHEMA_VERSION
from tests.store.helpers import new, op, operations, register_w1

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter that imports this checkout."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
    )


async def test_newer_schema_is_refused_without_writing(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.execute("CREATE TABLE executions (execution_id TEXT PRIMARY KEY)")
    conn.execute("CREATE TABLE histories (x)")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer version"):
        await SqliteStore(path).open()
    assert path.read_bytes() == before


@pytest.mark.parametrize("version", [0, 1, 999])
async def test_another_applications_database_is_refused_without_writing(
    tmp_path: Path, version: int
) -> None:
    path = tmp_path / "users.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"not a durable_engine database.*users"):
        await SqliteStore(path).open()
    assert path.read_bytes() == before
    assert not (tmp_path / "users.db-wal").exists()


async def test_stores_opened_together_on_a_new_file_all_open(tmp_path: Path) -> None:
    """While one creates the schema, another must not take the tables it sees appear
    (with the version not yet set) for another application's, nor give up on the
    switch to WAL, which SQLite does not wait for."""
    for attempt in range(20):
        path = tmp_path / f"new{attempt}.db"
        stores = [SqliteStore(path) for _ in range(6)]
        await asyncio.gather(*(store.open() for store in stores))
        for store in stores:
            await store.close()


async def test_a_version_1_database_is_migrated_with_its_operations(tmp_path: Path) -> None:
    from durable_engine._store.schema import MIGRATIONS

    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
    conn.execute(
        "INSERT INTO executions (execution_id, function, status, created_at, epoch)"
        " VALUES ('e1', 'flow', 'SUSPENDED', 1.0, 3)"
    )
    conn.execute(
        "INSERT INTO operations (execution_id, op_id, type, name, status, attempt, result)"
        " VALUES ('e1', '1', 'STEP', 'a', 'SUCCEEDED', 2, x'01')"
    )
    conn.close()
    store = SqliteStore(path)
    await store.open()
    try:
        assert (await store.get_execution("e1")).version == 1  # type: ignore[union-attr]
        [op] = await store.load_operations("e1")
        assert (op.op_id, op.name, op.status, op.attempt, op.result) == (
            "1",
            "a",
            "SUCCEEDED",
            2,
            b"\x01",
        )
        # Still one row per (execution, operation): a rewrite replaces it.
        await store.commit(Fence("e1", 3), op._replace(attempt=3))
        assert [o.attempt for o in await store.load_operations("e1")] == [3]
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    [(sql,)] = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'operations'").fetchall()
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()
    assert "WITHOUT ROWID" not in sql  # stored in the order written


@pytest.mark.parametrize("content", [b"this is not a database at all" * 100, b"\x00" * 4096])
async def test_not_a_database_is_a_store_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(content)
    with pytest.raises(StoreError, match="cannot be opened"):
        await SqliteStore(path).open()
    assert path.read_bytes() == content


async def test_a_path_that_cannot_hold_a_database_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        await SqliteStore(tmp_path).open()
    with pytest.raises(StoreError, match="cannot create the database file"):
        await SqliteStore(tmp_path / "missing" / "x.db").open()
    assert not (tmp_path / "missing").exists()


def test_a_store_that_fails_to_open_leaves_no_thread_behind() -> None:
    """A connection's thread, left running, could answer after the event loop closed
    and print a traceback as the program exits. A "file:" path that SQLite cannot
    open gets past the file's creation and fails as the connection opens."""
    done = _python(
        """
        import asyncio, threading
        from durable_engine import SqliteStore, StoreError
        async def main():
            try:
                await SqliteStore('file:/nonexistent-folder/x.db').open()
            except StoreError as exc:
                print('StoreError', 'check the path' in str(exc))
            print('threads', threading.active_count())
        for _ in range(5):
            asyncio.run(main())
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["StoreError True", "threads 1"]
    assert done.stdout.count("threads 1") == 5
    assert "Exception in thread" not in done.stderr


async def test_a_store_whose_setup_fails_closes_its_threads(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.execute("CREATE TABLE executions (execution_id TEXT PRIMARY KEY)")
    conn.close()
    before = {t.ident for t in threading.enumerate()}
    with pytest.raises(StoreError):
        await SqliteStore(path).open()
    assert {t.ident for t in threading.enumerate()} == before


async def test_a_closed_store_leaves_no_thread_behind(tmp_path: Path) -> None:
    before = {t.ident for t in threading.enumerate()}
    store = SqliteStore(tmp_path / "x.db")
    await store.open()
    assert len(threading.enumerate()) == len(before) + 2  # the writer's and the reader's
    await store.close()
    assert {t.ident for t in threading.enumerate()} == before


def test_bad_synchronous_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SqliteStore(":memory:", synchronous="SOMETIMES")


def test_importing_the_package_changes_nothing_process_wide() -> None:
    """No sqlite3 adapter is registered until a store opens, and aiosqlite is not used."""
    done = _python(
        """
        import asyncio, sqlite3, sys
        before = dict(sqlite3.adapters)
        import durable_engine, durable_engine._store
        print(sqlite3.adapters == before, "aiosqlite" in sys.modules)
        async def main():
            store = durable_engine.SqliteStore(":memory:")
            await store.open()
            await store.close()
        asyncio.run(main())
        print((type(None), sqlite3.PrepareProtocol) in sqlite3.adapters)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False", "True"]


def test_an_adapter_registered_before_is_left_in_place() -> None:
    done = _python(
        """
        import asyncio, sqlite3
        import durable_engine
        mine = lambda b: b"mine:" + b
        sqlite3.register_adapter(bytes, mine)
        async def main():
            store = durable_engine.SqliteStore(":memory:")
            await store.open()
            await store.close()
        asyncio.run(main())
        print(sqlite3.adapters[(bytes, sqlite3.PrepareProtocol)] is mine)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True"]


def test_the_store_ignores_the_crash_tests_environment_variable(tmp_path: Path) -> None:
    """Crash points are a hook the crash tests install; the engine reads no variable."""
    done = _python(
        f"""
        import asyncio
        from durable_engine import SqliteStore
        from durable_engine._store import Fence, NewExecution
        async def main():
            store = SqliteStore({str(tmp_path / "x.db")!r})
            await store.open()
            for i in range(3):
                new = NewExecution(execution_id=f"e{{i}}", name=None, function="f",
                                   input=None, created_at=1.0, owner="w")
                await store.create_execution(new)
            print(len(await store.list_executions()))
            await store.close()
        asyncio.run(main())
        """,
        DURABLE_CRASH_AT="1",
    )
    assert (done.returncode, done.stdout.split()) == (0, ["3"]), done.stderr


@pytest.fixture
def hook_points() -> Iterator[list[str]]:
    """A persistence hook that records the points it is called at."""
    seen: list[str] = []
    previous = SqliteStore.set_persistence_hook(seen.append)
    try:
        yield seen
    finally:
        SqliteStore.set_persistence_hook(previous)


async def test_the_persistence_hook_sees_both_points_of_every_transaction(
    tmp_path: Path, hook_points: list[str]
) -> None:
    store = SqliteStore(tmp_path / "x.db")
    await store.open()
    try:
        await register_w1(store)
        hook_points.clear()
        await store.create_execution(new("e1"))
        assert hook_points == ["before commit", "after commit"]
        await asyncio.gather(
            *(
                store.commit(Fence("e1", 1), op("e1", str(i), OperationStatus.SUCCEEDED))
                for i in range(10)
            )
        )  # queued together: one transaction
        assert hook_points == ["before commit", "after commit"] * 2
        assert len(await operations(store, "e1")) == 10
    finally:
        await store.close()


async def test_a_hook_that_fails_before_commit_fails_the_transaction(tmp_path: Path) -> None:
    def fail(point: str) -> None:
        if point == "before commit":
            raise OSError("disk gone")

    store = SqliteStore(tmp_path / "x.db")
    await store.open()
    try:
        await register_w1(store)
        await store.create_execution(new("e1"))
        previous = SqliteStore.set_persistence_hook(fail)
        try:
            with pytest.raises(StoreError, match="disk gone"):
                await store.commit(Fence("e1", 1), op("e1", "1", OperationStatus.SUCCEEDED))
        finally:
            SqliteStore.set_persistence_hook(previous)
        assert await store.load_operations("e1") == []  # rolled back
        await store.commit(Fence("e1", 1), op("e1", "2", OperationStatus.SUCCEEDED))
        assert list(await operations(store, "e1")) == ["2"]
    finally:
        await store.close()


def _make_database(path: Path) -> None:
    async def go() -> None:
        store = SqliteStore(path)
        await store.open()
        await register_w1(store)
        await store.create_execution(new("e1"))
        await store.create_execution(new("e2"))
        await store.commit(Fence("e2", 1), op("e2", "1", OperationStatus.SUCCEEDED))
        await store.close()

    asyncio.run(go())


def test_inspect_reads_a_database_without_writing_it(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    _make_database(path)
    before = path.read_bytes()
    report = SqliteStore.inspect(path)
    assert report.ok and report.integrity == ["ok"]
    assert (report.schema_version, report.journal_mode) == (report.supported_schema_version, "wal")
    assert report.executions == {"RUNNING": 2}
    assert SqliteStore.inspect(path, full=True).ok
    assert path.read_bytes() == before
    with pytest.raises(StoreError, match="no database file"):
        SqliteStore.inspect(tmp_path / "missing.db")


def test_preflight_refuses_what_a_worker_must_not_open(tmp_path: Path) -> None:
    assert SqliteStore.preflight(tmp_path / "new.db") is None  # created when opened
    assert not (tmp_path / "new.db").exists()
    good = tmp_path / "good.db"
    _make_database(good)
    report = SqliteStore.preflight(good)
    assert report is not None and report.ok
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE users (id INTEGER)")
    conn.close()
    with pytest.raises(StoreError, match="not a durable_engine database"):
        SqliteStore.preflight(other)
    with pytest.raises(StoreError, match="is a directory"):
        SqliteStore.preflight(tmp_path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError):
        SqliteStore.preflight(junk)
