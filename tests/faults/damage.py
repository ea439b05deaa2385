"""Databases made by the engine, then damaged the way a disk or a careless hand does."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from durable_engine import DurableContext, Engine

PAGE = 4096
NAMES = [f"order-{i:03d}" for i in range(20)]
"""The execution names `make_database` stores, in their index's order."""


async def make_database(path: Path) -> list[str]:
    """A database holding one unfinished execution of `greet` per name in NAMES, with
    everything checkpointed into the main file (no -wal left); their ids."""
    engine = Engine(path)

    @engine.durable_function(name="greet")
    async def greet(ctx: DurableContext, who: dict[str, str]) -> str:
        return f"hello {who['name']}"

    async with engine:
        ids = [
            (await engine.start(greet, {"name": n}, execution_name=n, run_here=False)).execution_id
            for n in NAMES
        ]
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    assert not files(path)["-wal"]
    return ids


def _root_page(path: Path, index: str) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (index,)
        ).fetchone()
    finally:
        conn.close()
    return int(root)


def break_name_index(path: Path) -> None:
    """Edit the unique index on execution names so that its last entry no longer matches
    its row: the pages stay well formed (quick_check passes), the index is wrong
    (integrity_check reports the row missing from it)."""
    start = (_root_page(path, "sqlite_autoindex_executions_2") - 1) * PAGE
    data = bytearray(path.read_bytes())
    at = data.rfind(NAMES[-1].encode(), start, start + PAGE)
    assert at > 0, "the index's entry was not found on its root page"
    data[at + len(NAMES[-1]) - 1] = ord("z")  # order-019 -> order-01z: still sorted last
    path.write_bytes(bytes(data))


def corrupt_pages(path: Path) -> None:
    """Overwrite two pages in the middle of the file: the header still reads fine."""
    data = bytearray(path.read_bytes())
    assert len(data) >= 8 * PAGE
    data[3 * PAGE : 5 * PAGE] = b"\xa5" * (2 * PAGE)
    path.write_bytes(bytes(data))


def files(path: Path) -> dict[str, bytes | None]:
    """The bytes of the database file and its -wal (None: no such file)."""
    out: dict[str, bytes | None] = {}
    for suffix in ("", "-wal"):
        f = Path(f"{path}{suffix}")
        out[suffix or "db"] = f.read_bytes() if f.exists() else None
    return out


def unchanged(path: Path, before: dict[str, bytes | None]) -> bool:
    """Whether the database file has the same bytes as `before`, and its -wal file holds
    no transactions it did not hold then (reading a WAL database may create an empty one)."""
    now = files(path)
    wal_same = now["-wal"] == before["-wal"] or (before["-wal"] is None and not now["-wal"])
    return now["db"] == before["db"] and wal_same
