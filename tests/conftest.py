"""Shared fixtures: a fresh database file per test and an append-only effects log."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from durable_engine import Engine, ExecutionHandle, ExecutionStatus, PostgresStore
from tests.pg_cluster import Cluster, fresh_database, running_cluster

ROOT = Path(__file__).resolve().parent.parent


def pytest_sessionstart(session: pytest.Session) -> None:
    """Write the bytecode of the project's code once, before the tests start the many
    processes they start (workers, the command line, crash trials): where
    PYTHONDONTWRITEBYTECODE is set, as on some CI machines, each of them would compile
    every module again (about 0.4 s of CPU each)."""
    import compileall

    for package in ("durable_engine", "serdes", "tests", "examples", "benchmarks"):
        compileall.compile_dir(ROOT / package, quiet=2)


T = TypeVar("T")


class Effects:
    """Side effects recorded outside the database, one line each, append-only."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, line: str) -> None:
        with self.path.open("a") as f:
            f.write(line + "\n")

    def lines(self) -> list[str]:
        if not self.path.exists():
            return []
        return self.path.read_text().splitlines()

    def count(self, line: str) -> int:
        return self.lines().count(line)


def recorded(effects: Effects, line: str, value: T) -> T:
    """Record `line`, then return `value`: a step body with a side effect and a result."""
    effects.record(line)
    return value


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    """The rows `sql` reads from the database file `db`, on a connection of its own."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def db_rows(engine: Engine, sql: str, *args: object) -> list[tuple[object, ...]]:
    """The rows `sql` (`?` for each of `args`) reads from the engine's database, on a
    connection of its own: its SQLite file, or its PostgreSQL schema."""
    store = engine.store
    if isinstance(store, PostgresStore):
        numbered = iter(range(1, sql.count("?") + 1))
        pg = await store.connect()
        try:
            found = await pg.fetch(re.sub(r"\?", lambda _: f"${next(numbered)}", sql), *args)
        finally:
            await pg.close()
        return [tuple(r) for r in found]
    lite = sqlite3.connect(engine.path)
    try:
        return lite.execute(sql, args).fetchall()
    finally:
        lite.close()


async def until(condition: Callable[[], bool]) -> None:
    """Poll `condition` until it holds (the test's own timeout bounds it).

    The state looked at lives in files and other processes, where no Event can reach."""
    while not condition():  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def wait_for_status(handle: ExecutionHandle[Any], status: ExecutionStatus) -> None:
    """Poll until the execution reaches `status` (the test's own timeout bounds it)."""
    while (current := await handle.status()) is not status:
        if current.is_terminal:
            info = await handle._engine.get_execution(handle.execution_id)
            raise AssertionError(f"execution ended {current} ({info.error!r}) before {status}")
        await asyncio.sleep(0.01)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "engine.db"


@pytest.fixture
def effects(tmp_path: Path) -> Effects:
    return Effects(tmp_path / "effects.log")


STORE_ENV = "DURABLE_TEST_STORE"
"""`postgres`: the `engine` fixture runs on a fresh PostgreSQL database, not a file."""


@pytest.fixture
def store_kind() -> str:
    """Where the `engine` fixture keeps its state: `sqlite` (a file), or `postgres` (a
    fresh database) with DURABLE_TEST_STORE=postgres. The integration suite runs its
    tests that do not read the file themselves on both (tests/integration/conftest.py)."""
    return os.environ.get(STORE_ENV) or "sqlite"


@pytest.fixture
async def engine(
    tmp_path: Path, store_kind: str, request: pytest.FixtureRequest
) -> AsyncIterator[Engine]:
    """An unopened engine on a fresh file (`db_path`) or PostgreSQL database (see
    `store_kind`); tests register functions, then open it."""
    if store_kind == "postgres":
        cluster: Cluster = request.getfixturevalue("postgres_cluster")
        async with fresh_database(cluster) as url:
            eng = Engine(url, in_memory_wait=0)
            yield eng
            await eng.close()
        return
    eng = Engine(tmp_path / "engine.db", in_memory_wait=0)
    yield eng
    await eng.close()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster for the session (skips if there are no binaries)."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
async def postgres_url(postgres_cluster: Cluster) -> AsyncIterator[str]:
    """The URL of a fresh, empty PostgreSQL database for one test."""
    async with fresh_database(postgres_cluster) as url:
        yield url
