"""A database of the schema before runs were numbered is brought up to date, keeping
its rows: every execution is on its first run, and can continue as new."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from durable_engine import SqliteStore
from durable_engine._store import Fence
from durable_engine._store.schema import MIGRATIONS, SCHEMA_VERSION


async def test_a_version_6_database_gets_run_numbers_and_kept_operations(tmp_path: Path) -> None:
    path = tmp_path / "v6.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript("".join(MIGRATIONS[v] + ";" for v in range(6)) + "PRAGMA user_version = 6;")
    conn.execute(
        "INSERT INTO executions (execution_id, function, status, input, created_at, owner,"
        " epoch) VALUES ('e1', 'flow', 'RUNNING', x'01', 1.0, 'w1', 3)"
    )
    conn.execute(
        "INSERT INTO operations (execution_id, op_id, type, name, status, attempt, result)"
        " VALUES ('e1', '1', 'STEP', 'a', 'SUCCEEDED', 1, x'02')"
    )
    conn.close()
    store = SqliteStore(path)
    await store.open()
    try:
        old = await store.get_execution("e1")
        assert old is not None and (old.run_number, old.input, old.epoch) == (1, b"\x01", 3)
        assert [cp.result for cp in await store.load_operations("e1")] == [b"\x02"]
        assert await store.kept_runs("e1") == []
        nxt = await store.continue_as_new(Fence("e1", 3), b"\x03", 2.0, keep_history=True)
        assert (nxt.run_number, nxt.input, nxt.epoch) == (2, b"\x03", 4)
        assert [cp.result for cp in await store.load_kept_operations("e1", 1)] == [b"\x02"]
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,) == (7,)
    conn.close()
