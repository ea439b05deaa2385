"""Large batches of checkpoints on PostgreSQL go through COPY into a temporary table,
on the fast path: checked here with the one-by-one fallback forbidden, so a failing
bulk path cannot hide behind it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from durable_engine import OperationStatus, PostgresStore
from durable_engine._store import Fence, pg_batch
from durable_engine._store.pg_rows import STAGE_AT
from tests.store.helpers import NOW, new, op, register_w1, running


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[PostgresStore]:
    """An open store on a fresh database, with worker w1 registered."""
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        await register_w1(store)
        yield store
    finally:
        await store.close()


async def _forbidden(conn: Any, jobs: list[pg_batch.Job]) -> list[pg_batch.Outcome]:
    raise AssertionError("the batch left the fast path")


async def _batch(store: PostgresStore, round_: int) -> None:
    written = {
        (f"e{i}", str(n)): op(
            f"e{i}", str(n), OperationStatus.SUCCEEDED, result=bytes([i, n, round_])
        )
        for i in range(3)
        for n in range(1, 21)
    }
    assert len(written) >= STAGE_AT
    await asyncio.gather(*(store.commit(Fence(x, 1), cp) for (x, _), cp in written.items()))
    loaded = [cp for i in range(3) for cp in await store.load_operations(f"e{i}")]
    assert {(cp.execution_id, cp.op_id): cp for cp in loaded} == written


async def test_large_batches_take_the_bulk_path_on_every_connection(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(3):
        await running(store, f"e{i}")
    with monkeypatch.context() as patched:
        patched.setattr(pg_batch, "_one_by_one", _forbidden)
        await _batch(store, 1)  # creates the temporary table
        await _batch(store, 2)  # finds it, empty
    await store.close()  # a new connection: no temporary table yet
    await store.open()
    with monkeypatch.context() as patched:
        patched.setattr(pg_batch, "_one_by_one", _forbidden)
        await _batch(store, 3)


async def test_many_creations_take_the_bulk_path_first_of_a_name_winning(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.create_execution(new("old", name="taken"))
    monkeypatch.setattr(pg_batch, "_one_by_one", _forbidden)
    creations = [
        new("a", name="n1"),
        new("b", name="n1"),
        new("c", name="taken"),
        *(new(f"x{i}", owner=None if i % 2 else "w1") for i in range(STAGE_AT)),
    ]
    results = await asyncio.gather(*(store.create_execution(c) for c in creations))
    found = [(record.execution_id, created) for record, created in results]
    assert found[:3] == [("a", True), ("a", False), ("old", False)]
    assert found[3:] == [(f"x{i}", True) for i in range(STAGE_AT)]
    stored = {r.execution_id: r for r in await store.list_executions()}
    assert set(stored) == {"old", "a", *(f"x{i}" for i in range(STAGE_AT))}
    assert (stored["x0"].owner, stored["x0"].epoch) == ("w1", 1)
    assert (stored["x1"].owner, stored["x1"].epoch, stored["x1"].wake_at) == (None, 0, NOW)
