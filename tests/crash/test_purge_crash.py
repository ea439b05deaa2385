"""A purge killed (SIGKILL) in the middle leaves every execution whole or gone, and no
operation or callback without its execution."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from durable_engine import ExecutionStatus, OperationStatus, SqliteStore
from durable_engine._store import Fence
from tests.store.helpers import NOW, callback, finish, new, op, register_w1

ROOT = Path(__file__).resolve().parents[2]

# Purges with a hook that SIGKILLs the process just before its second transaction
# commits (the first batch of 100 is committed, the second is not).
PURGER = """
import asyncio, os, signal, sys
from datetime import timedelta
from durable_engine import Engine, SqliteStore

async def main(path):
    engine = Engine(path, lease=3600)  # no heartbeat write while it purges
    engine.serve = False
    async with engine:
        points = []
        def hook(where):
            if where == "before commit":
                points.append(where)
                if len(points) == 2:
                    os.kill(os.getpid(), signal.SIGKILL)
        SqliteStore.set_persistence_hook(hook)
        await engine.purge(timedelta(0))
    print("not killed")

asyncio.run(main(sys.argv[1]))
"""


async def _populate(path: Path, count: int) -> None:
    store = SqliteStore(path)
    await store.open()
    try:
        await register_w1(store)
        for i in range(count):
            eid = f"e{i:04d}"
            await store.create_execution(new(eid, created_at=NOW))
            fence = Fence(eid, 1)
            for n in range(1, 4):
                await store.commit(fence, op(eid, str(n), OperationStatus.SUCCEEDED))
            await store.commit(fence, callback(eid, "4", f"cb-{eid}"))
            await store.commit(fence, finish(ExecutionStatus.FAILED, open_ops=("4",)))
    finally:
        await store.close()


def _count(conn: sqlite3.Connection, sql: str) -> int:
    return int(conn.execute(sql).fetchone()[0])


def test_a_purge_killed_midway_leaves_nothing_half_deleted(tmp_path: Path) -> None:
    path = tmp_path / "purge.db"
    asyncio.run(_populate(path, 250))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", PURGER, str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "not killed" not in proc.stdout

    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert _count(conn, "SELECT COUNT(*) FROM executions") == 150  # one batch went
        orphans = (
            "SELECT COUNT(*) FROM {} WHERE execution_id NOT IN"
            " (SELECT execution_id FROM executions)"
        )
        assert _count(conn, orphans.format("operations")) == 0
        assert _count(conn, orphans.format("callbacks")) == 0
        # Each execution left is whole: its three steps, its callback and its row.
        per_execution = conn.execute(
            "SELECT e.execution_id, COUNT(o.op_id) FROM executions e"
            " LEFT JOIN operations o USING (execution_id) GROUP BY e.execution_id"
        ).fetchall()
        assert {n for _, n in per_execution} == {4}
        assert _count(conn, "SELECT COUNT(*) FROM callbacks") == 150
    finally:
        conn.close()

    # The next purge goes on where it stopped.
    async def purge_rest() -> int:
        from datetime import timedelta

        from durable_engine import Engine

        engine = Engine(path)
        engine.serve = False
        async with engine:
            return await engine.purge(timedelta(0))

    assert asyncio.run(purge_rest()) == 150
