"""A purge on PostgreSQL deletes an execution whole: rows of every table that name it."""

from __future__ import annotations

import asyncpg

from durable_engine import OperationStatus, PostgresStore
from durable_engine._store import EndAttempt
from tests.store.helpers import NOW, callback, finish, op, register_w1, running

_TABLES = ("executions", "operations", "callbacks", "events", "attempts")
_WHOLE = {"executions": 1, "operations": 2, "callbacks": 1, "events": 1, "attempts": 1}
"""The rows of an execution with a step retried once, a callback and an event kept."""


async def _counts(url: str, execution_id: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return {
            table: int(
                await conn.fetchval(
                    f"SELECT count(*) FROM durable.{table} WHERE execution_id = $1", execution_id
                )
            )
            for table in _TABLES
        }
    finally:
        await conn.close()


async def test_a_purge_takes_the_events_and_kept_attempts_with_the_execution(
    postgres_url: str,
) -> None:
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        await register_w1(store)
        for execution_id in ("gone", "kept"):
            fence = await running(store, execution_id)
            await store.send_event(execution_id, "go", b"never received", NOW)
            failed = op(execution_id, "1", OperationStatus.PENDING, error=b"boom")
            await store.commit(
                fence, EndAttempt(operation=failed, started_at=NOW, ended_at=NOW + 1)
            )
            await store.commit(fence, callback(execution_id, "2", f"cb-{execution_id}"))
            ended_at = NOW + 10 if execution_id == "gone" else NOW + 100
            await store.commit(fence, finish(ended_at=ended_at, open_ops=("2",)))
        assert await _counts(postgres_url, "gone") == _WHOLE

        assert await store.purge_executions(NOW + 50, limit=10) == ["gone"]

        assert await _counts(postgres_url, "gone") == dict.fromkeys(_TABLES, 0)
        assert await _counts(postgres_url, "kept") == _WHOLE
    finally:
        await store.close()
