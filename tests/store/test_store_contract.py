"""The Store contract, run against every store implementation (SQLite on a file and in memory).

A second store (PostgreSQL, later) only has to pass this suite.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest

from durable_engine import ExecutionStatus, OperationStatus, OperationType, StoreError
from durable_engine._models import Checkpoint
from durable_engine._store import (
    Fence,
    FinishExecution,
    LeaseLost,
    NewExecution,
    SqliteStore,
    Store,
    SuspendExecution,
    WorkerInfo,
)


@pytest.fixture(params=["file", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    path = str(tmp_path / "store.db") if request.param == "file" else ":memory:"
    s = SqliteStore(path)
    await s.open()
    yield s
    await s.close()


def new(execution_id: str, *, owner: str | None = "w1", name: str | None = None) -> NewExecution:
    return NewExecution(
        execution_id=execution_id,
        name=name,
        function="flow",
        input=b"in",
        created_at=time.time(),
        owner=owner,
    )


def step(execution_id: str, op_id: str, status: OperationStatus, **kw: object) -> Checkpoint:
    return Checkpoint(
        execution_id=execution_id,
        op_id=op_id,
        parent_id=None,
        type=OperationType.STEP,
        name=f"s{op_id}",
        status=status,
        **kw,  # type: ignore[arg-type]
    )


async def test_create_get_and_deduplicate_by_name(store: Store) -> None:
    record, created = await store.create_execution(new("e1", name="order-1"))
    assert created and record.status is ExecutionStatus.RUNNING and record.epoch == 1
    again, created_again = await store.create_execution(new("e2", name="order-1"))
    assert not created_again and again.execution_id == "e1"
    assert await store.get_execution("e2") is None
    assert [r.execution_id for r in await store.list_executions()] == ["e1"]


async def test_creations_queued_together_resolve_as_if_one_by_one(store: Store) -> None:
    await store.create_execution(new("old", name="taken"))
    creations = [
        new("a", name="n1"),
        new("b", name="n1"),  # the name "a" takes in the same batch
        new("a"),  # the id "a" takes in the same batch
        new("c", name="taken"),  # a name taken before
        new("old"),  # an id taken before
        *(new(f"x{i}") for i in range(70)),  # more than one statement's worth
    ]
    results = await asyncio.gather(*(store.create_execution(c) for c in creations))
    found = [(record.execution_id, created) for record, created in results]
    assert found[:5] == [("a", True), ("a", False), ("a", False), ("old", False), ("old", False)]
    assert found[5:] == [(f"x{i}", True) for i in range(70)]
    stored = {r.execution_id: r for r in await store.list_executions()}
    assert set(stored) == {"old", "a", *(f"x{i}" for i in range(70))}
    assert stored["a"].name == "n1" and stored["x69"].epoch == 1


async def test_checkpoints_round_trip_in_one_load(store: Store) -> None:
    await store.create_execution(new("e1"))
    fence = Fence("e1", 1)
    await store.commit(fence, step("e1", "1", OperationStatus.STARTED, attempt=1))
    await store.commit(fence, step("e1", "1", OperationStatus.SUCCEEDED, result=b"r", attempt=1))
    await store.commit(fence, step("e1", "2", OperationStatus.PENDING, attempt=2, wake_at=5.0))
    ops = {cp.op_id: cp for cp in await store.load_operations("e1")}
    assert ops["1"].status == OperationStatus.SUCCEEDED and ops["1"].result == b"r"
    assert type(ops["1"].status) is str  # plain, as a checkpoint holds it
    assert ops["2"].attempt == 2 and ops["2"].wake_at == 5.0


async def test_a_stale_epoch_or_an_ended_execution_refuses_writes(store: Store) -> None:
    await store.create_execution(new("e1"))
    with pytest.raises(LeaseLost):
        await store.commit(Fence("e1", 2), step("e1", "1", OperationStatus.SUCCEEDED))
    with pytest.raises(LeaseLost):
        await store.commit(Fence("missing", 1), step("missing", "1", OperationStatus.SUCCEEDED))
    done = FinishExecution(status=ExecutionStatus.SUCCEEDED, result=b"x", error=None, ended_at=1.0)
    await store.commit(Fence("e1", 1), done)
    with pytest.raises(LeaseLost):
        await store.commit(Fence("e1", 1), step("e1", "9", OperationStatus.SUCCEEDED))
    assert await store.load_operations("e1") == []
    record = await store.get_execution("e1")
    assert (
        record is not None and record.status is ExecutionStatus.SUCCEEDED and record.owner is None
    )


async def test_concurrent_commits_share_transactions_and_fail_alone(store: Store) -> None:
    import asyncio

    for i in range(50):
        await store.create_execution(new(f"e{i}"))
    writes = [
        store.commit(
            Fence(f"e{i}", 1 if i != 7 else 99), step(f"e{i}", "1", OperationStatus.SUCCEEDED)
        )
        for i in range(50)
    ]
    results = await asyncio.gather(*writes, return_exceptions=True)
    assert [i for i, r in enumerate(results) if isinstance(r, LeaseLost)] == [7]
    assert all(r is None for i, r in enumerate(results) if i != 7)
    assert await store.load_operations("e7") == []
    assert len(await store.load_operations("e8")) == 1


async def test_one_batch_holding_two_epochs_and_an_ending_of_one_execution(store: Store) -> None:
    """Writes gathered into one transaction are still fenced one by one: a stale run's
    write beside the current run's, and a write after the execution's end."""
    import asyncio

    await store.create_execution(new("e1"))  # epoch 1
    await store.create_execution(new("e2"))
    done = FinishExecution(status=ExecutionStatus.SUCCEEDED, result=b"x", error=None, ended_at=1.0)
    await store.create_execution(new("e3"))

    def put(execution_id: str, epoch: int, result: bytes) -> Awaitable[None]:
        cp = step(execution_id, "1", OperationStatus.SUCCEEDED, result=result)
        return store.commit(Fence(execution_id, epoch), cp)

    results = await asyncio.gather(
        put("e1", 1, b"new"),  # the current epoch first, then a stale one
        put("e1", 0, b"old"),
        put("e3", 0, b"old"),  # and the other way round
        put("e3", 1, b"new"),
        store.commit(Fence("e2", 1), done),
        put("e2", 1, b"late"),
        return_exceptions=True,
    )
    assert [r is None for r in results] == [True, False, False, True, True, False]
    assert all(isinstance(r, LeaseLost) for r in results if r is not None)
    for execution_id in ("e1", "e3"):
        assert [cp.result for cp in await store.load_operations(execution_id)] == [b"new"]
    assert await store.load_operations("e2") == []


async def test_fences_of_ids_that_need_escaping_are_checked_in_one_batch(store: Store) -> None:
    """A batch's fences go to SQLite as one JSON object: ids with backslashes, quotes or
    non-ASCII letters must match their rows exactly."""
    import asyncio

    async def batch(*writes: tuple[str, int, str]) -> list[object]:
        return await asyncio.gather(
            *(
                store.commit(Fence(x, epoch), step(x, op, OperationStatus.SUCCEEDED))
                for x, epoch, op in writes
            ),
            return_exceptions=True,
        )

    for execution_id in ("e\\b", "e-é", 'e"q', "plain"):
        await store.create_execution(new(execution_id))  # epoch 1
    first = await batch(("e\\b", 1, "1"), ("e-é", 1, "1"), ("plain", 1, "1"), ("e\\b", 2, "2"))
    assert first[:3] == [None] * 3 and isinstance(first[3], LeaseLost)
    second = await batch(('e"q', 1, "1"), ("plain", 1, "2"), ('e"q', 0, "2"))
    assert second[:2] == [None] * 2 and isinstance(second[2], LeaseLost)
    loaded = {
        x: [cp.op_id for cp in await store.load_operations(x)] for x in ("e\\b", "e-é", 'e"q')
    }
    assert loaded == {"e\\b": ["1"], "e-é": ["1"], 'e"q': ["1"]}


async def test_many_checkpoints_in_one_batch_all_land_exactly(store: Store) -> None:
    """Rows go in with multi-row statements of 64, 16, 4 and 1 rows: 170 takes all four."""
    import asyncio

    for i in range(17):
        await store.create_execution(new(f"e{i}"))
    written = {
        (f"e{i}", str(op)): step(
            f"e{i}", str(op), OperationStatus.SUCCEEDED, result=bytes([i, op]), started_at=i + op
        )
        for i in range(17)
        for op in range(1, 11)
    }
    await asyncio.gather(*(store.commit(Fence(x, 1), cp) for (x, _), cp in written.items()))
    loaded = [cp for i in range(17) for cp in await store.load_operations(f"e{i}")]
    assert {(cp.execution_id, cp.op_id): cp for cp in loaded} == written
    replaced = step("e3", "4", OperationStatus.FAILED, error=b"e", attempt=2)
    await store.commit(Fence("e3", 1), replaced)
    assert replaced in await store.load_operations("e3")
    assert len(await store.load_operations("e3")) == 10


async def test_claim_takes_due_and_abandoned_executions_and_bumps_the_epoch(store: Store) -> None:
    now = time.time()
    await store.register_worker(
        WorkerInfo(worker_id="w1", host="h", pid=1, started_at=now), now + 60
    )
    await store.register_worker(
        WorkerInfo(worker_id="w2", host="h", pid=2, started_at=now), now + 600
    )
    await store.create_execution(new("due"))
    await store.commit(Fence("due", 1), SuspendExecution(wake_at=now - 1))
    await store.create_execution(new("later"))
    await store.commit(Fence("later", 1), SuspendExecution(wake_at=now + 3600))
    await store.create_execution(new("held"))  # owned by live w1
    await store.create_execution(new("orphan", owner="dead-worker"))
    assert await store.next_wake_at(["flow"]) == pytest.approx(now - 1)
    claimed = await store.claim("w2", ["flow"], now, 10, lease_now=now)
    assert sorted(r.execution_id for r in claimed) == ["due", "orphan"]
    assert all(r.owner == "w2" and r.epoch == 2 for r in claimed)
    assert await store.claim("w2", ["other"], now, 10, lease_now=now) == []
    # w1's lease expires: its execution is taken over.
    taken = await store.claim("w3", ["flow"], now, 10, lease_now=now + 120)
    assert [r.execution_id for r in taken] == ["held"]
    with pytest.raises(LeaseLost):
        await store.commit(Fence("held", 1), SuspendExecution(wake_at=now))


async def test_a_refused_time_out_fails_alone_and_the_writer_goes_on(store: Store) -> None:
    """A stale fence refused inside a write function, beside a good commit in the same
    transaction: only that caller sees LeaseLost, and later writes still land."""
    import asyncio

    await store.create_execution(new("e1"))
    await store.create_execution(new("e2"))
    results = await asyncio.gather(
        store.time_out_execution(Fence("e1", 0), 1.0, b"late"),
        store.commit(Fence("e2", 1), step("e2", "1", OperationStatus.SUCCEEDED)),
        return_exceptions=True,
    )
    assert isinstance(results[0], LeaseLost) and results[1] is None
    await store.commit(Fence("e1", 1), step("e1", "1", OperationStatus.SUCCEEDED))
    assert [cp.op_id for cp in await store.load_operations("e1")] == ["1"]
    assert [cp.op_id for cp in await store.load_operations("e2")] == ["1"]
    record = await store.get_execution("e1")
    assert record is not None and record.status is ExecutionStatus.RUNNING


async def test_renew_reports_a_worker_given_up(store: Store) -> None:
    now = time.time()
    await store.register_worker(
        WorkerInfo(worker_id="w1", host="h", pid=1, started_at=now), now + 1
    )
    assert await store.renew_worker("w1", now + 10)
    await store.reap_workers(["w1"])
    assert not await store.renew_worker("w1", now + 20)


async def test_remove_worker_releases_its_executions(store: Store) -> None:
    await store.create_execution(new("e1", owner="w1"))
    await store.remove_worker("w1", 123.0)
    record = await store.get_execution("e1")
    assert record is not None
    assert (record.owner, record.status, record.wake_at) == (None, ExecutionStatus.SUSPENDED, 123.0)


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
    assert conn.execute("PRAGMA user_version").fetchone() == (2,)
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


def test_a_store_that_fails_to_open_leaves_no_thread_behind(tmp_path: Path) -> None:
    # aiosqlite's thread, left running, may answer after the event loop closed and
    # print a traceback as the program exits. A "file:" path that SQLite cannot open
    # gets past the file's creation and fails inside aiosqlite.
    script = tmp_path / "open_fails.py"
    script.write_text(
        "import asyncio, threading\n"
        "from durable_engine import StoreError\n"
        "from durable_engine._store import SqliteStore\n"
        "async def main():\n"
        "    try:\n"
        "        await SqliteStore('file:/nonexistent-folder/x.db').open()\n"
        "    except StoreError as exc:\n"
        "        print('StoreError', 'check the path' in str(exc))\n"
        "    print('threads', threading.active_count())\n"
        "for _ in range(5):\n"
        "    asyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split("\n")[:2] == ["StoreError True", "threads 1"]
    assert done.stdout.count("threads 1") == 5
    assert "Exception in thread" not in done.stderr


def test_bad_synchronous_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SqliteStore(":memory:", synchronous="SOMETIMES")
