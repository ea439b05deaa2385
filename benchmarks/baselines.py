"""The raw limits the engine's figures are compared with: plain aiosqlite, no engine.

Rows are the size of a step's checkpoint, in a table shaped like the engine's
operations table, in WAL mode with `synchronous=NORMAL` (the engine's default).
"""

from __future__ import annotations

import time
from typing import Any

import aiosqlite

__all__ = ["raw_executemany", "raw_one_commit_per_row", "raw_read_rows"]

ROW_BLOB = b"\x01\x00\x00" + b"x" * 8  # a small serialized result, like a step's
_INSERT = "INSERT INTO ops VALUES (?,?,?,?,?,?,?,?,?)"


async def _raw_table(path: str) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    await conn.execute("PRAGMA journal_mode = WAL")
    await conn.execute("PRAGMA synchronous = NORMAL")
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS ops (execution_id TEXT, op_id TEXT, type TEXT, name TEXT,"
        " status TEXT, attempt INTEGER, result BLOB, started_at REAL, ended_at REAL,"
        " PRIMARY KEY (execution_id, op_id)) WITHOUT ROWID"
    )
    return conn


def _row(i: int, execution: str = "e" * 32) -> tuple[Any, ...]:
    return (execution, str(i), "STEP", f"s{i}", "SUCCEEDED", 1, ROW_BLOB, time.time(), time.time())


async def raw_one_commit_per_row(path: str, n: int) -> float:
    """Rows per second, one INSERT and one COMMIT each, awaited in turn."""
    conn = await _raw_table(path)
    # aiosqlite's default: an INSERT opens a transaction, commit() ends it.
    conn.isolation_level = ""  # type: ignore[assignment]
    start = time.perf_counter()
    for i in range(n):
        await conn.execute(_INSERT, _row(i))
        await conn.commit()
    elapsed = time.perf_counter() - start
    await conn.close()
    return n / elapsed


async def raw_executemany(path: str, n: int, batch: int = 100) -> float:
    """Rows per second, `batch` rows per transaction with executemany."""
    conn = await _raw_table(path)
    start = time.perf_counter()
    for first in range(0, n, batch):
        await conn.execute("BEGIN")
        await conn.executemany(_INSERT, [_row(i) for i in range(first, min(first + batch, n))])
        await conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    await conn.close()
    return n / elapsed


async def raw_read_rows(path: str, n: int) -> float:
    """Seconds to read back `n` rows of one execution in one query (written first,
    untimed): the floor under loading an execution's history."""
    conn = await _raw_table(path)
    await conn.execute("BEGIN")
    await conn.executemany(_INSERT, [_row(i, "r" * 32) for i in range(n)])
    await conn.execute("COMMIT")
    start = time.perf_counter()
    async with conn.execute("SELECT * FROM ops WHERE execution_id = ?", ("r" * 32,)) as cursor:
        rows = list(await cursor.fetchall())
    elapsed = time.perf_counter() - start
    await conn.close()
    assert len(rows) == n
    return elapsed
