"""SQLite files and free space: new files vacuum incrementally, older ones in full."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from durable_engine import ExecutionStatus, SqliteStore, StoreError
from durable_engine._store import Fence
from durable_engine._store.schema import MIGRATIONS
from tests.store.helpers import NOW, finish, new, register_w1


def _pragma(path: Path, name: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"PRAGMA {name}").fetchone()[0])
    finally:
        conn.close()


async def _fill_and_purge(path: Path, count: int) -> None:
    store = SqliteStore(path)
    await store.open()
    try:
        await register_w1(store)
        for i in range(count):
            await store.create_execution(new(f"e{i}", input=b"x" * 4000))
            await store.commit(Fence(f"e{i}", 1), finish(ExecutionStatus.SUCCEEDED))
        while await store.purge_executions(NOW + 100, limit=100):
            pass
    finally:
        await store.close()


async def test_a_new_file_vacuums_incrementally_and_gives_space_back(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    await _fill_and_purge(path, 300)
    assert _pragma(path, "auto_vacuum") == 2  # INCREMENTAL
    assert _pragma(path, "freelist_count") > 100

    report = SqliteStore.vacuum(path)

    assert report.mode == "incremental"
    assert report.size_after < report.size_before - 100 * 4096
    assert _pragma(path, "freelist_count") == 0
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_an_older_file_is_vacuumed_in_full_and_made_incremental(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for version in range(3):  # as an earlier release made it: no auto_vacuum
        conn.executescript(MIGRATIONS[version] + f";PRAGMA user_version = {version + 1};")
    conn.close()
    await _fill_and_purge(path, 200)  # migrated to the current version as it opens
    assert _pragma(path, "auto_vacuum") == 0

    report = SqliteStore.vacuum(path)

    assert report.mode == "full"
    assert report.size_after < report.size_before
    assert _pragma(path, "auto_vacuum") == 2
    assert SqliteStore.vacuum(path).mode == "incremental"  # from then on


def test_vacuum_refuses_a_missing_file_or_another_applications(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        SqliteStore.vacuum(tmp_path / "missing.db")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE mine (x)").connection.commit()
    with pytest.raises(StoreError, match="not a durable_engine database"):
        SqliteStore.vacuum(other)
