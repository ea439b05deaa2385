"""The verbs that only read open the file read-only: committed transactions still in
the `-wal` file are read there, and neither the `-wal` nor the database file changes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from durable_engine import Engine, StoreError
from tests.cli.helpers import APP, cli, env
from tests.faults.damage import files

# Starts executions and ends the process with the engine open: nothing is checkpointed
# into app.db, the -wal file keeps every transaction (what a killed worker leaves).
_LEAVE_A_WAL = """
import asyncio, os
from app import engine

async def main():
    async with engine:
        for i in range(5):
            await engine.start("greet", {"name": f"n{i}"}, execution_name=f"g{i}", run_here=False)
        os._exit(0)

asyncio.run(main())
"""


def test_reading_verbs_leave_the_wal_and_the_database_as_they_were(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    subprocess.run([sys.executable, "-c", _LEAVE_A_WAL], cwd=tmp_path, env=env(), check=True)
    db = tmp_path / "app.db"
    before = files(db)
    assert before["-wal"], "the executions are in the -wal file only"
    listed = json.loads(cli(tmp_path, "list", "--db", "app.db", "--json").stdout)
    assert sorted(e["name"] for e in listed) == [f"g{i}" for i in range(5)]
    assert files(db) == before
    reads = [
        ["show", "g0"],
        ["history", "g1"],
        ["export", "g2"],
        ["replay", "g3", "--app", "app:engine"],
        ["schedule", "list"],
        ["db", "check"],
        ["list", "--check-on-open", "full"],
    ]
    for args in reads:
        proc = cli(tmp_path, *args, "--db", "app.db", "--json")
        assert proc.stdout, args
        assert files(db) == before, args
    shown = json.loads(cli(tmp_path, "show", "g4", "--db", "app.db", "--json").stdout)
    assert shown["input"] == {"name": "n4"} and shown["status"] == "RUNNING"
    # `stop` writes: it opens the file for writing, as every verb that writes does.
    stopped = json.loads(cli(tmp_path, "stop", "g4", "--db", "app.db", "--json").stdout)
    assert stopped["status"] == "STOPPED"
    assert files(db) != before


def _leave_a_wal(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    subprocess.run([sys.executable, "-c", _LEAVE_A_WAL], cwd=tmp_path, env=env(), check=True)
    return tmp_path / "app.db"


async def test_a_read_only_engine_reads_the_wal_and_refuses_writes(tmp_path: Path) -> None:
    db = _leave_a_wal(tmp_path)
    before = files(db)
    async with Engine(db, read_only=True) as engine:
        assert len(await engine.list_executions()) == 5
        with pytest.raises(StoreError, match="opened read-only"):
            await engine.stop((await engine.list_executions())[0].execution_id)
    assert files(db) == before
