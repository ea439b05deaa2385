"""`db backup` and `Engine.backup`: a consistent copy of a database that workers are
writing, holding every execution committed before it began."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from durable_engine import DurableContext, Engine, StoreError
from tests.cli.helpers import APP, cli, env, worker

# Starts executions one after another until the file `stop` appears, writing each id to
# `started` once its start has committed.
_STARTER = """
import asyncio, os
from app import engine

async def main():
    async with engine:
        with open("started", "a") as out:
            while not os.path.exists("stop"):
                handle = await engine.start("greet", {"name": "x" * 200}, run_here=False)
                out.write(handle.execution_id + "\\n")
                out.flush()

asyncio.run(main())
"""


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if len(line) == 32]


def _ids_in(db: Path) -> dict[str, str]:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return dict(conn.execute("SELECT execution_id, status FROM executions").fetchall())
    finally:
        conn.close()


def test_a_backup_taken_while_a_worker_writes_holds_what_was_committed(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    cli(tmp_path, "start", "greet", "--app", "app:engine", "--input", '{"name": "first"}')
    proc = worker(tmp_path)
    starter = subprocess.Popen([sys.executable, "-c", _STARTER], cwd=tmp_path, env=env())
    started = tmp_path / "started"
    try:
        deadline = time.monotonic() + 60
        while len(_lines(started) if started.exists() else []) < 30:
            assert time.monotonic() < deadline, "the starter started nothing"
            assert starter.poll() is None and proc.poll() is None
            time.sleep(0.05)
        committed = _lines(started)  # every one of these was committed before the backup
        out = cli(tmp_path, "db", "backup", "copy.db", "--db", "app.db", "--json").stdout
        assert starter.poll() is None and proc.poll() is None  # both wrote throughout
    finally:
        (tmp_path / "stop").touch()
        starter.wait(timeout=60)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    report = json.loads(out)
    copy = tmp_path / "copy.db"
    assert report["target"] == "copy.db" and report["size"] == copy.stat().st_size
    assert not Path(f"{copy}-wal").exists()  # a closed, self-contained file
    in_copy = _ids_in(copy)
    assert set(committed) <= set(in_copy)
    assert len(in_copy) >= len(committed) + 1
    assert len(_ids_in(tmp_path / "app.db")) >= len(in_copy)  # the writers went on
    check = cli(tmp_path, "db", "check", "--full", "--db", "copy.db", "--json")
    assert json.loads(check.stdout)["ok"] is True


def test_a_backup_never_replaces_a_file_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    cli(tmp_path, "start", "greet", "--app", "app:engine", "--input", '{"name": "a"}')
    (tmp_path / "kept.db").write_bytes(b"something of value")
    refused = cli(tmp_path, "db", "backup", "kept.db", "--db", "app.db", check=False)
    assert refused.returncode == 1 and "already exists" in refused.stderr
    assert "--force" in refused.stderr
    assert (tmp_path / "kept.db").read_bytes() == b"something of value"
    cli(tmp_path, "db", "backup", "kept.db", "--db", "app.db", "--force")
    assert len(_ids_in(tmp_path / "kept.db")) == 1
    itself = cli(tmp_path, "db", "backup", "app.db", "--db", "app.db", "--force", check=False)
    assert itself.returncode == 1 and "is the database itself" in itself.stderr
    usage = cli(tmp_path, "db", "backup", "--db", "app.db", check=False)
    assert usage.returncode == 2 and "needs PATH" in usage.stderr
    pg = cli(tmp_path, "db", "backup", "x.db", "--db", "postgresql://u@localhost/db", check=False)
    assert pg.returncode == 1 and "pg_dump" in pg.stderr
    assert not (tmp_path / "x.db").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


async def test_engine_backup_copies_an_open_engines_database(tmp_path: Path) -> None:
    engine = Engine(tmp_path / "live.db")

    @engine.durable_function(name="double")
    async def double(ctx: DurableContext, n: int) -> int:
        return await ctx.step(lambda s: n * 2, name="twice")

    async with engine:
        assert await engine.run(double, 21, execution_name="answer") == 42
        await engine.backup(tmp_path / "copy.db")
        with pytest.raises(StoreError, match="already exists"):
            await engine.backup(tmp_path / "copy.db")
    async with Engine(tmp_path / "copy.db", check_on_open="full", read_only=True) as copy:
        (info,) = await copy.list_executions()
        assert info.name == "answer" and info.status.value == "SUCCEEDED"
    with pytest.raises(StoreError, match="pg_dump"):
        await Engine("postgresql://u@localhost/db").backup(tmp_path / "pg.db")
