"""The store implementations the contract suite runs against, in one place.

Each backend gives, for one test, a fresh database and a way to make (unopened)
stores on it. A new implementation (PostgreSQL, say) adds itself to `BACKENDS`: a
context manager that creates a database for the test, yields a store factory, and
drops the database afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest

from durable_engine import PostgresStore, SqliteStore, Store
from tests.pg_cluster import Cluster, fresh_database
from tests.store.helpers import register_w1

StoreFactory = Callable[[], Store]
"""Makes an unopened store on the test's database."""


@dataclass(frozen=True)
class Backend:
    name: str
    database: Callable[[Path, pytest.FixtureRequest], AbstractAsyncContextManager[StoreFactory]]
    """A fresh database for one test (given its temporary folder and the test's request,
    for the session fixtures a backend needs), as a store factory."""
    shared: bool = True
    """Whether stores made by one factory share one database (as processes would)."""


@contextlib.asynccontextmanager
async def _sqlite_file(folder: Path, request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    path = folder / "store.db"
    yield lambda: SqliteStore(path)


@contextlib.asynccontextmanager
async def _sqlite_memory(
    folder: Path, request: pytest.FixtureRequest
) -> AsyncIterator[StoreFactory]:
    yield lambda: SqliteStore(":memory:")  # one connection serves reads and writes


@contextlib.asynccontextmanager
async def _postgres(folder: Path, request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    cluster: Cluster = request.getfixturevalue("postgres_cluster")
    async with fresh_database(cluster) as url:
        yield lambda: PostgresStore(url, pool_size=4)


@contextlib.asynccontextmanager
async def _postgres_skewed(
    folder: Path, request: pytest.FixtureRequest
) -> AsyncIterator[StoreFactory]:
    """Stores whose host clock is 2 s behind the server's: every instant goes in moved by
    the offset and comes out moved back, and the contract must not notice."""
    cluster: Cluster = request.getfixturevalue("postgres_cluster")
    async with fresh_database(cluster) as url:
        yield lambda: PostgresStore(url, pool_size=4, clock_offset=2.0)


BACKENDS = (
    Backend("sqlite", _sqlite_file),
    Backend("sqlite-memory", _sqlite_memory, shared=False),
    Backend("postgres", _postgres),
    Backend("postgres-skewed", _postgres_skewed),
)


class Stores:
    """Opens stores on one test database and closes them all when the test ends."""

    def __init__(self, make: StoreFactory) -> None:
        self._make = make
        self._opened: list[Store] = []

    async def open(self) -> Store:
        store = self._make()
        await store.open()
        if not self._opened:
            await register_w1(store)
        self._opened.append(store)
        return store

    async def close_all(self) -> None:
        for store in reversed(self._opened):
            await store.close()


@contextlib.asynccontextmanager
async def _stores(
    backend: Backend, folder: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Stores]:
    async with backend.database(folder, request) as make:
        stores = Stores(make)
        try:
            yield stores
        finally:
            await stores.close_all()


@pytest.fixture(params=BACKENDS, ids=lambda backend: backend.name)
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    """Stores on one fresh database, of each backend."""
    async with _stores(request.param, tmp_path, request) as stores:
        yield stores


@pytest.fixture(
    params=[b for b in BACKENDS if b.shared], ids=lambda backend: f"{backend.name}-shared"
)
async def shared(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    """Stores on one fresh database that they share, of each backend that can share one:
    for what one store sees of another's writes."""
    async with _stores(request.param, tmp_path, request) as stores:
        yield stores


@pytest.fixture
async def store(stores: Stores) -> Store:
    """An opened store on a fresh database, of each backend."""
    return await stores.open()
